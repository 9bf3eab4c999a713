// Causal depthwise conv1d + SiLU from a zero state (kernels/calib_kernels.h). A thread owns one
// channel over a run of kRun consecutive tokens of one sequence and slides the K-tap window along
// it in registers, so each input is read once per run (plus K-1 warm-up reads); a warp covers 32
// consecutive channels, so every read and write is a coalesced row segment. Rounded to the
// activation dtype after the conv and after the SiLU, as the unfused path rounds.
#include "kernels/cuda_common.cuh"

namespace ms::kernels {
namespace cuda {
namespace {

constexpr int kRun = 16, kMaxWidth = 8;

template <typename T>
__global__ void conv1d_silu_kernel(ConvArgs a, int64_t runs_per_seq) {
  const int64_t c = blockIdx.y * int64_t(blockDim.x) + threadIdx.x;
  if (c >= a.channels) return;
  const int64_t b = blockIdx.x / runs_per_seq, t0 = (blockIdx.x % runs_per_seq) * kRun;
  const T* x = static_cast<const T*>(a.x);
  T* y = static_cast<T*>(a.y);
  const int K = int(a.width);
  float w[kMaxWidth], win[kMaxWidth];
#pragma unroll
  for (int k = 0; k < kMaxWidth; ++k) {
    w[k] = k < K ? a.weight[c * K + k] : 0.0f;
    // win[k] holds token t0 - (K-1) + k (zero before the sequence); the last slot fills below.
    const int64_t t = t0 - (K - 1) + k;
    win[k] = (k < K - 1 && t >= 0) ? to_f(x[(b * a.seqlen + t) * a.ldx + c]) : 0.0f;
  }
  const float bias = a.bias ? a.bias[c] : 0.0f;
  for (int i = 0; i < kRun && t0 + i < a.seqlen; ++i) {
    const int64_t row = b * a.seqlen + t0 + i;
    win[K - 1] = to_f(x[row * a.ldx + c]);
    float acc = bias;
#pragma unroll
    for (int k = 0; k < kMaxWidth; ++k)
      if (k < K) acc += w[k] * win[k];
    y[row * a.channels + c] = from_f<T>(silu_f(round_as<T>(acc)));
#pragma unroll
    for (int k = 0; k + 1 < kMaxWidth; ++k)
      if (k + 1 < K) win[k] = win[k + 1];
  }
}

}  // namespace
}  // namespace cuda

void conv1d_silu_cuda(const ConvArgs& a, void* stream) {
  const int64_t rows = a.batch * a.seqlen;
  if (rows == 0 || a.channels == 0) return;
  if (a.width < 1 || a.width > cuda::kMaxWidth)
    throw std::runtime_error("conv1d_silu: kernel width " + std::to_string(a.width) + " outside 1.." +
                             std::to_string(cuda::kMaxWidth));
  const int64_t runs = (a.seqlen + cuda::kRun - 1) / cuda::kRun;
  if (a.batch * runs > 2147483647 || (a.channels + 127) / 128 > 65535)
    throw std::runtime_error("conv1d_silu: too many tokens or channels in one batch");
  dim3 block{128}, grid{unsigned(a.batch * runs), unsigned((a.channels + 127) / 128)};
  auto s = static_cast<cudaStream_t>(stream);
  if (a.dtype == DataType::F32) cuda::conv1d_silu_kernel<float><<<grid, block, 0, s>>>(a, runs);
  else cuda::conv1d_silu_kernel<__nv_bfloat16><<<grid, block, 0, s>>>(a, runs);
  cuda::check(cudaGetLastError(), "conv1d_silu kernel");
}

}  // namespace ms::kernels
