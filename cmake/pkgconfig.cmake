# Run at install time (install(CODE)): write the pkg-config files with the
# prefix the files are installed under (cmake --install --prefix P gives P),
# clean (pkg-config --variable=driverdir prints a path a script can use as
# is).  A directory under the prefix is written as ${prefix}/DIR, so that
# pkg-config --define-prefix finds a tree that was moved.  In:
#   LV_SRC (cmake/), LV_OUT (build dir), PROJECT_VERSION, LV_LIBDIR and
#   LV_INCLUDEDIR (relative or absolute, GNUInstallDirs).
foreach(v LV_SRC LV_OUT PROJECT_VERSION LV_LIBDIR LV_INCLUDEDIR)
  if(NOT DEFINED ${v})
    message(FATAL_ERROR "pkgconfig.cmake: ${v} is not set")
  endif()
endforeach()
# "/usr/local/" and "/usr/local" alike; "/" stays "/"
string(REGEX REPLACE "(.)/+$" "\\1" LV_PC_PREFIX "${CMAKE_INSTALL_PREFIX}")
foreach(kind LIBDIR INCLUDEDIR)
  set(d "${LV_${kind}}")
  set(rel "")
  if(NOT IS_ABSOLUTE "${d}")
    if(LV_PC_PREFIX STREQUAL "/")
      set(d "/${d}")
    else()
      set(rel "${d}")
      set(d "${LV_PC_PREFIX}/${d}")
    endif()
  endif()
  string(REGEX REPLACE "/+" "/" d "${d}")
  string(REGEX REPLACE "(.)/$" "\\1" d "${d}")
  if(rel)
    string(REGEX REPLACE "/+" "/" rel "${rel}")
    string(REGEX REPLACE "^/|/$" "" rel "${rel}")
    set(d "\${prefix}/${rel}")
  endif()
  set(LV_PC_${kind} "${d}")
endforeach()
foreach(pc licvault licvault-driver)
  configure_file("${LV_SRC}/${pc}.pc.in" "${LV_OUT}/${pc}.pc" @ONLY)
endforeach()
