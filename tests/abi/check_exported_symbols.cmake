# SPDX-License-Identifier: MIT
# cmake -DLIB=<libhvcore.so or the hvcore program> -DNM=<nm> -DMAP=<libhvcore.map>
#       "-DHEADERS=<hv.h;hvdm.h;...>" [-DPROGRAM=ON] -P check_exported_symbols.cmake
#
# The C ABI is exported with the symbol versions of dm_api/libhvcore.map:
# each hv_* / hvdm_* symbol in the node the map lists it in (HVCORE_1.0 for
# those of 1.0.0, HVCORE_1.1 for those 1.1.0 added, ...), as the default
# version ("name@@NODE" in `nm -D`, which prints the versions as
# --with-symbol-versions did; objdump -T shows the same). Checked:
# - the map lists every symbol by name (no wildcard but the "local: *");
# - every defined dynamic symbol of LIB is an hv_*/hvdm_* symbol at the
#   node the map gives it, or a version node's own absolute symbol; with
#   PROGRAM (the `hvcore` program, which exports the C ABI to plug-ins)
#   also data of other libraries (copy relocations such as
#   stdout@GLIBC_2.2.5, or a sanitizer runtime's variables);
# - every symbol the map lists, and every function the headers declare, is
#   exported.
cmake_minimum_required(VERSION 3.25)
if(NOT NM)
  set(NM nm)
endif()

# --- the map: node -> its symbols --------------------------------------
file(READ "${MAP}" map)
string(REGEX REPLACE "/\\*([^*]|\\*+[^*/])*\\*+/" "" map "${map}")  # comments
string(REPLACE ";" " " map "${map}")  # (a CMake list separator)
string(REGEX MATCHALL "HVCORE_[0-9]+\\.[0-9]+[ \t\n]*{[^}]*}" nodes "${map}")
set(mapped "")
set(node_names "")
foreach(n IN LISTS nodes)
  string(REGEX MATCH "^HVCORE_[0-9]+\\.[0-9]+" node "${n}")
  list(APPEND node_names ${node})
  string(REGEX REPLACE "^HVCORE_[0-9]+\\.[0-9]+[ \t\n]*{" "" body "${n}")
  string(REGEX REPLACE "local:[ \t\n]*\\*" "" body "${body}")
  string(REGEX REPLACE "(global|local):" "" body "${body}")
  string(REGEX MATCHALL "[^ \t\n}]+" names "${body}")
  foreach(s IN LISTS names)
    if(NOT s MATCHES "^(hv|hvdm)_[a-z0-9_]+$")
      message(FATAL_ERROR "${MAP}: node ${node} lists '${s}': only hv_*/hvdm_* names, no wildcards")
    endif()
    if(DEFINED node_of_${s})
      message(FATAL_ERROR "${MAP}: ${s} is in ${node_of_${s}} and in ${node}")
    endif()
    set(node_of_${s} ${node})
    list(APPEND mapped ${s})
  endforeach()
endforeach()
list(LENGTH mapped nmapped)
if(nmapped LESS 40 OR NOT "HVCORE_1.0" IN_LIST node_names OR NOT "HVCORE_1.1" IN_LIST node_names)
  message(FATAL_ERROR "${MAP}: found ${nmapped} symbols in nodes ${node_names}: the map parser is broken")
endif()
if(NOT node_of_hv_version STREQUAL "HVCORE_1.1" OR NOT node_of_hv_host_create STREQUAL "HVCORE_1.0")
  message(FATAL_ERROR "${MAP}: hv_version must be in HVCORE_1.1 and hv_host_create in HVCORE_1.0")
endif()

# --- what LIB exports ---------------------------------------------------
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
  # "<address> <type> <name>[@@<version>]"
  if(line MATCHES "^[0-9a-fA-F]+ A (HVCORE_[0-9]+\\.[0-9]+)(@@HVCORE_[0-9]+\\.[0-9]+)?$")  # a node (llvm-nm adds @@)
    if(NOT CMAKE_MATCH_1 IN_LIST node_names)
      list(APPEND bad "${line}   <- a version node the map does not have")
    endif()
    continue()
  endif()
  if(line MATCHES "^[0-9a-fA-F]+ [TtWi] ((hv|hvdm)_[A-Za-z0-9_]+)@@(HVCORE_[0-9.]+)$")
    set(sym "${CMAKE_MATCH_1}")
    set(ver "${CMAKE_MATCH_3}")
    if(NOT DEFINED node_of_${sym})
      list(APPEND bad "${line}   <- not in ${MAP}")
    elseif(NOT ver STREQUAL node_of_${sym})
      list(APPEND bad "${line}   <- the map puts it in ${node_of_${sym}}")
    else()
      list(APPEND exported "${sym}")
    endif()
  elseif(PROGRAM AND line MATCHES "^[0-9a-fA-F]+ [BDRVu] [A-Za-z0-9_]+(@[A-Z][A-Za-z0-9_.]+)?$"
         AND NOT line MATCHES "(@@?HVCORE_| (hv|hvdm)_)")
    # a copy relocation of another library's data: stdout@GLIBC_2.2.5, or
    # (unversioned) libasan's __asan_option_detect_stack_use_after_return
  else()
    list(APPEND bad "${line}")
  endif()
endforeach()
if(bad)
  list(JOIN bad "\n  " text)
  message(FATAL_ERROR "${LIB}: symbols outside the C ABI or not at the version node libhvcore.map gives:\n  ${text}")
endif()
set(missing "")
foreach(s IN LISTS mapped)
  if(NOT s IN_LIST exported)
    list(APPEND missing ${s})
  endif()
endforeach()
if(missing)
  list(JOIN missing ", " text)
  message(FATAL_ERROR "${LIB}: in libhvcore.map but not exported: ${text}")
endif()

# --- functions the headers declare: "name(" after a return type at the
# start of a declaration line -----------------------------------------------
set(declared 0)
foreach(h IN LISTS HEADERS)
  file(STRINGS "${h}" decls REGEX "^[a-z0-9_ ]+[ *]((hv|hvdm)_[a-z0-9_]+)\\(")
  foreach(d IN LISTS decls)
    if(d MATCHES "^static ")
      continue()  # a static inline helper of a header (hvdm_plugin_open): no library symbol
    endif()
    string(REGEX MATCH "((hv|hvdm)_[a-z0-9_]+)\\(" m "${d}")
    set(name "${CMAKE_MATCH_1}")
    math(EXPR declared "${declared} + 1")
    if(NOT name IN_LIST exported)
      list(APPEND missing "${name}")
    endif()
  endforeach()
endforeach()
if(declared LESS 40)
  message(FATAL_ERROR "found only ${declared} declarations in ${HEADERS}: the header parser is broken")
endif()
if(missing)
  list(JOIN missing ", " text)
  message(FATAL_ERROR "${LIB}: declared in the headers but not exported: ${text}")
endif()
list(LENGTH exported n)
message(STATUS "${LIB} exports ${n} symbols, each hv_*/hvdm_* at its libhvcore.map node (${node_names}); all ${declared} declared functions present")
