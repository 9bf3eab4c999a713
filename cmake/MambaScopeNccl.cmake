# NCCL for merging several GPUs' calibration statistics (core/engine/nccl_merge.cpp). The torch
# wheel ships it as nvidia/nccl/{include,lib} beside torch/ in site-packages: found from Torch's
# prefix, or from MAMBASCOPE_PYTHON's site-packages. Only its header is needed to build; the
# library is dlopen()ed at run time (LibTorch's CUDA part has usually loaded it already).
# MAMBASCOPE_NCCL: ON by default when CUDA is on and the header is found.
set(_nccl_hints "${TORCH_INSTALL_PREFIX}/../nvidia/nccl")
if(MAMBASCOPE_PYTHON)
  execute_process(COMMAND ${MAMBASCOPE_PYTHON} -c
                  "import nvidia.nccl as n; print(list(n.__path__)[0])"
                  OUTPUT_VARIABLE _nccl_py OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET)
  if(_nccl_py)
    list(APPEND _nccl_hints "${_nccl_py}")
  endif()
endif()
find_path(MAMBASCOPE_NCCL_INCLUDE_DIR nccl.h HINTS ${_nccl_hints} PATH_SUFFIXES include NO_DEFAULT_PATH)
find_library(MAMBASCOPE_NCCL_LIBRARY NAMES libnccl.so.2 nccl HINTS ${_nccl_hints} PATH_SUFFIXES lib
             NO_DEFAULT_PATH)
if(MAMBASCOPE_CUDA AND MAMBASCOPE_NCCL_INCLUDE_DIR AND MAMBASCOPE_NCCL_LIBRARY)
  set(_nccl_default ON)
else()
  set(_nccl_default OFF)
endif()
option(MAMBASCOPE_NCCL "Merge several GPUs' statistics through NCCL (needs CUDA and the wheel's NCCL)"
       ${_nccl_default})
if(MAMBASCOPE_NCCL AND NOT (MAMBASCOPE_CUDA AND MAMBASCOPE_NCCL_INCLUDE_DIR))
  message(FATAL_ERROR "MAMBASCOPE_NCCL needs MAMBASCOPE_CUDA and nccl.h (torch wheel's nvidia/nccl)")
endif()
message(STATUS "NCCL: ${MAMBASCOPE_NCCL} (${MAMBASCOPE_NCCL_INCLUDE_DIR})")
