# SPDX-License-Identifier: MIT
# Runs scripts/bench-compare.py on two fixtures and checks its exit status
# and what it flags. cmake -DPYTHON=... -DSCRIPT=... -DBASE=... -DNEW=...
#   -DEXPECT_RC=0|1 [-DTHRESHOLD=pct] [-DMATCH=regex] [-DNOMATCH=regex]
#   -P check_compare.cmake
set(_args ${SCRIPT})
if(DEFINED THRESHOLD)
  list(APPEND _args --threshold ${THRESHOLD})
endif()
execute_process(COMMAND ${PYTHON} ${_args} ${BASE} ${NEW} RESULT_VARIABLE _rc OUTPUT_VARIABLE _out ERROR_VARIABLE _err)
message("${_out}${_err}")
if(NOT _rc EQUAL EXPECT_RC)
  message(FATAL_ERROR "bench-compare exited ${_rc}, expected ${EXPECT_RC}")
endif()
if(DEFINED MATCH AND NOT _out MATCHES "${MATCH}")
  message(FATAL_ERROR "bench-compare's output does not match '${MATCH}'")
endif()
if(DEFINED NOMATCH AND _out MATCHES "${NOMATCH}")
  message(FATAL_ERROR "bench-compare's output matches '${NOMATCH}'")
endif()
