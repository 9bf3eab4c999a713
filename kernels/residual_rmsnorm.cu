// Residual add + RMSNorm + the statistics of the normed output, one pass (kernels/calib_kernels.h).
// A block of 256 threads walks a run of rows (about two blocks per SM); thread t owns columns t, t + 256, ... (CPT of
// them), keeps each column's running statistics in registers across its rows, and merges them
// into the global accumulators once at the end. The row's sum of squares meets through a
// warp-shuffle + shared-memory reduction. This replaces the ~11 ATen kernels (casts, pow, mean,
// rsqrt, products, the residual add) and the separate statistics pass of the unfused path.
#include <algorithm>

#include "kernels/cuda_common.cuh"

namespace ms::kernels {
namespace cuda {
namespace {

constexpr int kThreads = 256;

template <typename T> __device__ __forceinline__ float load_as(const void* p, int64_t i, bool f32) {
  return f32 ? static_cast<const float*>(p)[i] : to_f(static_cast<const T*>(p)[i]);
}

template <typename T, int CPT>
__global__ void __launch_bounds__(kThreads) residual_rmsnorm_kernel(NormArgs a, bool residual_f32, int64_t rows_per_block) {
  __shared__ float warp_sums[kThreads / 32];
  __shared__ BlockHist shist;
  const int tid = threadIdx.x;
  const bool want_stats = a.h_stats.absmax != nullptr, want_hist = a.h_stats.hist != nullptr;
  hist_init(shist, tid, kThreads);
  const T* out = static_cast<const T*>(a.out);
  const T* weight = static_cast<const T*>(a.weight);
  T* h = static_cast<T*>(a.h);
  float w[CPT];
#pragma unroll
  for (int j = 0; j < CPT; ++j) {
    const int64_t c = tid + int64_t(j) * kThreads;
    w[j] = c < a.d ? to_f(weight[c]) : 0.0f;
  }
  ChannelAcc acc[CPT];
  const int64_t r0 = int64_t(blockIdx.x) * rows_per_block;
  for (int64_t r = r0; r < r0 + rows_per_block && r < a.rows; ++r) {
    float xf[CPT];
    float ss = 0.0f;
#pragma unroll
    for (int j = 0; j < CPT; ++j) {
      const int64_t c = tid + int64_t(j) * kThreads, i = r * a.d + c;
      float v = 0.0f;
      if (c < a.d) {
        v = load_as<T>(a.r, i, residual_f32);
        if (out) {
          v += to_f(out[i]);
          if (residual_f32) static_cast<float*>(a.r)[i] = v;
          else {
            v = round_as<T>(v);
            static_cast<T*>(a.r)[i] = from_f<T>(v);
          }
        }
        v = round_as<T>(v);
      }
      xf[j] = v;
      ss += v * v;
    }
#pragma unroll
    for (int off = 16; off > 0; off /= 2) ss += __shfl_xor_sync(0xffffffffu, ss, off);
    __syncthreads();  // warp_sums of the previous row are read
    if (tid % 32 == 0) warp_sums[tid / 32] = ss;
    __syncthreads();
    float total = 0.0f;
#pragma unroll
    for (int k = 0; k < kThreads / 32; ++k) total += warp_sums[k];
    const float scale = rsqrtf(total / float(a.d) + float(a.eps));
#pragma unroll
    for (int j = 0; j < CPT; ++j) {
      const int64_t c = tid + int64_t(j) * kThreads;
      if (c >= a.d) continue;
      const float hv = round_as<T>(w[j] * round_as<T>(xf[j] * scale));
      h[r * a.d + c] = from_f<T>(hv);
      if (want_stats) {
        acc[j].add(hv);
        if (want_hist) hist_add(shist, hv);
      }
    }
  }
  if (want_stats) {
#pragma unroll
    for (int j = 0; j < CPT; ++j) {
      const int64_t c = tid + int64_t(j) * kThreads;
      if (c < a.d && r0 < a.rows) acc[j].flush(a.h_stats, c);
    }
    if (want_hist) {
      __syncthreads();
      hist_flush(shist, a.h_stats.hist, tid, kThreads);
    }
  }
}

template <typename T>
void launch(const NormArgs& a, cudaStream_t s) {
  // About two blocks per SM: each block's statistics cost one set of atomics per column, so
  // fewer, longer blocks keep the merge cheap.
  int sms = 132, dev = 0;
  cudaGetDevice(&dev);
  cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, dev);
  const int64_t rpb = std::max<int64_t>(4, (a.rows + 2 * sms - 1) / (2 * sms));
  const unsigned blocks = unsigned((a.rows + rpb - 1) / rpb);
  const bool f32 = a.residual == DataType::F32;
  const int64_t cpt = (a.d + kThreads - 1) / kThreads;
  if (cpt <= 2) residual_rmsnorm_kernel<T, 2><<<blocks, kThreads, 0, s>>>(a, f32, rpb);
  else if (cpt <= 4) residual_rmsnorm_kernel<T, 4><<<blocks, kThreads, 0, s>>>(a, f32, rpb);
  else if (cpt <= 8) residual_rmsnorm_kernel<T, 8><<<blocks, kThreads, 0, s>>>(a, f32, rpb);
  else if (cpt <= 16) residual_rmsnorm_kernel<T, 16><<<blocks, kThreads, 0, s>>>(a, f32, rpb);
  else residual_rmsnorm_kernel<T, 32><<<blocks, kThreads, 0, s>>>(a, f32, rpb);
}

}  // namespace
}  // namespace cuda

void residual_rmsnorm_cuda(const NormArgs& a, void* stream) {
  if (a.rows == 0) return;
  if (a.d < 1 || a.d > kMaxNormWidth)
    throw std::runtime_error("residual_rmsnorm: width " + std::to_string(a.d) + " outside 1.." +
                             std::to_string(kMaxNormWidth));
  if (a.residual != DataType::F32 && a.residual != a.dtype)
    throw std::runtime_error("residual_rmsnorm: the residual is fp32 or the compute dtype");
  cuda::upload_hist_edges();
  auto s = static_cast<cudaStream_t>(stream);
  if (a.dtype == DataType::F32) cuda::launch<float>(a, s);
  else cuda::launch<__nv_bfloat16>(a, s);
  cuda::check(cudaGetLastError(), "residual_rmsnorm kernel");
}

}  // namespace ms::kernels
