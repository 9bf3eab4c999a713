# Third-party dependencies, found once for every target. Each is justified in README.md.
#
# MAMBASCOPE_DEPS_PREFIX: a folder of Debian packages unpacked with `dpkg -x` (packaging/gpu-deps.sh
# makes it). The GPU host has no package registry, so header-only JSON/CLI11 and utf8proc travel
# there this way.
set(MAMBASCOPE_DEPS_PREFIX "${CMAKE_SOURCE_DIR}/.deps/root" CACHE PATH "Unpacked Debian packages (GPU host)")
if(EXISTS "${MAMBASCOPE_DEPS_PREFIX}/usr")
  list(APPEND CMAKE_PREFIX_PATH "${MAMBASCOPE_DEPS_PREFIX}/usr"
       "${MAMBASCOPE_DEPS_PREFIX}/usr/lib/x86_64-linux-gnu/cmake"
       "${MAMBASCOPE_DEPS_PREFIX}/usr/share/cmake")
endif()

find_package(nlohmann_json 3.10 REQUIRED)
find_package(CLI11 REQUIRED)

find_path(UTF8PROC_INCLUDE_DIR utf8proc.h HINTS "${MAMBASCOPE_DEPS_PREFIX}/usr/include")
find_library(UTF8PROC_LIBRARY NAMES utf8proc
             HINTS "${MAMBASCOPE_DEPS_PREFIX}/usr/lib/x86_64-linux-gnu")
if(NOT UTF8PROC_INCLUDE_DIR OR NOT UTF8PROC_LIBRARY)
  message(FATAL_ERROR "utf8proc not found: install libutf8proc-dev (packaging/setup.sh does)")
endif()
add_library(utf8proc::utf8proc UNKNOWN IMPORTED)
set_target_properties(utf8proc::utf8proc PROPERTIES IMPORTED_LOCATION "${UTF8PROC_LIBRARY}"
                      INTERFACE_INCLUDE_DIRECTORIES "${UTF8PROC_INCLUDE_DIR}")

# LibTorch from the pinned `torch` wheel (packaging/setup.sh passes its share/cmake as
# CMAKE_PREFIX_PATH). We link only torch_cpu + c10: torch_cuda costs ~1 s of cold start and
# ~330 MB before main, so it is dlopen()ed at run time when a GPU is asked for (core/engine/device.cpp).
# Torch's CUDA config probes the local GPU with try_run unless told the architectures; the CPU
# machines have none, so name them (H100/H200 = 9.0, plus users' 8.0/8.9 cards).
if(NOT DEFINED TORCH_CUDA_ARCH_LIST AND NOT DEFINED ENV{TORCH_CUDA_ARCH_LIST})
  set(TORCH_CUDA_ARCH_LIST "8.0;8.9;9.0")
endif()
find_package(Torch REQUIRED)
get_filename_component(MAMBASCOPE_TORCH_LIBDIR "${TORCH_INSTALL_PREFIX}/lib" ABSOLUTE)
add_library(mambascope_torch INTERFACE)
target_link_libraries(mambascope_torch INTERFACE torch_cpu c10)
target_include_directories(mambascope_torch SYSTEM INTERFACE ${TORCH_INCLUDE_DIRS})
target_compile_definitions(mambascope_torch INTERFACE
  MAMBASCOPE_TORCH_LIBDIR="${MAMBASCOPE_TORCH_LIBDIR}")
separate_arguments(_torch_flags UNIX_COMMAND "${TORCH_CXX_FLAGS}")
target_compile_options(mambascope_torch INTERFACE ${_torch_flags})
