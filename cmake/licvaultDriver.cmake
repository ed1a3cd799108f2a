# licvault_add_driver(): build a licvault storage driver, the same way for
# the drivers in licvault's own tree and for anyone's driver built against
# the installed SDK (find_package(licvault) includes this file).
#
#   licvault_add_driver(<target> <source>...
#                       [OUTPUT_DIRECTORY <dir>]    where the .so is built
#                       [INSTALL_DIRECTORY <dir>])  install(TARGETS) it there
#
# Without them, the variables LICVAULT_DRIVER_OUTPUT_DIRECTORY and
# LICVAULT_DRIVER_INSTALL_DIRECTORY, when set, give them (licvault's own tree
# sets both, so its drivers call licvault_add_driver(lv_file file.c) as
# anyone else does); else CMake's defaults, and no install rule.
#
# makes <target>.so (no "lib" prefix): a MODULE library
#   - linked to licvault::driver, the driver SDK: the headers only.  A driver
#     never links liblicvault; everything it needs from licvault comes
#     through the host services table (licvault/driver.h);
#   - built with hidden visibility: the entry symbol (LV_DRIVER_ENTRY) is the
#     only one exported;
#   - linked with -Wl,--no-undefined: a symbol no linked library defines (a
#     library the driver forgot to link) fails the build, instead of failing
#     when licvault loads the driver.  Not in a clang build with a sanitizer:
#     clang links its sanitizer runtime into the program only, so there a
#     shared object leaves the runtime's symbols for the program to give.
# Link the driver's own libraries as usual:
#   target_link_libraries(<target> PRIVATE PkgConfig::LIBSSH2)
include_guard(GLOBAL)

# -Wl,--no-undefined for <target>, except where it cannot hold (above).
function(licvault_no_undefined target)
  string(TOUPPER "${CMAKE_BUILD_TYPE}" bt)
  if(CMAKE_C_COMPILER_ID MATCHES "Clang" AND "${CMAKE_C_FLAGS} ${CMAKE_C_FLAGS_${bt}}" MATCHES "-fsanitize=")
    return()
  endif()
  target_link_options(${target} PRIVATE -Wl,--no-undefined)
endfunction()

function(licvault_add_driver target)
  cmake_parse_arguments(PARSE_ARGV 1 LVD "" "OUTPUT_DIRECTORY;INSTALL_DIRECTORY" "")
  if(NOT LVD_UNPARSED_ARGUMENTS)
    message(FATAL_ERROR "licvault_add_driver(${target}): no source files")
  endif()
  if(NOT TARGET licvault::driver)
    message(FATAL_ERROR "licvault_add_driver(${target}): the target licvault::driver is missing "
                        "(call find_package(licvault) first)")
  endif()
  if(NOT LVD_OUTPUT_DIRECTORY)
    set(LVD_OUTPUT_DIRECTORY ${LICVAULT_DRIVER_OUTPUT_DIRECTORY})
  endif()
  if(NOT LVD_INSTALL_DIRECTORY)
    set(LVD_INSTALL_DIRECTORY ${LICVAULT_DRIVER_INSTALL_DIRECTORY})
  endif()
  add_library(${target} MODULE ${LVD_UNPARSED_ARGUMENTS})
  set_target_properties(${target} PROPERTIES
    PREFIX ""
    C_VISIBILITY_PRESET hidden
    CXX_VISIBILITY_PRESET hidden
    VISIBILITY_INLINES_HIDDEN ON)
  if(LVD_OUTPUT_DIRECTORY)
    set_target_properties(${target} PROPERTIES LIBRARY_OUTPUT_DIRECTORY ${LVD_OUTPUT_DIRECTORY})
  endif()
  target_link_libraries(${target} PRIVATE licvault::driver)
  licvault_no_undefined(${target})
  if(LVD_INSTALL_DIRECTORY)
    install(TARGETS ${target} LIBRARY DESTINATION ${LVD_INSTALL_DIRECTORY})
  endif()
endfunction()
