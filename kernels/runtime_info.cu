// Small runtime queries the engine and the benchmark need from the CUDA runtime we link.
#include "kernels/cuda_common.cuh"

namespace ms::kernels {

bool gpu_memory_in_use(int64_t* bytes) {
  size_t free_b = 0, total_b = 0;
  if (cudaMemGetInfo(&free_b, &total_b) != cudaSuccess) return false;
  *bytes = static_cast<int64_t>(total_b - free_b);
  return true;
}

void cuda_synchronize() { cuda::check(cudaDeviceSynchronize(), "cudaDeviceSynchronize"); }

}  // namespace ms::kernels
