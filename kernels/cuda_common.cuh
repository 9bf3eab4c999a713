// Device helpers shared by the calibration kernels: dtype loads and stores, float atomics for
// extrema, the histogram edges in constant memory, and the per-channel statistics accumulator.
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>

#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include "kernels/calib_kernels.h"
#include "kernels/hist_bins.h"

namespace ms::kernels::cuda {

// Throws with the CUDA error's text (a launch failure, an out-of-memory) naming the operation.
inline void check(cudaError_t e, const char* what) {
  if (e != cudaSuccess)
    throw std::runtime_error(std::string(what) + ": " + cudaGetErrorString(e));
}

// The histogram's float thresholds (hist_bins.h), uploaded from the host table once per device.
// Without separable compilation a __constant__ variable belongs to its translation unit: each .cu
// file that bins has its own copy and uploads it through its own copy of this function. Kernels
// copy it to shared memory first: lanes look up different bins, which constant memory would
// serialise.
static __constant__ float c_hist_thr[kHistBins + 1];
static void upload_hist_edges() {
  static thread_local int uploaded_for = -1;
  int dev = 0;
  check(cudaGetDevice(&dev), "cudaGetDevice");
  if (uploaded_for == dev) return;
  check(cudaMemcpyToSymbol(c_hist_thr, hist_thresholds(), sizeof(float) * (kHistBins + 1)),
        "uploading the histogram thresholds");
  uploaded_for = dev;
}

template <typename T> __device__ __forceinline__ float to_f(T v);
template <> __device__ __forceinline__ float to_f<float>(float v) { return v; }
template <> __device__ __forceinline__ float to_f<__nv_bfloat16>(__nv_bfloat16 v) { return __bfloat162float(v); }

template <typename T> __device__ __forceinline__ T from_f(float v);
template <> __device__ __forceinline__ float from_f<float>(float v) { return v; }
template <> __device__ __forceinline__ __nv_bfloat16 from_f<__nv_bfloat16>(float v) { return __float2bfloat16_rn(v); }

// The value `v` takes when stored as T and read back.
template <typename T> __device__ __forceinline__ float round_as(float v) { return to_f<T>(from_f<T>(v)); }

__device__ __forceinline__ float silu_f(float v) { return v / (1.0f + expf(-v)); }
__device__ __forceinline__ float softplus_f(float v) { return v > 20.0f ? v : log1pf(expf(v)); }

// Float max/min through the integer orderings (non-negative floats order as ints, negative ones
// in reverse as unsigned), without a compare-and-swap loop.
__device__ __forceinline__ void atomic_max_f(float* addr, float v) {
  if (v >= 0) atomicMax(reinterpret_cast<int*>(addr), __float_as_int(v));
  else atomicMin(reinterpret_cast<unsigned*>(addr), __float_as_uint(v));
}
__device__ __forceinline__ void atomic_min_f(float* addr, float v) {
  if (v >= 0) atomicMin(reinterpret_cast<int*>(addr), __float_as_int(v));
  else atomicMax(reinterpret_cast<unsigned*>(addr), __float_as_uint(v));
}

// One thread's running statistics of one channel over some tokens.
struct ChannelAcc {
  float absmax = 0.0f, mn = __builtin_huge_valf(), mx = -__builtin_huge_valf();
  double sum = 0.0, sumsq = 0.0;

  __device__ __forceinline__ void add(float v) {
    absmax = fmaxf(absmax, fabsf(v));
    mn = fminf(mn, v);
    mx = fmaxf(mx, v);
    sum += v;
    sumsq += static_cast<double>(v) * v;
  }
  __device__ __forceinline__ void flush(const ChannelStats& out, int64_t c) const {
    atomic_max_f(out.absmax + c, absmax);
    atomic_min_f(out.min + c, mn);
    atomic_max_f(out.max + c, mx);
    atomicAdd(out.sum + c, sum);
    atomicAdd(out.sumsq + c, sumsq);
  }
};

// A block's histogram in shared memory, added to the global one at the end.
// A block's histogram: counts and the thresholds in shared memory. Call hist_init from every
// thread before the first hist_add (a __syncthreads must follow before use).
struct BlockHist {
  unsigned counts[kHistBins];
  float thr[kHistBins + 1];
};
__device__ __forceinline__ void hist_init(BlockHist& h, int tid, int threads) {
  for (int i = tid; i < kHistBins; i += threads) h.counts[i] = 0;
  for (int i = tid; i <= kHistBins; i += threads) h.thr[i] = c_hist_thr[i];
}
// Activations cluster in a few bins, so a warp's 32 values often share one: the lanes with the
// same bin elect a leader that adds their count (one shared atomic per distinct bin, not per
// value). Callable from divergent code: only the active lanes take part.
__device__ __forceinline__ void hist_add(BlockHist& h, float v) {
  const int bin = hist_bin_f(v, h.thr);
  const unsigned peers = __match_any_sync(__activemask(), bin);
  unsigned lane;
  asm("mov.u32 %0, %%laneid;" : "=r"(lane));
  if (lane == unsigned(__ffs(peers) - 1)) atomicAdd(h.counts + bin, unsigned(__popc(peers)));
}
__device__ __forceinline__ void hist_flush(const BlockHist& h, unsigned long long* out, int tid, int threads) {
  for (int i = tid; i < kHistBins; i += threads)
    if (h.counts[i]) atomicAdd(out + i, static_cast<unsigned long long>(h.counts[i]));
}

}  // namespace ms::kernels::cuda
