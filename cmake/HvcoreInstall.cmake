# SPDX-License-Identifier: MIT
# What a consumer of an installed hvcore finds (README.md, "Install"):
#   <libdir>/pkgconfig/hvcore.pc        pkg-config --cflags --libs hvcore
#   <libdir>/cmake/hvcore/              find_package(hvcore): hvcore::hvcore,
#                                       hvcore::plugin and the directories
#   <mandir>/man1, man3                 the man pages of docs/man
#   <docdir>                            LICENSE, README.md, CHANGELOG.md;
#                                       the device-model guide, json-schema.md
# Components: runtime (what runs: the library, bin/hvcore, the plug-ins and
# guests, section 1, the licence with README and CHANGELOG) and development
# (what builds against it, section 3 and the guides).
include(CMakePackageConfigHelpers)

set(HVCORE_INSTALL_CMAKEDIR ${CMAKE_INSTALL_LIBDIR}/cmake/hvcore)
set(HVCORE_INSTALL_PROGRAM ${CMAKE_INSTALL_BINDIR}/hvcore)

# --- hvcore.pc -----------------------------------------------------------
# The prefix is the one given at install time (`cmake --install --prefix P`
# may differ from CMAKE_INSTALL_PREFIX at configure time), so the file is
# made in two steps: everything else now, the prefix when it is installed.
function(_hvcore_pc_dir var dir)
  if(IS_ABSOLUTE "${dir}")
    set(${var} "${dir}" PARENT_SCOPE)
  else()
    set(${var} "\${prefix}/${dir}" PARENT_SCOPE)
  endif()
endfunction()
_hvcore_pc_dir(HVCORE_PC_LIBDIR "${CMAKE_INSTALL_LIBDIR}")
_hvcore_pc_dir(HVCORE_PC_INCLUDEDIR "${CMAKE_INSTALL_INCLUDEDIR}")
_hvcore_pc_dir(HVCORE_PC_BINDIR "${CMAKE_INSTALL_BINDIR}")
_hvcore_pc_dir(HVCORE_PC_DMDIR "${HVCORE_INSTALL_DMDIR}")
_hvcore_pc_dir(HVCORE_PC_GUESTDIR "${HVCORE_INSTALL_GUESTDIR}")
set(HVCORE_PC_PREFIX "@HVCORE_PC_PREFIX@")  # left for the install step
configure_file(${CMAKE_CURRENT_LIST_DIR}/hvcore.pc.in ${PROJECT_BINARY_DIR}/hvcore.pc.in @ONLY)
install(CODE "
  set(HVCORE_PC_PREFIX \"\${CMAKE_INSTALL_PREFIX}\")
  configure_file(\"${PROJECT_BINARY_DIR}/hvcore.pc.in\" \"${PROJECT_BINARY_DIR}/hvcore.pc\" @ONLY)"
  COMPONENT development)
install(FILES ${PROJECT_BINARY_DIR}/hvcore.pc DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig COMPONENT development)

# --- the CMake package ---------------------------------------------------
install(EXPORT hvcoreTargets NAMESPACE hvcore:: DESTINATION ${HVCORE_INSTALL_CMAKEDIR} COMPONENT development)
configure_package_config_file(${CMAKE_CURRENT_LIST_DIR}/hvcoreConfig.cmake.in
  ${PROJECT_BINARY_DIR}/hvcoreConfig.cmake
  INSTALL_DESTINATION ${HVCORE_INSTALL_CMAKEDIR}
  PATH_VARS HVCORE_INSTALL_DMDIR HVCORE_INSTALL_GUESTDIR HVCORE_INSTALL_PROGRAM CMAKE_INSTALL_INCLUDEDIR)
# SameMajorVersion: the soname's rule (README.md, "ABI and versioning").
write_basic_package_version_file(${PROJECT_BINARY_DIR}/hvcoreConfigVersion.cmake
  VERSION ${PROJECT_VERSION} COMPATIBILITY SameMajorVersion)
install(FILES ${PROJECT_BINARY_DIR}/hvcoreConfig.cmake ${PROJECT_BINARY_DIR}/hvcoreConfigVersion.cmake
  DESTINATION ${HVCORE_INSTALL_CMAKEDIR} COMPONENT development)

# --- man pages (docs/man/*.1 and *.3, whatever is there) ------------------
file(GLOB _hvcore_man1 CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/docs/man/*.1)
file(GLOB _hvcore_man3 CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/docs/man/*.3)
if(_hvcore_man1)
  install(FILES ${_hvcore_man1} DESTINATION ${CMAKE_INSTALL_MANDIR}/man1 COMPONENT runtime)
endif()
if(_hvcore_man3)
  install(FILES ${_hvcore_man3} DESTINATION ${CMAKE_INSTALL_MANDIR}/man3 COMPONENT development)
endif()

# --- documents (<docdir>: share/doc/hvcore) --------------------------------
# The MIT licence's notice goes with every copy: with the runtime, which
# every install has.
install(FILES ${PROJECT_SOURCE_DIR}/LICENSE ${PROJECT_SOURCE_DIR}/README.md ${PROJECT_SOURCE_DIR}/CHANGELOG.md
  DESTINATION ${CMAKE_INSTALL_DOCDIR} COMPONENT runtime)
install(FILES ${PROJECT_SOURCE_DIR}/docs/writing-a-device-model.md ${PROJECT_SOURCE_DIR}/docs/json-schema.md
  DESTINATION ${CMAKE_INSTALL_DOCDIR} COMPONENT development)
