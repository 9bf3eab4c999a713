// kernels/cuda_stream.h on the static CUDA runtime. Every failure throws naming the call.
#include "kernels/cuda_stream.h"

#include "kernels/cuda_common.cuh"

namespace ms::kernels {
using cuda::check;

void cuda_set_device(int device) { check(cudaSetDevice(device), "cudaSetDevice"); }

int cuda_device_count() {
  int n = 0;
  if (cudaGetDeviceCount(&n) != cudaSuccess) return 0;
  return n;
}

std::string cuda_device_name(int device) {
  cudaDeviceProp prop{};
  if (cudaGetDeviceProperties(&prop, device) != cudaSuccess) {
    cudaGetLastError();  // clear it: a missing name is not an error for the caller
    return {};
  }
  return prop.name;
}

StreamHandle stream_create_nonblocking() {
  cudaStream_t s = nullptr;
  check(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking), "cudaStreamCreateWithFlags");
  return s;
}
void stream_destroy(StreamHandle s) { cudaStreamDestroy(static_cast<cudaStream_t>(s)); }
void stream_synchronize(StreamHandle s) {
  check(cudaStreamSynchronize(static_cast<cudaStream_t>(s)), "cudaStreamSynchronize");
}

EventHandle event_create() {
  cudaEvent_t e = nullptr;
  check(cudaEventCreateWithFlags(&e, cudaEventDisableTiming), "cudaEventCreateWithFlags");
  return e;
}
void event_destroy(EventHandle e) { cudaEventDestroy(static_cast<cudaEvent_t>(e)); }
void event_record(EventHandle e, StreamHandle stream) {
  check(cudaEventRecord(static_cast<cudaEvent_t>(e), static_cast<cudaStream_t>(stream)), "cudaEventRecord");
}
void stream_wait_event(StreamHandle stream, EventHandle e) {
  check(cudaStreamWaitEvent(static_cast<cudaStream_t>(stream), static_cast<cudaEvent_t>(e), 0),
        "cudaStreamWaitEvent");
}

void* pinned_alloc(std::size_t bytes) {
  void* p = nullptr;
  if (cudaHostAlloc(&p, bytes, cudaHostAllocPortable) != cudaSuccess) {
    cudaGetLastError();  // not sticky: clear it so the next call does not report it
    return nullptr;
  }
  return p;
}
void pinned_free(void* p) { cudaFreeHost(p); }

void copy_to_device_async(void* device_dst, const void* host_src, std::size_t bytes, StreamHandle s) {
  check(cudaMemcpyAsync(device_dst, host_src, bytes, cudaMemcpyHostToDevice, static_cast<cudaStream_t>(s)),
        "cudaMemcpyAsync (a layer's weights to the GPU)");
}

}  // namespace ms::kernels
