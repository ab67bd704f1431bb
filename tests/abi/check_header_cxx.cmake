# SPDX-License-Identifier: MIT
# cmake -DCXX=<compiler> -DSOURCE=<test_header_cxx.cpp> "-DINCLUDE=<dir;...>"
#       "-DHEADERS=<hv.h;hvdm.h;...>" -P check_header_cxx.cmake
#
# Fails if a macro the public headers define is not used in SOURCE, then
# compiles SOURCE with CXX as a C++ device model would be built with the
# strictest warnings a C++ project uses on them: -Wold-style-cast (a C cast
# in a macro lands in the caller's code), -pedantic, all as errors.
file(READ "${SOURCE}" _src)
set(_missing "")
foreach(h IN LISTS HEADERS)
  file(STRINGS "${h}" _defines REGEX "^#define[ \t]+[A-Za-z_][A-Za-z0-9_]*")
  foreach(line IN LISTS _defines)
    string(REGEX REPLACE "^#define[ \t]+([A-Za-z_][A-Za-z0-9_]*).*" "\\1" name "${line}")
    string(FIND "${_src}" "${name}" pos)
    if(pos EQUAL -1)
      list(APPEND _missing ${name})
    endif()
  endforeach()
endforeach()
if(_missing)
  list(REMOVE_DUPLICATES _missing)
  message(FATAL_ERROR "public macros not used in ${SOURCE}: ${_missing}")
endif()

set(_inc "")
foreach(dir IN LISTS INCLUDE)
  list(APPEND _inc -I "${dir}")
endforeach()
execute_process(
  COMMAND "${CXX}" -std=c++20 -fsyntax-only -Wall -Wextra -pedantic -Wold-style-cast -Werror
          ${_inc} "${SOURCE}"
  RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "${CXX} rejects the public headers:\n${out}${err}")
endif()
message(STATUS "${CXX}: the public headers and every macro compile with -Wold-style-cast -Werror")
