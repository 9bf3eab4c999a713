// Built instead of the .cu files when MAMBASCOPE_CUDA is OFF: the CUDA entry points exist (so
// core links the same way everywhere) and say why they cannot run.
#include <stdexcept>
#include <string>

#include "kernels/calib_kernels.h"

namespace ms::kernels {
namespace {
[[noreturn]] void unavailable(const char* what) {
  throw std::runtime_error(std::string(what) + ": this build has no CUDA kernels "
                           "(configure with -DMAMBASCOPE_CUDA=ON and a CUDA toolkit)");
}
}  // namespace

bool cuda_kernels_built() { return false; }
void channel_stats_cuda(const void*, DataType, int64_t, int64_t, int64_t, const ChannelStats&, void*) {
  unavailable("channel_stats");
}
void conv1d_silu_cuda(const ConvArgs&, void*) { unavailable("conv1d_silu"); }
void scan_m1_cuda(const ScanM1Args&, void*) { unavailable("scan_m1"); }
void scan_m2_cuda(const ScanM2Args&, void*) { unavailable("scan_m2"); }

}  // namespace ms::kernels

namespace ms::kernels {
bool gpu_memory_in_use(int64_t*) { return false; }
void cuda_synchronize() {}
}  // namespace ms::kernels

namespace ms::kernels {
void residual_rmsnorm_cuda(const NormArgs&, void*) { throw std::runtime_error("residual_rmsnorm: this build has no CUDA kernels"); }
}  // namespace ms::kernels

#include "kernels/fwht.h"
namespace ms::kernels {
void fwht_cuda(const FwhtArgs&, void*) { throw std::runtime_error("fwht: this build has no CUDA kernels"); }
}  // namespace ms::kernels

#include "kernels/scan_quant.h"
namespace ms::kernels {
void scan_quant_m1_cuda(const ScanQuantM1Args&, void*) { throw std::runtime_error("scan_quant_m1: this build has no CUDA kernels"); }
void scan_quant_m2_cuda(const ScanQuantM2Args&, void*) { throw std::runtime_error("scan_quant_m2: this build has no CUDA kernels"); }
int scan_quant_cluster_limit() { return 1; }
}  // namespace ms::kernels

#include "kernels/cuda_stream.h"
namespace ms::kernels {
namespace {
[[noreturn]] void no_runtime(const char* what) {
  throw std::runtime_error(std::string(what) + ": this build has no CUDA runtime");
}
}  // namespace
void cuda_set_device(int) { no_runtime("cudaSetDevice"); }
int cuda_device_count() { return 0; }
std::string cuda_device_name(int) { return {}; }
StreamHandle stream_create_nonblocking() { no_runtime("cudaStreamCreate"); }
void stream_destroy(StreamHandle) {}
void stream_synchronize(StreamHandle) {}
EventHandle event_create() { no_runtime("cudaEventCreate"); }
void event_destroy(EventHandle) {}
void event_record(EventHandle, StreamHandle) { no_runtime("cudaEventRecord"); }
void stream_wait_event(StreamHandle, EventHandle) { no_runtime("cudaStreamWaitEvent"); }
void* pinned_alloc(std::size_t) { return nullptr; }
void pinned_free(void*) {}
void copy_to_device_async(void*, const void*, std::size_t, StreamHandle) { no_runtime("cudaMemcpyAsync"); }
}  // namespace ms::kernels
