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

# hvcore_backend_facts(NAME <b> TEST_NAME <name> HV_ARCH <enumerator> PORT_IO ON|OFF)
#   Declares, from arch/<b>/CMakeLists.txt, what the tests that reach the
#   backend through libhvcore.so (the C programs of tests/abi, the
#   conformance suite) need to know of it: TEST_NAME is its name in test
#   names and HVCORE_TEST_ARCH (abi/<theme>/<name>), HV_ARCH its enum hv_arch
#   value (hv.h), PORT_IO whether its ISA has port I/O (hv_vcpu_pio). tests/
#   generates hvcore_test_backends.h from the declarations, in folder order;
#   tests/unit/test_backend.cpp checks that each linked backend's descriptor
#   (hvcore/core/backend.hpp) says the same.
function(hvcore_backend_facts)
  cmake_parse_arguments(F "" "NAME;TEST_NAME;HV_ARCH;PORT_IO" "" ${ARGN})
  if(NOT F_NAME OR NOT F_TEST_NAME OR NOT F_HV_ARCH OR NOT DEFINED F_PORT_IO)
    message(FATAL_ERROR "hvcore_backend_facts: NAME, TEST_NAME, HV_ARCH and PORT_IO are required")
  endif()
  if(F_PORT_IO)
    set(_pio 1)
  else()
    set(_pio 0)
  endif()
  set_property(GLOBAL APPEND PROPERTY HVCORE_BACKEND_FACTS_NAMES ${F_NAME})
  set_property(GLOBAL APPEND PROPERTY HVCORE_BACKEND_FACTS_TEST_NAMES ${F_TEST_NAME})
  set_property(GLOBAL APPEND PROPERTY HVCORE_BACKEND_FACTS_HV_ARCHES ${F_HV_ARCH})
  set_property(GLOBAL APPEND PROPERTY HVCORE_BACKEND_FACTS_PORT_IO ${_pio})
endfunction()
