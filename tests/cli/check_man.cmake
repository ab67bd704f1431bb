# SPDX-License-Identifier: MIT
# docs/man/hvcore.1 renders with groff's man macros and every warning on
# (-ww), without one warning. Prints SKIP (the test's skip expression)
# without groff.
# cmake -DPAGE=path -P check_man.cmake
find_program(GROFF groff)
if(NOT GROFF)
  message("SKIP: no groff")
  return()
endif()
execute_process(COMMAND ${GROFF} -man -ww -z -Tutf8 ${PAGE} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
if(NOT rc EQUAL 0 OR NOT err STREQUAL "")
  message(FATAL_ERROR "FAIL: groff -man -ww -z ${PAGE}: status ${rc}\n${err}")
endif()
# And it has the sections a man page needs, and every exit status.
file(READ ${PAGE} page)
foreach(sec NAME SYNOPSIS DESCRIPTION OPTIONS "EXIT STATUS" ENVIRONMENT FILES EXAMPLES "SEE ALSO")
  if(NOT page MATCHES "\n\\.SH \"?${sec}\"?\n")
    message(FATAL_ERROR "FAIL: no .SH ${sec}")
  endif()
endforeach()
foreach(code 0 1 2 3 124 "128")
  if(NOT page MATCHES "\n\\.B ${code}\n|\n\\.BR? ${code}")
    message(FATAL_ERROR "FAIL: exit status ${code} is not listed")
  endif()
endforeach()
message("PASS: ${PAGE} renders without warnings")
