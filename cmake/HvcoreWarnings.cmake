# Warnings are errors; a switch over an enum that misses a case is an error
# in every build (STYLE.md rule 3).
function(hvcore_warnings target)
  target_compile_options(${target} PRIVATE
    -Wall -Wextra -Werror -Werror=switch -Wshadow -Wnon-virtual-dtor
    $<$<COMPILE_LANGUAGE:CXX>:-Wold-style-cast -Woverloaded-virtual>)
endfunction()
