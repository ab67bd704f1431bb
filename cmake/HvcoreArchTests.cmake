# SPDX-License-Identifier: MIT
# How a backend folder (arch/<b>/tests/CMakeLists.txt) takes part in the
# suites of tests/ without tests/ naming it.
#
# hvcore_stage2_traits(TYPE <name> HEADER <file> [LIBS ...] [INCLUDES ...])
#   Registers the backend's traits for the stage-2 conformance suite
#   (tests/conformance/test_stage2.cpp): TYPE is the traits class in
#   namespace conformance::stage2 (EptTraits), HEADER the header that
#   defines it (with its TYPE_TO_STRING_AS, the <name> of the test names),
#   found in INCLUDES; LIBS are what it links. tests/conformance generates
#   stage2_backends.hpp from the registrations, in folder order.
function(hvcore_stage2_traits)
  cmake_parse_arguments(T "" "TYPE;HEADER" "LIBS;INCLUDES" ${ARGN})
  if(NOT T_TYPE OR NOT T_HEADER)
    message(FATAL_ERROR "hvcore_stage2_traits: TYPE and HEADER are required")
  endif()
  set_property(GLOBAL APPEND PROPERTY HVCORE_STAGE2_TRAITS_TYPES ${T_TYPE})
  set_property(GLOBAL APPEND PROPERTY HVCORE_STAGE2_TRAITS_HEADERS ${T_HEADER})
  set_property(GLOBAL APPEND PROPERTY HVCORE_STAGE2_TRAITS_LIBS ${T_LIBS})
  set_property(GLOBAL APPEND PROPERTY HVCORE_STAGE2_TRAITS_INCLUDES ${T_INCLUDES})
endfunction()
