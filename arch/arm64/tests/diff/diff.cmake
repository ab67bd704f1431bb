# SPDX-License-Identifier: MIT
# The A64 differential test (a64_diff_case.hpp has the flow), included from
# arch/arm64/tests/CMakeLists.txt. Three programs:
#   a64_diff_gen  host tool: the cases as assembly text (cases.S)
#   a64_oracle    aarch64, static: cases.S assembled by GNU as and run under
#                 qemu-aarch64 -cpu cortex-a76 (its DC ZVA block is 64 bytes,
#                 as hvcore models; QEMU's "max" CPU has 512)
#   test_a64_diff this build's target: the same words through hvcore's C ABI
# They are built with plain custom commands, so the `all` preset (x86-64)
# and the arm64-cross preset (everything aarch64, tests under qemu-user) do
# the same thing. Without the cross compiler or qemu-aarch64 the test is
# registered as skipped, with the reason.
set(HVCORE_A64_DIFF_SEED "0x5eed64" CACHE STRING "seed of the A64 differential test's cases")
# 300 per form on x86-64 (the oracle under qemu-user, hvcore's runs
# natively; 500 took 94 s of test time in a loaded run of preset all, and
# CI's budget is 30 minutes for everything); cross-built, hvcore itself
# runs under qemu-user too, 200 per form (42 s in the same run). The seed is fixed: a
# wider search is -DHVCORE_A64_DIFF_TRIALS=N or another seed.
if(CMAKE_CROSSCOMPILING)
  set(_a64d_default_trials 200)
elseif(HVCORE_SANITIZE OR HVCORE_SANITIZE_THREAD)
  # Under the sanitizers (memory and UB errors): every form, fewer trials.
  set(_a64d_default_trials 125)
else()
  set(_a64d_default_trials 300)
endif()
set(HVCORE_A64_DIFF_TRIALS "${_a64d_default_trials}" CACHE STRING "A64 differential test: trials per form")

set(_a64d_src ${PROJECT_SOURCE_DIR}/arch/arm64/tests/diff)
set(_a64d_bin ${CMAKE_CURRENT_BINARY_DIR}/a64_diff)
if(CMAKE_CROSSCOMPILING)
  find_program(HVCORE_HOST_CXX NAMES g++ c++ DOC "host C++ compiler for build-time tools")
  set(_a64d_cxx ${CMAKE_CXX_COMPILER})
else()
  set(HVCORE_HOST_CXX ${CMAKE_CXX_COMPILER})
  if(CMAKE_SYSTEM_PROCESSOR MATCHES "^(aarch64|arm64)$")
    set(_a64d_cxx ${CMAKE_CXX_COMPILER})
  else()
    find_program(HVCORE_AARCH64_CXX NAMES aarch64-linux-gnu-g++ DOC "Arm64 cross compiler (g++-aarch64-linux-gnu)")
    set(_a64d_cxx ${HVCORE_AARCH64_CXX})
  endif()
endif()
# On an Arm64 host the oracle runs natively; elsewhere under qemu-user.
if(CMAKE_SYSTEM_PROCESSOR MATCHES "^(aarch64|arm64)$" AND NOT CMAKE_CROSSCOMPILING)
  set(_a64d_run "")
else()
  find_program(HVCORE_QEMU_AARCH64 NAMES qemu-aarch64 qemu-aarch64-static DOC "qemu-user for Arm64 (qemu-user)")
  set(_a64d_run ${HVCORE_QEMU_AARCH64} -cpu cortex-a76)
endif()

# A tool not found, or cached at a path that no longer exists, skips the test.
set(_a64d_missing "")
if(NOT HVCORE_HOST_CXX OR NOT EXISTS "${HVCORE_HOST_CXX}")
  list(APPEND _a64d_missing "a host C++ compiler (g++)")
endif()
if(NOT _a64d_cxx OR NOT EXISTS "${_a64d_cxx}")
  list(APPEND _a64d_missing "aarch64-linux-gnu-g++ (g++-aarch64-linux-gnu)")
endif()
if(DEFINED HVCORE_QEMU_AARCH64 AND (NOT HVCORE_QEMU_AARCH64 OR NOT EXISTS "${HVCORE_QEMU_AARCH64}"))
  list(APPEND _a64d_missing "qemu-aarch64 (qemu-user)")
endif()

if(_a64d_missing)
  list(JOIN _a64d_missing ", " _a64d_why)
  message(STATUS "hvcore: the A64 differential test is skipped: no ${_a64d_why} (scripts/install-deps.sh --cross)")
  add_test(NAME arm64-diff/skipped
    COMMAND sh -c "echo 'SKIP: the A64 differential test needs ${_a64d_why} (scripts/install-deps.sh --cross)'; exit 77")
  set_tests_properties(arm64-diff/skipped PROPERTIES SKIP_RETURN_CODE 77)
  return()
endif()

file(MAKE_DIRECTORY ${_a64d_bin})
add_custom_command(OUTPUT ${_a64d_bin}/a64_diff_gen
  COMMAND ${HVCORE_HOST_CXX} -std=c++20 -O1 -o ${_a64d_bin}/a64_diff_gen ${_a64d_src}/a64_diff_gen.cpp
  DEPENDS ${_a64d_src}/a64_diff_gen.cpp ${_a64d_src}/a64_diff_case.hpp
  COMMENT "A64 differential test: case generator (host)")
add_custom_command(OUTPUT ${_a64d_bin}/cases.S
  COMMAND ${_a64d_bin}/a64_diff_gen ${HVCORE_A64_DIFF_SEED} ${HVCORE_A64_DIFF_TRIALS} ${_a64d_bin}/cases.S
  DEPENDS ${_a64d_bin}/a64_diff_gen
  COMMENT "A64 differential test: cases.S (seed ${HVCORE_A64_DIFF_SEED}, ${HVCORE_A64_DIFF_TRIALS} per form)")
add_custom_command(OUTPUT ${_a64d_bin}/a64_oracle
  COMMAND ${_a64d_cxx} -std=c++20 -O2 -static -I${_a64d_src} -o ${_a64d_bin}/a64_oracle
          ${_a64d_src}/a64_oracle.cpp ${_a64d_bin}/cases.S
  DEPENDS ${_a64d_src}/a64_oracle.cpp ${_a64d_src}/a64_diff_case.hpp ${_a64d_bin}/cases.S
  COMMENT "A64 differential test: the oracle (aarch64, GNU as encodes the cases)")
add_custom_target(a64_oracle ALL DEPENDS ${_a64d_bin}/a64_oracle)

add_test(NAME arm64-diff/oracle
  COMMAND ${_a64d_run} ${_a64d_bin}/a64_oracle ${_a64d_bin}/a64_oracle.out)
set_tests_properties(arm64-diff/oracle PROPERTIES FIXTURES_SETUP a64_oracle)

add_executable(test_a64_diff ${_a64d_src}/test_a64_diff.cpp)
target_include_directories(test_a64_diff PRIVATE ${PROJECT_SOURCE_DIR}/arch/arm64/src ${_a64d_src})
target_compile_definitions(test_a64_diff PRIVATE HVCORE_A64_DIFF_TRIALS=${HVCORE_A64_DIFF_TRIALS})
target_link_libraries(test_a64_diff PRIVATE hvcore_doctest_main hvcore_arch_arm64 hvcore_embed doctest::doctest fmt::fmt)
hvcore_warnings(test_a64_diff)
add_dependencies(test_a64_diff a64_oracle)
doctest_discover_tests(test_a64_diff TEST_PREFIX "arm64-diff/"
  PROPERTIES FIXTURES_REQUIRED a64_oracle ENVIRONMENT "HVCORE_A64_ORACLE_OUT=${_a64d_bin}/a64_oracle.out")
