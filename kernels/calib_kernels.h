// The calibration kernels (issue 4): plain-pointer signatures shared by each CUDA kernel
// (`<op>.cu`) and its CPU reference (`<op>_ref.cpp`), as STYLE.md rule 9 asks. Torch-free, so the
// references are testable anywhere and core/engine/fused_calibration.cpp passes tensor pointers.
//
// Statistics outputs ACCUMULATE into what the caller initialised (absmax 0, min +inf, max -inf,
// sums 0, histogram 0): one run per batch merges exactly as CalibStats::merge does. Sums are fp64
// (fp32 within one thread's short run of tokens, then fp64), extrema fp32, histograms integer.
//
// Shapes are written [rows, C] with a row stride `ld` in elements, so slices of a wider
// activation (the x half of in_proj's output, the B and C columns of x_proj's) need no copy.
// Symbols: core/model/glossary.h (B batch, T tokens, E d_inner, N d_state, H heads, P head_dim,
// G groups).
#pragma once

#include <cstdint>

namespace ms::kernels {

enum class DataType { F32, BF16 };

// True when this build has the CUDA kernels (MAMBASCOPE_CUDA=ON); the *_cuda functions throw
// std::runtime_error otherwise.
bool cuda_kernels_built();

// Per-channel statistics of one quant point, accumulated in place.
struct ChannelStats {
  float* absmax = nullptr;  // [C], init 0
  float* min = nullptr;     // [C], init +inf
  float* max = nullptr;     // [C], init -inf
  double* sum = nullptr;    // [C], init 0
  double* sumsq = nullptr;  // [C], init 0
  unsigned long long* hist = nullptr;  // [kHistBins] of |x| (kernels/hist_bins.h), init 0
};

// x: [rows, C], row stride ld.
void channel_stats_ref(const void* x, DataType dtype, int64_t rows, int64_t C, int64_t ld,
                       const ChannelStats& out);
void channel_stats_cuda(const void* x, DataType dtype, int64_t rows, int64_t C, int64_t ld,
                        const ChannelStats& out, void* stream);

// Causal depthwise conv1d over time from a zero state, then SiLU, rounded to `dtype` after the
// conv and after the SiLU (as the unfused reference does in that dtype).
// x: [B*T, C] at stride ldx; weight [C, K] fp32; bias [C] fp32 or null; y: [B*T, C] contiguous.
struct ConvArgs {
  int64_t batch = 0, seqlen = 0, channels = 0, width = 0;
  DataType dtype = DataType::F32;
  const void* x = nullptr;
  int64_t ldx = 0;
  const float* weight = nullptr;
  const float* bias = nullptr;
  void* y = nullptr;
};
void conv1d_silu_ref(const ConvArgs& a);
void conv1d_silu_cuda(const ConvArgs& a, void* stream);

// Mamba-1 selective scan from a zero state with the gate and every statistic fused:
//   dt_t = softplus(dt_raw_t + dt_bias)                       (threshold 20)
//   s_t  = exp(dt_t A) ∘ s_{t-1} + dt_t B_t x_t               (per channel e, state n)
//   y_t  = (C_t · s_t + D x_t) · silu(z_t)                    (silu rounded to dtype first)
// The states are never written: state_absmax/state_sum_abs [E, N] accumulate max |s_t| and Σ|s_t|
// over every token; y_stats (out_proj.input) accumulates the statistics of the fp32 gated y, which
// is then written rounded to `dtype`.
struct ScanM1Args {
  int64_t batch = 0, seqlen = 0, E = 0, N = 0;
  DataType dtype = DataType::F32;  // of x, dt_raw, Bm, Cm, z and y
  const void* x = nullptr;         // [B*T, E] at ldx
  int64_t ldx = 0;
  const void* dt_raw = nullptr;    // [B*T, E] at lddt (dt_proj's output, bias not added)
  int64_t lddt = 0;
  const float* dt_bias = nullptr;  // [E]
  const float* A = nullptr;        // [E, N] (= -exp(A_log))
  const void* Bm = nullptr;        // [B*T, N] at ldbc
  const void* Cm = nullptr;        // [B*T, N] at ldbc
  int64_t ldbc = 0;
  const float* D = nullptr;        // [E]
  const void* z = nullptr;         // [B*T, E] at ldz
  int64_t ldz = 0;
  void* y = nullptr;               // [B*T, E] contiguous
  float* state_absmax = nullptr;   // [E, N]
  double* state_sum_abs = nullptr; // [E, N]
  ChannelStats y_stats;            // C = E
};
void scan_m1_ref(const ScanM1Args& a);
void scan_m1_cuda(const ScanM1Args& a, void* stream);

// Mamba-2 selective scan (scalar A per head, G groups share B and C) from a zero state, with the
// per-token state statistics fused:
//   dt_t = clamp(softplus(dt_raw_t + dt_bias), dt_min, dt_max)    per head h
//   s_t[p, n] = exp(dt_t A_h) s_{t-1}[p, n] + dt_t x_t[p] B_t[g(h), n]
//   y_t[p]    = C_t[g(h)] · s_t[p] + D_h x_t[p]                    fp32, ungated
// state_absmax/state_sum_abs: [H, P, N].
struct ScanM2Args {
  int64_t batch = 0, seqlen = 0, H = 0, P = 0, N = 0, G = 1;
  DataType dtype = DataType::F32;  // of x, dt_raw, Bm, Cm
  const void* x = nullptr;         // [B*T, H*P] at ldx
  int64_t ldx = 0;
  const void* dt_raw = nullptr;    // [B*T, H] at lddt
  int64_t lddt = 0;
  const float* dt_bias = nullptr;  // [H]
  float dt_min = 0, dt_max = 0;    // dt_max may be +inf
  const float* A = nullptr;        // [H]
  const void* Bm = nullptr;        // [B*T, G*N] at ldbc
  const void* Cm = nullptr;        // [B*T, G*N] at ldbc
  int64_t ldbc = 0;
  const float* D = nullptr;        // [H]
  float* y = nullptr;              // [B*T, H*P] fp32 contiguous
  float* state_absmax = nullptr;   // [H, P, N]
  double* state_sum_abs = nullptr; // [H, P, N]
};
void scan_m2_ref(const ScanM2Args& a);
void scan_m2_cuda(const ScanM2Args& a, void* stream);

// Largest d_state the CUDA scans take (checked; the references take any; released models use
// 16 for Mamba-1 and 64 or 128 for Mamba-2).
constexpr int64_t kMaxScanStatesM1 = 64;  // 8 lanes × 8 states
constexpr int64_t kMaxScanStatesM2 = 256;

}  // namespace ms::kernels

namespace ms::kernels {
// Device memory in use on the current device (total - free, from the driver: it counts every
// allocation of the process, LibTorch's cache included). False without CUDA.
bool gpu_memory_in_use(int64_t* bytes);
// Waits for the legacy default stream (where our kernels and LibTorch's ops run).
void cuda_synchronize();
}  // namespace ms::kernels

namespace ms::kernels {

// The residual add and the block's RMSNorm fused, with the statistics of the normed output
// (in_proj.input), the reference's roundings kept (mamba_model.cpp):
//   r   = r + out                     (when `out` is given; in r's dtype, fp32 when residual_in_fp32)
//   xf  = float(round_to(dtype, r))
//   h   = round(weight · round(xf / sqrt(mean(xf²) + eps)))   (weight and h in `dtype`)
// r: [rows, d] contiguous, fp32 or `dtype`, updated in place; out: [rows, d] `dtype` or null;
// weight: [d] `dtype`; h: [rows, d] `dtype`.
struct NormArgs {
  int64_t rows = 0, d = 0;
  DataType dtype = DataType::F32;     // compute dtype: out, weight, h
  DataType residual = DataType::F32;  // r
  void* r = nullptr;
  const void* out = nullptr;
  const void* weight = nullptr;
  double eps = 1e-5;
  void* h = nullptr;
  ChannelStats h_stats;               // C = d; absmax null: none
};
void residual_rmsnorm_ref(const NormArgs& a);
void residual_rmsnorm_cuda(const NormArgs& a, void* stream);
constexpr int64_t kMaxNormWidth = 8192;

}  // namespace ms::kernels
