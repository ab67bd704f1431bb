# Warnings are errors; a switch over an enum that misses a case is an error
# in every build.
function(hvcore_warnings target)
  target_compile_options(${target} PRIVATE
    -Wall -Wextra -Werror -Werror=switch -Wshadow -Wnon-virtual-dtor
    $<$<COMPILE_LANGUAGE:CXX>:-Wold-style-cast -Woverloaded-virtual>)
endfunction()

# One doctest program: its sources (tests/unit/test_main.cpp supplies
# main), what it links and includes, warnings as errors, and its cases
# registered with ctest under PREFIX.
function(hvcore_doctest target)
  cmake_parse_arguments(T "" "PREFIX" "SOURCES;LIBS;INCLUDES" ${ARGN})
  add_executable(${target} ${PROJECT_SOURCE_DIR}/tests/unit/test_main.cpp ${T_SOURCES})
  target_include_directories(${target} PRIVATE ${T_INCLUDES})
  target_link_libraries(${target} PRIVATE ${T_LIBS} doctest::doctest)
  hvcore_warnings(${target})
  doctest_discover_tests(${target} TEST_PREFIX "${T_PREFIX}")
endfunction()
