# SPDX-License-Identifier: MIT
# cmake -DLIB=<libhvcore.so> -DNM=<nm> -DHEADERS=<hv.h;hvdm.h> -P check_exported_symbols.cmake
#
# The ABI is exported from one shared library (libhvcore.so.1, symbols
# versioned HVCORE_1.0; dm_api/libhvcore.map). Every defined dynamic symbol must be an hv_* or
# hvdm_* function at the default version HVCORE_1.0 (the "@@"), except the
# version node itself (an absolute symbol named HVCORE_1.0, which llvm-nm
# prints as HVCORE_1.0@@HVCORE_1.0); and every
# function the two headers declare must be among them.
cmake_minimum_required(VERSION 3.25)
if(NOT NM)
  set(NM nm)
endif()
execute_process(COMMAND ${NM} -D --defined-only ${LIB}
  OUTPUT_VARIABLE out ERROR_VARIABLE err RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "nm -D --defined-only ${LIB} failed (${rc}): ${err}")
endif()
string(REPLACE "\n" ";" lines "${out}")
set(bad "")
set(exported "")
foreach(line IN LISTS lines)
  if(line STREQUAL "")
    continue()
  endif()
  # "<address> <type> <name>"
  if(line MATCHES "^[0-9a-fA-F]+ A HVCORE_1\\.0(@@HVCORE_1\\.0)?$")  # llvm-nm adds the version
    continue()
  endif()
  if(line MATCHES "^[0-9a-fA-F]+ [TtWi] ((hv|hvdm)_[A-Za-z0-9_]+)@@HVCORE_1\\.0$")
    list(APPEND exported "${CMAKE_MATCH_1}")
  else()
    list(APPEND bad "${line}")
  endif()
endforeach()
if(bad)
  list(JOIN bad "\n  " text)
  message(FATAL_ERROR "symbols outside the C ABI or not at HVCORE_1.0:\n  ${text}")
endif()

# Functions the headers declare: "name(" after a return type at the start
# of a declaration line.
set(missing "")
set(declared 0)
foreach(h IN LISTS HEADERS)
  file(STRINGS "${h}" decls REGEX "^[a-z_ ]+[ *]((hv|hvdm)_[a-z0-9_]+)\\(")
  foreach(d IN LISTS decls)
    string(REGEX MATCH "((hv|hvdm)_[a-z0-9_]+)\\(" m "${d}")
    set(name "${CMAKE_MATCH_1}")
    math(EXPR declared "${declared} + 1")
    if(NOT name IN_LIST exported)
      list(APPEND missing "${name}")
    endif()
  endforeach()
endforeach()
if(declared LESS 35)
  message(FATAL_ERROR "found only ${declared} declarations in ${HEADERS}: the header parser is broken")
endif()
if(missing)
  list(JOIN missing ", " text)
  message(FATAL_ERROR "declared in the headers but not exported: ${text}")
endif()
list(LENGTH exported n)
message(STATUS "libhvcore exports ${n} symbols, all hv_*/hvdm_* @@HVCORE_1.0; all ${declared} declared functions present")
