// The Walsh–Hadamard rotation on the GPU (kernels/fwht.h), checked against fwht_ref.
#include "kernels/fwht.h"

#include <stdexcept>
#include <string>

#include <cuda_runtime.h>

namespace ms::kernels {
namespace {

constexpr int kThreads = 256;
constexpr int64_t kMaxN = 12288;  // 48 KiB of shared memory, no opt-in needed

// One block per row. The row sits in shared memory; each stage pairs element j with j + h inside
// blocks of 2h of every k-segment (n/2 pairs, strided over the threads); the k-point mix reads
// shared memory and writes global memory directly, so y may alias x.
__global__ void fwht_kernel(const float* __restrict__ x, float* y, const float* __restrict__ hk,
                            int n, int k, int p, float scale) {
  extern __shared__ float s[];
  const int64_t row = blockIdx.x;
  const float* xr = x + row * n;
  for (int i = threadIdx.x; i < n; i += blockDim.x) s[i] = xr[i];
  __syncthreads();
  const int half = p / 2;
  for (int h = 1; h < p; h *= 2) {
    for (int t = threadIdx.x; t < n / 2; t += blockDim.x) {
      const int seg = t / half, j = t % half;
      const int i0 = seg * p + (j / h) * 2 * h + (j % h);
      const float u = s[i0], v = s[i0 + h];
      s[i0] = u + v;
      s[i0 + h] = u - v;
    }
    __syncthreads();
  }
  float* yr = y + row * n;
  for (int i = threadIdx.x; i < n; i += blockDim.x) {
    const int c = i / p, d = i % p;
    float acc;
    if (k == 1) {
      acc = s[d];
    } else {
      acc = 0.0f;
      for (int q = 0; q < k; ++q) acc = fmaf(hk[q * k + c], s[q * p + d], acc);
    }
    yr[i] = acc * scale;
  }
}

}  // namespace

void fwht_cuda(const FwhtArgs& a, void* stream) {
  if (a.k < 1 || a.n % a.k != 0 || a.n > kMaxN)
    throw std::runtime_error("fwht_cuda: n = " + std::to_string(a.n) + " must be k·2^m and at most " +
                             std::to_string(kMaxN));
  const int64_t p = a.n / a.k;
  if ((p & (p - 1)) != 0) throw std::runtime_error("fwht_cuda: n / k must be a power of two");
  if (a.k > 1 && !a.hk) throw std::runtime_error("fwht_cuda: k > 1 needs the base matrix (on the device)");
  if (a.rows == 0) return;
  fwht_kernel<<<static_cast<unsigned>(a.rows), kThreads, static_cast<size_t>(a.n) * sizeof(float),
                static_cast<cudaStream_t>(stream)>>>(a.x, a.y, a.hk, int(a.n), int(a.k), int(p), a.scale);
  const cudaError_t e = cudaGetLastError();
  if (e != cudaSuccess) throw std::runtime_error(std::string("fwht_cuda: ") + cudaGetErrorString(e));
}

}  // namespace ms::kernels
