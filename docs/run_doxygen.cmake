# SPDX-License-Identifier: MIT
cmake_minimum_required(VERSION 3.25)
# Runs doxygen on a configured Doxyfile and fails on any warning (the
# Doxyfile has WARN_AS_ERROR = FAIL_ON_WARNINGS; the output is checked too,
# so a doxygen that ignores the setting still fails).
# cmake -DDOXYGEN=<doxygen> -DDOXYFILE=<Doxyfile> -DOUT=<dir> -P run_doxygen.cmake
foreach(v DOXYGEN DOXYFILE OUT)
  if(NOT ${v})
    message(FATAL_ERROR "run_doxygen: pass -D${v}=...")
  endif()
endforeach()
file(REMOVE_RECURSE "${OUT}")
file(MAKE_DIRECTORY "${OUT}")
execute_process(COMMAND "${DOXYGEN}" "${DOXYFILE}"
  RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
if(NOT rc EQUAL 0 OR err MATCHES "warning|error" OR out MATCHES "warning:")
  message(FATAL_ERROR "doxygen failed (exit ${rc}):\n${out}${err}")
endif()
if(NOT EXISTS "${OUT}/html/index.html")
  message(FATAL_ERROR "doxygen wrote no ${OUT}/html/index.html")
endif()
message(STATUS "doxygen: no warning; ${OUT}/html/index.html")
