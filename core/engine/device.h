// Choosing where the engine runs. LibTorch's CUDA part (libtorch_cuda.so) is not linked into our
// executables: it costs ~1 s of cold start and ~330 MB resident before main. It is dlopen()ed the
// first time a CUDA device is asked for; its static initialisers register CUDA with ATen.
#pragma once

#include <string>
#include <string_view>

#include <c10/core/Device.h>
#include <c10/core/ScalarType.h>

namespace ms {

// "cpu", "cuda", "cuda:N" or "auto" (CUDA when a GPU is usable, else the CPU).
// Throws UsageError for an unknown name, InputError when CUDA is asked for and is unusable
// (with the reason: no driver, no device, libtorch_cuda not loadable).
c10::Device resolve_device(std::string_view name);

// True when a CUDA device can be used (loads libtorch_cuda on first call when a driver exists).
bool cuda_available(std::string* why_not = nullptr);

// "fp32" | "bf16" (| "fp16" where the caller allows it). Throws UsageError otherwise.
c10::ScalarType resolve_dtype(std::string_view name);
std::string_view dtype_label(c10::ScalarType t);

// Human-readable device description for reports: "cpu (2 threads)", "cuda:0 (NVIDIA H100 ...)".
std::string describe_device(const c10::Device& device);

}  // namespace ms
