#include "core/engine/device.h"

#include <dlfcn.h>
#include <unistd.h>

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <ATen/detail/CUDAHooksInterface.h>

#include "core/util/error.h"
#include "kernels/cuda_stream.h"

namespace ms {
namespace {

struct CudaProbe {
  bool ok = false;
  std::string why;
};

CudaProbe probe_cuda() {
  CudaProbe p;
  // No driver device node: don't even try to load 500 MB of CUDA libraries.
  if (access("/dev/nvidiactl", F_OK) != 0 && access("/dev/nvidia0", F_OK) != 0) {
    p.why = "no NVIDIA driver or GPU found on this machine";
    return p;
  }
  void* handle = dlopen(MAMBASCOPE_TORCH_LIBDIR "/libtorch_cuda.so", RTLD_NOW | RTLD_GLOBAL);
  if (!handle) handle = dlopen("libtorch_cuda.so", RTLD_NOW | RTLD_GLOBAL);
  if (!handle) {
    p.why = std::string("cannot load libtorch_cuda.so: ") + dlerror();
    return p;
  }
  try {
    if (!at::detail::getCUDAHooks().hasCUDA()) {
      p.why = "LibTorch sees no usable CUDA device (driver too old for CUDA 13, or no GPU)";
      return p;
    }
  } catch (const std::exception& e) {
    p.why = std::string("CUDA initialisation failed: ") + e.what();
    return p;
  }
  p.ok = true;
  return p;
}

const CudaProbe& cuda_probe() {
  static const CudaProbe probe = probe_cuda();  // thread-safe, once per process
  return probe;
}

}  // namespace

bool cuda_available(std::string* why_not) {
  const CudaProbe& p = cuda_probe();
  if (!p.ok && why_not) *why_not = p.why;
  return p.ok;
}

c10::Device resolve_device(std::string_view name) {
  if (name == "cpu") return c10::Device(c10::kCPU);
  if (name == "auto") return cuda_available() ? c10::Device(c10::kCUDA, 0) : c10::Device(c10::kCPU);
  if (name == "cuda" || name.starts_with("cuda:")) {
    std::string why;
    if (!cuda_available(&why)) throw InputError("--device " + std::string(name), why);
    int index = 0;
    if (name.size() > 5) {
      try {
        index = std::stoi(std::string(name.substr(5)));
      } catch (...) {
        throw UsageError("--device: bad CUDA index in '" + std::string(name) + "'");
      }
    }
    int count = static_cast<int>(at::detail::getCUDAHooks().deviceCount());
    if (index < 0 || index >= count)
      throw InputError("--device " + std::string(name),
                       "no such GPU (" + std::to_string(count) + " visible)");
    return c10::Device(c10::kCUDA, static_cast<c10::DeviceIndex>(index));
  }
  throw UsageError("--device must be cpu, cuda, cuda:N or auto (got '" + std::string(name) + "')");
}

c10::ScalarType resolve_dtype(std::string_view name) {
  if (name == "fp32" || name == "float32") return at::kFloat;
  if (name == "bf16" || name == "bfloat16") return at::kBFloat16;
  if (name == "fp16" || name == "float16") return at::kHalf;
  throw UsageError("--dtype must be fp32 or bf16 (got '" + std::string(name) + "')");
}

std::string_view dtype_label(c10::ScalarType t) {
  switch (t) {
    case at::kFloat: return "fp32";
    case at::kBFloat16: return "bf16";
    case at::kHalf: return "fp16";
    default: return "?";
  }
}

std::string describe_device(const c10::Device& device) {
  if (device.is_cpu()) return "cpu (" + std::to_string(at::get_num_threads()) + " threads)";
  // Every GPU figure names its card: "cuda:0 (NVIDIA H100 80GB HBM3)".
  const std::string name = device.is_cuda() ? kernels::cuda_device_name(device.has_index() ? device.index() : 0) : "";
  return name.empty() ? device.str() : device.str() + " (" + name + ")";
}

}  // namespace ms
