# SPDX-License-Identifier: MIT
cmake_minimum_required(VERSION 3.25)
# Test docs/guide-example: the C programs of docs/writing-a-device-model.md
# compile. Every ```c block that starts with an SPDX line is a complete file
# (its second line names it: "/* NAME.c: ..."); each is written to OUT_DIR
# and compiled with -std=c99 -pedantic -Wall -Wextra -Werror against the
# public headers. The block that defines hvdm_plugin_main must call
# hvdm_serve; it is linked as a shared module, which must export
# hvdm_plugin_main and hvdm_plugin_abi (what `hvcore run --dm` looks up).
#   cmake -DGUIDE=<md> -DCC=<c compiler> -DNM=<nm> -DOUT_DIR=<dir>
#         -DINCLUDE_SRC=<dm_api/include> -DINCLUDE_BIN=<build>/dm_api/include
#         -P check_guide.cmake
# (INCLUDE_BIN holds the generated <hvcore/hv_version.h>.)
foreach(v GUIDE CC NM OUT_DIR INCLUDE_SRC INCLUDE_BIN)
  if(NOT ${v})
    message(FATAL_ERROR "check_guide: pass -D${v}=...")
  endif()
endforeach()
file(REMOVE_RECURSE "${OUT_DIR}")
file(MAKE_DIRECTORY "${OUT_DIR}")
set(_incflags "-I${INCLUDE_SRC}" "-I${INCLUDE_BIN}")

file(READ "${GUIDE}" _md)
set(_open "\n```c\n")
set(_close "\n```\n")
set(_programs 0)
set(_plugin "")
while(TRUE)
  string(FIND "${_md}" "${_open}" _at)
  if(_at EQUAL -1)
    break()
  endif()
  string(LENGTH "${_open}" _olen)
  math(EXPR _start "${_at} + ${_olen}")
  string(SUBSTRING "${_md}" ${_start} -1 _md)
  string(FIND "${_md}" "${_close}" _end)
  if(_end EQUAL -1)
    message(FATAL_ERROR "check_guide: a ```c block is not closed")
  endif()
  math(EXPR _blen "${_end} + 1")
  string(SUBSTRING "${_md}" 0 ${_blen} _block)
  string(SUBSTRING "${_md}" ${_end} -1 _md)
  if(NOT _block MATCHES "^/\\* SPDX-License-Identifier: MIT \\*/\n/\\* ([A-Za-z0-9_]+\\.c):")
    continue()  # a fragment, not a file
  endif()
  set(_name "${CMAKE_MATCH_1}")
  math(EXPR _programs "${_programs} + 1")
  file(WRITE "${OUT_DIR}/${_name}" "${_block}")
  string(REGEX REPLACE "\\.c$" ".o" _obj "${_name}")
  execute_process(
    COMMAND "${CC}" -std=c99 -pedantic -Wall -Wextra -Werror -fPIC ${_incflags}
            -c "${OUT_DIR}/${_name}" -o "${OUT_DIR}/${_obj}"
    RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "check_guide: ${_name} (from ${GUIDE}) does not compile:\n${out}${err}")
  endif()
  message(STATUS "check_guide: ${_name} compiles (-std=c99 -pedantic -Wall -Wextra -Werror)")
  if(_block MATCHES "int hvdm_plugin_main\\(")
    if(NOT _block MATCHES "hvdm_serve\\(")
      message(FATAL_ERROR "check_guide: ${_name} defines hvdm_plugin_main but does not call hvdm_serve")
    endif()
    set(_plugin "${_obj}")
  endif()
endwhile()

if(_programs LESS 1 OR NOT _plugin)
  message(FATAL_ERROR "check_guide: ${GUIDE} has ${_programs} complete C files and no plug-in (hvdm_plugin_main)")
endif()
# The plug-in links against nothing: the hvcore program provides the API.
execute_process(COMMAND "${CC}" -shared -o "${OUT_DIR}/plugin.so" "${OUT_DIR}/${_plugin}"
  RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "check_guide: linking the plug-in failed:\n${out}${err}")
endif()
execute_process(COMMAND "${NM}" -D --defined-only "${OUT_DIR}/plugin.so"
  RESULT_VARIABLE rc OUTPUT_VARIABLE syms ERROR_VARIABLE err)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "check_guide: nm failed:\n${err}")
endif()
foreach(s hvdm_plugin_main hvdm_plugin_abi)
  if(NOT syms MATCHES "[ \t]${s}\n")
    message(FATAL_ERROR "check_guide: the plug-in does not export ${s}:\n${syms}")
  endif()
endforeach()
message(STATUS "check_guide: ${_programs} files compile; the plug-in exports hvdm_plugin_main and hvdm_plugin_abi")
