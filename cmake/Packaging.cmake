# Install rules and Debian packages (CPack). `cmake --build build --target package` (or `cpack -G DEB`
# in a build directory whose binaries are built) writes into build/packages/:
#
#   mambascope           the Qt application, desktop entry, icons, AppStream metadata, man page
#   mambascope-cli       the headless tool and its man page
#   mambascope-data      the demo models and the texts (architecture: all)
#   mambascope-libtorch  a private copy of LibTorch's CPU libraries in /usr/lib/mambascope
#   mambascope-cuda      (only with -DMAMBASCOPE_PACKAGE_CUDA=ON) torch_cuda and NVIDIA's CUDA 13
#                        libraries, beside the CPU part; the CLI dlopen()s torch_cuda when asked for
#                        a GPU (core/engine/device.cpp), so installing this package is all it takes
#
# Why a private LibTorch: Debian's libtorch is 1.13 and nothing else packages 2.11; a pip install is
# not something a .deb can depend on. Its libraries keep the wheel's layout (torch/lib beside
# nvidia/cu13/lib) so that their own RUNPATHs ($ORIGIN/../../nvidia/...) hold without patching.
# README.md ("Install") has the sizes.
include(GNUInstallDirs)

option(MAMBASCOPE_PACKAGE_CUDA "Also package torch_cuda and the CUDA 13 libraries (several GB)" OFF)

set(MS_PRIVATE_LIBDIR "${CMAKE_INSTALL_LIBDIR}/mambascope")   # lib/mambascope, relative to the prefix
set(MS_TORCH_DEST "${MS_PRIVATE_LIBDIR}/torch/lib")
get_filename_component(MS_NVIDIA_DIR "${MAMBASCOPE_TORCH_LIBDIR}/../../nvidia" ABSOLUTE)
set(MS_PACKAGING_DIR "${CMAKE_SOURCE_DIR}/packaging")

# --- The command-line tool and the CPU part of LibTorch -------------------------------------------
set_target_properties(mambascope-cli PROPERTIES INSTALL_RPATH "\$ORIGIN/../${MS_TORCH_DEST}")
install(TARGETS mambascope-cli RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR} COMPONENT cli)

# The wheel's torch_cpu of a CUDA build needs cudart and cupti to load at all (they are small and
# NVIDIA allows redistributing them); a CPU-only wheel has neither, so they are optional here.
install(FILES "${MAMBASCOPE_TORCH_LIBDIR}/libtorch_cpu.so" "${MAMBASCOPE_TORCH_LIBDIR}/libc10.so"
              "${MAMBASCOPE_TORCH_LIBDIR}/libgomp.so.1"
        DESTINATION ${MS_TORCH_DEST} COMPONENT libtorch)
foreach(_lib libcudart.so.13 libcupti.so.13)
  if(EXISTS "${MS_NVIDIA_DIR}/cu13/lib/${_lib}")
    install(FILES "${MS_NVIDIA_DIR}/cu13/lib/${_lib}" DESTINATION "${MS_PRIVATE_LIBDIR}/nvidia/cu13/lib"
            COMPONENT libtorch)
  endif()
endforeach()
# The wheel ships torch's libraries unstripped (NVIDIA's are stripped): stripping torch_cpu takes it
# from 451 MB to 358 MB. CPACK_STRIP_FILES strips only our targets, so the copies are stripped where
# they were staged (each component is staged alone, so this touches only that component's files).
set(MS_STRIP_TORCH_CODE "
  file(GLOB _ms_libs \"\$ENV{DESTDIR}\${CMAKE_INSTALL_PREFIX}/${MS_TORCH_DEST}/*.so*\")
  foreach(_l \${_ms_libs})
    execute_process(COMMAND \"${CMAKE_STRIP}\" --strip-unneeded \"\${_l}\" COMMAND_ERROR_IS_FATAL ANY)
  endforeach()")
install(CODE "${MS_STRIP_TORCH_CODE}" COMPONENT libtorch)

# --- The application ------------------------------------------------------------------------------
set(MS_APP_ID io.github.mambascope.MambaScope)
if(TARGET mambascope)
  install(TARGETS mambascope RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR} COMPONENT gui)
  install(FILES "${CMAKE_SOURCE_DIR}/resources/desktop/${MS_APP_ID}.desktop"
          DESTINATION ${CMAKE_INSTALL_DATADIR}/applications COMPONENT gui)
  install(FILES "${CMAKE_SOURCE_DIR}/resources/desktop/${MS_APP_ID}.metainfo.xml"
          DESTINATION ${CMAKE_INSTALL_DATADIR}/metainfo COMPONENT gui)
  install(FILES "${CMAKE_SOURCE_DIR}/resources/icons/mambascope.svg"
          DESTINATION ${CMAKE_INSTALL_DATADIR}/icons/hicolor/scalable/apps RENAME ${MS_APP_ID}.svg COMPONENT gui)
  foreach(_size 16 24 32 48 64 128 256 512)
    install(FILES "${CMAKE_SOURCE_DIR}/resources/icons/mambascope-${_size}.png"
            DESTINATION ${CMAKE_INSTALL_DATADIR}/icons/hicolor/${_size}x${_size}/apps RENAME ${MS_APP_ID}.png
            COMPONENT gui)
  endforeach()
endif()

# --- Man pages, generated from --help by help2man at install time (so they never go stale) --------
find_program(HELP2MAN_PROGRAM help2man)
if(HELP2MAN_PROGRAM)
  set(_man_dir "\$ENV{DESTDIR}\${CMAKE_INSTALL_PREFIX}/${CMAKE_INSTALL_MANDIR}/man1")
  install(CODE "execute_process(COMMAND \"${MS_PACKAGING_DIR}/make-man.sh\" \"$<TARGET_FILE:mambascope-cli>\" \"${_man_dir}\"
                COMMAND_ERROR_IS_FATAL ANY)" COMPONENT cli)
  if(TARGET mambascope)
    install(CODE "execute_process(COMMAND \"${MS_PACKAGING_DIR}/make-man.sh\" \"$<TARGET_FILE:mambascope>\" \"${_man_dir}\"
                  COMMAND_ERROR_IS_FATAL ANY)" COMPONENT gui)
  endif()
else()
  message(STATUS "help2man not found: packages will have no man pages (apt-get install help2man)")
endif()

# --- Shared data: demo models and texts, found by app/data_dir.cpp as <bin>/../share/mambascope ---
# Explicit modes: a checkout may hold the weights as 0600 (git keeps only the executable bit), and
# a package must let every user read them.
install(DIRECTORY "${CMAKE_SOURCE_DIR}/resources/models/" DESTINATION ${CMAKE_INSTALL_DATADIR}/mambascope/models
        COMPONENT data FILE_PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ WORLD_READ
        DIRECTORY_PERMISSIONS OWNER_READ OWNER_WRITE OWNER_EXECUTE GROUP_READ GROUP_EXECUTE WORLD_READ WORLD_EXECUTE)
# The texts are extracted by packaging/setup.sh, not committed: a package without them is refused.
install(CODE "
  foreach(_t austen.txt moby-dick.txt)
    if(NOT EXISTS \"${CMAKE_SOURCE_DIR}/resources/texts/\${_t}\")
      message(FATAL_ERROR \"resources/texts/\${_t} is missing: run resources/training/extract_texts.sh first\")
    endif()
  endforeach()" COMPONENT data)
install(FILES "${CMAKE_SOURCE_DIR}/resources/texts/austen.txt" "${CMAKE_SOURCE_DIR}/resources/texts/moby-dick.txt"
        DESTINATION ${CMAKE_INSTALL_DATADIR}/mambascope/texts COMPONENT data OPTIONAL
        PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ WORLD_READ)

# --- The optional CUDA part -----------------------------------------------------------------------
if(MAMBASCOPE_PACKAGE_CUDA)
  if(NOT EXISTS "${MAMBASCOPE_TORCH_LIBDIR}/libtorch_cuda.so")
    message(FATAL_ERROR "MAMBASCOPE_PACKAGE_CUDA: ${MAMBASCOPE_TORCH_LIBDIR} has no libtorch_cuda.so (a CPU-only torch?)")
  endif()
  install(FILES "${MAMBASCOPE_TORCH_LIBDIR}/libtorch_cuda.so" "${MAMBASCOPE_TORCH_LIBDIR}/libc10_cuda.so"
                "${MAMBASCOPE_TORCH_LIBDIR}/libtorch_cuda_linalg.so" "${MAMBASCOPE_TORCH_LIBDIR}/libtorch_nvshmem.so"
                "${MAMBASCOPE_TORCH_LIBDIR}/libcaffe2_nvrtc.so"
          DESTINATION ${MS_TORCH_DEST} COMPONENT cuda)
  # Every shared library of the nvidia/ tree except the two the CPU package already has.
  install(DIRECTORY "${MS_NVIDIA_DIR}/" DESTINATION "${MS_PRIVATE_LIBDIR}/nvidia" COMPONENT cuda
          FILES_MATCHING PATTERN "*.so*"
          PATTERN "libcudart.so.13" EXCLUDE PATTERN "libcupti.so.13" EXCLUDE
          PATTERN "include" EXCLUDE PATTERN "__pycache__" EXCLUDE)
  install(CODE "${MS_STRIP_TORCH_CODE}" COMPONENT cuda)
endif()

# --- Copyright files (Debian policy 12.5: /usr/share/doc/<package>/copyright in every package) ---
# One text for all (packaging/copyright/mambascope); the bundled third-party parts add their own
# licence texts, taken from the wheels they come from.
set(_ms_doc_packages "cli:mambascope-cli" "libtorch:mambascope-libtorch" "data:mambascope-data")
if(TARGET mambascope)
  list(APPEND _ms_doc_packages "gui:mambascope")
endif()
if(MAMBASCOPE_PACKAGE_CUDA)
  list(APPEND _ms_doc_packages "cuda:mambascope-cuda")
endif()
foreach(_comp_pkg ${_ms_doc_packages})
  string(REPLACE ":" ";" _comp_pkg "${_comp_pkg}")
  list(GET _comp_pkg 0 _comp)
  list(GET _comp_pkg 1 _pkg)
  install(FILES "${CMAKE_SOURCE_DIR}/packaging/copyright/mambascope" RENAME copyright
          DESTINATION ${CMAKE_INSTALL_DATAROOTDIR}/doc/${_pkg} COMPONENT ${_comp})
endforeach()
get_filename_component(_ms_site "${MAMBASCOPE_TORCH_LIBDIR}/../.." ABSOLUTE)
file(GLOB _ms_torch_licences "${_ms_site}/torch-*.dist-info/licenses/LICENSE"
                             "${_ms_site}/torch-*.dist-info/licenses/NOTICE")
foreach(_f ${_ms_torch_licences})
  get_filename_component(_n "${_f}" NAME)
  install(FILES "${_f}" RENAME "torch-${_n}" DESTINATION ${CMAKE_INSTALL_DATAROOTDIR}/doc/mambascope-libtorch
          COMPONENT libtorch)
endforeach()
# NVIDIA's licence: the CPU package bundles cudart and cupti (torch_cpu needs them to load), the
# CUDA package the rest of the runtime.
file(GLOB _ms_nv_licence "${_ms_site}/nvidia_cuda_runtime*.dist-info/licenses/License.txt")
if(_ms_nv_licence)
  install(FILES ${_ms_nv_licence} RENAME NVIDIA-License.txt
          DESTINATION ${CMAKE_INSTALL_DATAROOTDIR}/doc/mambascope-libtorch COMPONENT libtorch)
  if(MAMBASCOPE_PACKAGE_CUDA)
    install(FILES ${_ms_nv_licence} RENAME NVIDIA-License.txt
            DESTINATION ${CMAKE_INSTALL_DATAROOTDIR}/doc/mambascope-cuda COMPONENT cuda)
  endif()
endif()

# --- CPack: one .deb per component ----------------------------------------------------------------
set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME mambascope)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_VENDOR "MambaScope")
# No public address exists yet: .invalid is reserved for exactly that (set it before a release).
set(CPACK_PACKAGE_CONTACT "MambaScope maintainers <maintainers@mambascope.invalid>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "Inspect and quantize Mamba state-space language models")
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_OUTPUT_FILE_PREFIX "${CMAKE_BINARY_DIR}/packages")
set(CPACK_STRIP_FILES ON)
set(CPACK_DEB_COMPONENT_INSTALL ON)
set(CPACK_COMPONENTS_ALL cli libtorch data)
if(TARGET mambascope)
  list(APPEND CPACK_COMPONENTS_ALL gui)
endif()
if(MAMBASCOPE_PACKAGE_CUDA)
  list(APPEND CPACK_COMPONENTS_ALL cuda)
endif()
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION science)
# xz: torch_cpu compresses from 358 MB to about a quarter (README.md has the measured sizes).
set(CPACK_DEBIAN_COMPRESSION_TYPE xz)
set(CPACK_THREADS 0)

# Dependencies are written out rather than computed by dpkg-shlibdeps so that Ubuntu 24.04's
# renamed packages (the 64-bit time_t transition added "t64") can stand as alternatives; those
# alternatives are untested. tests/packaging/check_debs.sh runs dpkg-shlibdeps on the staged
# binaries and fails when it finds a Debian 12 package these lists do not name.
set(_ms_base "libc6 (>= 2.36), libstdc++6 (>= 12), libgcc-s1")
set(_ms_utf8proc "libutf8proc2 (>= 2.8) | libutf8proc3")
set(_ms_same "(= ${PROJECT_VERSION})")

set(CPACK_DEBIAN_GUI_PACKAGE_NAME mambascope)
# Beyond what the binary links: Qt's platform plugins (xcb, and wayland with qt6-wayland), libGL.so.1
# that Dear ImGui's OpenGL3 backend dlopen()s itself, and the DejaVu fonts the views load.
set(CPACK_DEBIAN_GUI_PACKAGE_DEPENDS
    "${_ms_base}, libqt6core6 (>= 6.4) | libqt6core6t64, libqt6gui6 (>= 6.4) | libqt6gui6t64, libqt6widgets6 (>= 6.4) | libqt6widgets6t64, libqt6opengl6 (>= 6.4) | libqt6opengl6t64, qt6-qpa-plugins, libgl1, libstb0 | libstb0t64, fonts-dejavu-core, mambascope-data ${_ms_same}, mambascope-cli ${_ms_same}")
# The application stays torch-free and calibrates by running mambascope-cli from its own directory
# (app/calibration_process.cpp), hence the hard dependency.
set(CPACK_DEBIAN_GUI_PACKAGE_RECOMMENDS "libgl1-mesa-dri")
set(CPACK_DEBIAN_GUI_PACKAGE_SUGGESTS "qt6-wayland")
set(CPACK_COMPONENT_GUI_DESCRIPTION "Inspect and quantize Mamba state-space language models (application)
 MambaScope opens Mamba, Falcon-Mamba and Mamba-2 checkpoints, shows their layers,
 quant points and tensors, and plots calibration statistics such as per-channel
 activation maxima. It opens a small demo model when started without one.")

set(CPACK_DEBIAN_CLI_PACKAGE_NAME mambascope-cli)
set(CPACK_DEBIAN_CLI_PACKAGE_DEPENDS "${_ms_base}, ${_ms_utf8proc}, mambascope-libtorch ${_ms_same}")
set(CPACK_DEBIAN_CLI_PACKAGE_RECOMMENDS "mambascope-data ${_ms_same}")
set(CPACK_DEBIAN_CLI_PACKAGE_SUGGESTS "mambascope-cuda ${_ms_same}")
set(CPACK_COMPONENT_CLI_DESCRIPTION "Inspect and quantize Mamba language models (command line)
 mambascope-cli reads checkpoints, tokenizes, computes logits and perplexity,
 generates text, collects calibration statistics and exports round-to-nearest
 quantized checkpoints, headless. It runs on the CPU; with mambascope-cuda
 installed and an NVIDIA GPU present, --device cuda uses the GPU.")

set(CPACK_DEBIAN_DATA_PACKAGE_NAME mambascope-data)
set(CPACK_DEBIAN_DATA_PACKAGE_ARCHITECTURE all)
set(CPACK_COMPONENT_DATA_DESCRIPTION "Demo models and texts for MambaScope
 Two small Mamba and Mamba-2 models trained on Jane Austen's novels, with their
 tokenizer, plus the novels and Moby Dick (public domain) for calibration and
 held-out perplexity.")

set(CPACK_DEBIAN_LIBTORCH_PACKAGE_NAME mambascope-libtorch)
set(CPACK_DEBIAN_LIBTORCH_PACKAGE_DEPENDS "${_ms_base}")
set(CPACK_COMPONENT_LIBTORCH_DESCRIPTION "LibTorch CPU runtime, private to MambaScope
 The CPU libraries of LibTorch ${Torch_VERSION} (torch_cpu, c10, its OpenMP runtime, and the
 two small CUDA runtime stubs torch_cpu links), installed in /usr/lib/mambascope.")

set(CPACK_DEBIAN_CUDA_PACKAGE_NAME mambascope-cuda)
set(CPACK_DEBIAN_CUDA_PACKAGE_DEPENDS "mambascope-libtorch ${_ms_same}")
set(CPACK_DEBIAN_CUDA_PACKAGE_SUGGESTS "nvidia-driver (>= 580)")
set(CPACK_COMPONENT_CUDA_DESCRIPTION "CUDA support for MambaScope (NVIDIA GPUs)
 torch_cuda and NVIDIA's CUDA 13 libraries (cuBLAS, cuDNN, cuFFT, NCCL, ...),
 loaded by mambascope-cli at run time when a GPU is asked for. Needs an NVIDIA
 driver for CUDA 13 (580 or newer).")

include(CPack)
