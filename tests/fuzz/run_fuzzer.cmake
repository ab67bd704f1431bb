# SPDX-License-Identifier: MIT
# Runs one libFuzzer target for ctest (tests/fuzz/CMakeLists.txt):
#   cmake -DFUZZER=<program> -DMODE=replay|fuzz -DCORPUS=<committed corpus dir>
#         -DDICT=<dictionary> -DWORK=<scratch dir> -DARTIFACTS=<dir>
#         -DSECONDS=<n> -P run_fuzzer.cmake
# replay: every committed input once (-runs=0), read only.
# fuzz:   SECONDS of fuzzing from a fresh copy of the corpus in WORK (new
#         inputs go there, never into the source tree).
# Either way a finding is written to ARTIFACTS (crash-*, leak-*, timeout-*,
# oom-*) and the test fails, naming the file.
foreach(v FUZZER MODE CORPUS DICT WORK ARTIFACTS SECONDS)
  if(NOT DEFINED ${v})
    message(FATAL_ERROR "run_fuzzer: -D${v}=... missing")
  endif()
endforeach()
file(GLOB _seeds LIST_DIRECTORIES false "${CORPUS}/*")
list(LENGTH _seeds _n)
if(_n EQUAL 0)
  message(FATAL_ERROR "run_fuzzer: the corpus ${CORPUS} is empty")
endif()
file(MAKE_DIRECTORY "${ARTIFACTS}")
file(GLOB _old "${ARTIFACTS}/*")  # earlier runs' findings: kept, not reported again
# Each input must finish in 10 s (a hang is a finding), the process stay
# under 512 MiB (state that piles up across inputs is a finding); inputs up
# to 1 KiB.
set(_common -artifact_prefix=${ARTIFACTS}/ -dict=${DICT} -timeout=10 -rss_limit_mb=512 -max_len=1024
  -print_final_stats=1)
if(MODE STREQUAL "replay")
  execute_process(COMMAND "${FUZZER}" ${_common} -runs=0 "${CORPUS}" RESULT_VARIABLE _rc)
elseif(MODE STREQUAL "fuzz")
  file(REMOVE_RECURSE "${WORK}")
  file(MAKE_DIRECTORY "${WORK}")
  file(COPY ${_seeds} DESTINATION "${WORK}")
  execute_process(COMMAND "${FUZZER}" ${_common} -max_total_time=${SECONDS} "${WORK}" RESULT_VARIABLE _rc)
else()
  message(FATAL_ERROR "run_fuzzer: MODE must be replay or fuzz, not '${MODE}'")
endif()
if(NOT _rc EQUAL 0)
  file(GLOB _found "${ARTIFACTS}/*")
  if(_old)
    list(REMOVE_ITEM _found ${_old})
  endif()
  list(JOIN _found "\n  " _list)
  message(FATAL_ERROR "run_fuzzer: ${FUZZER} exited with ${_rc} (${MODE}, ${_n} committed inputs); its findings:\n  ${_list}")
endif()
message(STATUS "run_fuzzer: ${MODE} passed over ${_n} committed inputs")
