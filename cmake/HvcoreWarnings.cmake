# SPDX-License-Identifier: MIT
# Warnings are errors with HVCORE_WARNINGS_AS_ERRORS (on in the developer
# and CI presets except the sanitizer ones, asan and tsan; off in a plain
# configure), a switch over an enum that misses a case (-Wswitch) included;
# otherwise they are warnings only.
#
# GCC and Clang get the same checks under the names each knows. GCC's
# -Wshadow also covers a local or parameter shadowing a class member; Clang
# splits that out of -Wshadow into -Wshadow-field, -Wshadow-field-in-
# constructor and -Wshadow-uncaptured-local, which -Wshadow-all turns on.
function(hvcore_warnings target)
  set(_shadow -Wshadow)
  set(_thread_safety "")
  if(CMAKE_CXX_COMPILER_ID MATCHES "Clang")
    set(_shadow -Wshadow-all)
    # core/include/hvcore/core/thread_annotations.hpp (HVCORE_THREAD_SAFETY).
    if(HVCORE_THREAD_SAFETY)
      set(_thread_safety -Wthread-safety)
    endif()
  endif()
  target_compile_options(${target} PRIVATE
    -Wall -Wextra -Wswitch ${_shadow} -Wnon-virtual-dtor ${_thread_safety}
    $<$<BOOL:${HVCORE_WARNINGS_AS_ERRORS}>:-Werror>
    $<$<COMPILE_LANGUAGE:CXX>:-Wold-style-cast -Woverloaded-virtual>)
endfunction()

# One doctest program: its sources (hvcore_doctest_main, tests/unit/
# test_main.cpp compiled once, supplies main), what it links and includes, warnings as errors, and its cases
# registered with ctest under PREFIX. SUITE_LABELS: each case's doctest
# TEST_SUITE becomes its ctest label (TEST_SUITE("concurrent") -> LABELS
# concurrent, which the tsan preset runs); it costs one run of the program
# per case at build time, so only programs with such suites ask for it.
function(hvcore_doctest target)
  cmake_parse_arguments(T "SUITE_LABELS" "PREFIX" "SOURCES;LIBS;INCLUDES" ${ARGN})
  add_executable(${target} ${T_SOURCES})
  target_include_directories(${target} PRIVATE ${T_INCLUDES})
  target_link_libraries(${target} PRIVATE ${T_LIBS} hvcore_doctest_main doctest::doctest)
  hvcore_warnings(${target})
  if(T_SUITE_LABELS)
    doctest_discover_tests(${target} TEST_PREFIX "${T_PREFIX}" ADD_LABELS 1)
  else()
    doctest_discover_tests(${target} TEST_PREFIX "${T_PREFIX}")
  endif()
endfunction()
