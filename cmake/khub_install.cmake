# The installable khub (docs/cpp-api.md): libkhub shared (versioned soname) and static, made from
# the parts' objects; the public headers (include/khub/*.h) with exactly the internal headers they
# need (under include/khub/internal/); the kernel ABI and kernel support headers; the khub CLI and
# its completion scripts; a CMake package (find_package(khub CONFIG): khub::khub, khub::khub_static)
# and a pkg-config file (khub.pc).
include(GNUInstallDirs)

# The parts libkhub holds: everything a program using the public API needs. The CLI-only parts
# (builder, serve, cli) stay in the khub binary.
set(KHUB_LIBRARY_PARTS khub_core khub_io khub_ops khub_layers khub_models khub_loader khub_hub_ref
    khub_hub_source khub_hub_store khub_hub khub_hub_net khub_hub_locks khub_hub_http khub_kernelize
    khub_tokenizer khub_train)
set(khub_objects)
set(khub_static_parts)
foreach(part ${KHUB_LIBRARY_PARTS})
  list(APPEND khub_objects $<TARGET_OBJECTS:${part}>)
  get_target_property(type ${part} TYPE)
  if(NOT type STREQUAL "OBJECT_LIBRARY")
    list(APPEND khub_static_parts ${part})
  endif()
endforeach()

add_library(khub_shared SHARED ${khub_objects})
# The parts' own link requirements (system libraries); their archives add nothing, every symbol
# is already in the objects above.
target_link_libraries(khub_shared PRIVATE ${khub_static_parts})
set_target_properties(khub_shared PROPERTIES OUTPUT_NAME khub LINKER_LANGUAGE CXX
  VERSION ${PROJECT_VERSION}
  # 0.x: every minor version may break the ABI, so the soname carries it (libkhub.so.0.1).
  SOVERSION ${PROJECT_VERSION_MAJOR}.${PROJECT_VERSION_MINOR})
# Installed binaries keep the run path to libraries outside the prefix (the CUDA toolkit's cuBLAS).
set_target_properties(khub_shared khub PROPERTIES INSTALL_RPATH_USE_LINK_PATH TRUE)
add_library(khub_static STATIC ${khub_objects})
set_target_properties(khub_static PROPERTIES OUTPUT_NAME khub LINKER_LANGUAGE CXX)

# The internal headers the public ones include, transitively: found by following #include "..."
# from include/khub/*.h through src/ and include/ (configure time; a header change re-runs it).
file(GLOB khub_public_headers ${CMAKE_SOURCE_DIR}/include/khub/*.h
     ${CMAKE_SOURCE_DIR}/include/khub/*.cuh)
set(khub_todo ${khub_public_headers})
set(khub_seen)
set(khub_internal_headers)
while(khub_todo)
  list(POP_FRONT khub_todo header)
  if(header IN_LIST khub_seen)
    continue()
  endif()
  list(APPEND khub_seen ${header})
  set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS ${header})
  file(STRINGS ${header} includes REGEX "^#include \"")
  foreach(line ${includes})
    string(REGEX REPLACE "^#include \"([^\"]+)\".*" "\\1" inc "${line}")
    if(EXISTS ${CMAKE_SOURCE_DIR}/src/${inc})
      list(APPEND khub_todo ${CMAKE_SOURCE_DIR}/src/${inc})
      list(APPEND khub_internal_headers ${inc})
    elseif(EXISTS ${CMAKE_SOURCE_DIR}/include/${inc})
      list(APPEND khub_todo ${CMAKE_SOURCE_DIR}/include/${inc})
    else()
      message(FATAL_ERROR "${header} includes \"${inc}\", which is neither in src/ nor include/")
    endif()
  endforeach()
endwhile()
list(REMOVE_DUPLICATES khub_internal_headers)

install(TARGETS khub_shared LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR})
install(TARGETS khub_static ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR})
install(TARGETS khub RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
install(FILES ${khub_public_headers} DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/khub)
foreach(inc ${khub_internal_headers})
  get_filename_component(dir ${inc} DIRECTORY)
  install(FILES ${CMAKE_SOURCE_DIR}/src/${inc}
          DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/khub/internal/${dir})
endforeach()
# The kernel support headers kernels/ build against (SIMD helpers, argument unpacking, CUDA ABI
# glue): for kernel projects outside this tree (include = ["PREFIX/include/khub/kernel-support"]).
install(DIRECTORY ${CMAKE_SOURCE_DIR}/kernels/common/
        DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/khub/kernel-support
        FILES_MATCHING PATTERN "*.h" PATTERN "*.cuh")
install(FILES ${CMAKE_BINARY_DIR}/share/bash-completion/completions/khub
        DESTINATION ${CMAKE_INSTALL_DATADIR}/bash-completion/completions)
install(FILES ${CMAKE_BINARY_DIR}/share/zsh/site-functions/_khub
        DESTINATION ${CMAKE_INSTALL_DATADIR}/zsh/site-functions)

# The static library's link line: the system libraries of the parts, as pkg-config modules (for
# khub.pc) and as what khub-config.cmake finds again. CUDA builds add the CUDA runtime and cuBLAS.
set(KHUB_PC_REQUIRES_PRIVATE "nlohmann_json openblas libcrypto libcurl libsodium libpcre2-8 libutf8proc tomlplusplus")
set(KHUB_PC_LIBS_PRIVATE "-ldl -pthread")
set(KHUB_CONFIG_CUDA "${KHUB_HAVE_CUDA}")
if(KHUB_HAVE_CUDA)
  string(APPEND KHUB_PC_LIBS_PRIVATE
         " -L${CUDAToolkit_LIBRARY_DIR} -lcudart_static -lcublas -lrt")
endif()
set(KHUB_INSTALL_LIBDIR ${CMAKE_INSTALL_LIBDIR})
set(KHUB_INSTALL_INCLUDEDIR ${CMAKE_INSTALL_INCLUDEDIR})
configure_file(${CMAKE_SOURCE_DIR}/cmake/khub.pc.in ${CMAKE_BINARY_DIR}/khub.pc @ONLY)
configure_file(${CMAKE_SOURCE_DIR}/cmake/khub-config.cmake.in
               ${CMAKE_BINARY_DIR}/cmake/khub-config.cmake @ONLY)
include(CMakePackageConfigHelpers)
write_basic_package_version_file(${CMAKE_BINARY_DIR}/cmake/khub-config-version.cmake
                                 COMPATIBILITY SameMinorVersion)
install(FILES ${CMAKE_BINARY_DIR}/khub.pc DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)
install(FILES ${CMAKE_BINARY_DIR}/cmake/khub-config.cmake
              ${CMAKE_BINARY_DIR}/cmake/khub-config-version.cmake
        DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/khub)
