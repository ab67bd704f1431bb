# SPDX-License-Identifier: MIT
# cmake -DHVCORE=<hvcore> -DMODULE=<plug-in> -DEXPECT=<regex> -P check_refused.cmake
#
# `hvcore run console --on model --dm MODULE` must exit non-zero with a
# message matching EXPECT (stdout or stderr) that names the module, and must
# not have called the module's entry point.
execute_process(
  COMMAND "${HVCORE}" run console --on model --dm "${MODULE}"
  RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err TIMEOUT 60)
set(all "${out}${err}")
message(STATUS "exit status ${rc}; output:\n${all}")
if(rc EQUAL 0)
  message(FATAL_ERROR "hvcore accepted ${MODULE} (exit status 0)")
endif()
if(NOT rc MATCHES "^[0-9]+$")
  message(FATAL_ERROR "hvcore did not exit normally: ${rc}")
endif()
if(NOT all MATCHES "${EXPECT}")
  message(FATAL_ERROR "no message matching '${EXPECT}'")
endif()
string(FIND "${all}" "${MODULE}" pos)
if(pos EQUAL -1)
  message(FATAL_ERROR "the message does not name the module ${MODULE}")
endif()
if(all MATCHES "hvdm_plugin_main was called|hvdm_example_main was called")
  message(FATAL_ERROR "the loader called into a module it should have refused")
endif()
