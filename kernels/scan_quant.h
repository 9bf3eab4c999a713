// The forward selective scans with the SSM state quantized inside the recurrence (Q-Mamba Eq. 10,
// shared/METHODS.md "DSQ"), as the engine runs them for eval, sweep and the live error preview
// (core/engine/scan_ref.h, selective_scan_*_quant, is the definition; core/quant/dsq.h the
// quantizer). Plain pointers, no torch: `scan_quant_*_cuda` (scan_quant.cu) and its CPU reference
// `scan_quant_*_ref` (scan_quant_ref.cpp) share these signatures (STYLE.md rule 9).
//
// Per token t, for every [R, N] state matrix (R = E for Mamba-1: a sequence's whole state;
// R = P for Mamba-2: one head's):
//   h_t = exp(dt_t A) ∘ s + dt_t B_t x_t          (the same products, in the same order, as
//                                                  scan_ref: Mamba-1 (dt·B)·x, Mamba-2 (dt·x)·B)
//   y_t = C_t · h_t + D x_t                        (from the unquantized h_t)
//   s   = Q(h_t)                                   (dynamic scales of h_t itself: dsq.h)
// bits = 16 is the plain float scan (s = h_t). `state` holds the initial state on entry and the
// last (quantized) state on return; `states`, when not null, receives every token's s.
// All fp32, contiguous. Symbols: core/model/glossary.h.
#pragma once

#include <cstdint>

namespace ms::kernels {

// The state quantizer as plain data: the same four formulas as core/quant/dsq.h's StateMethod and
// DsqVariant (converted there, not here: kernels/ does not include core/).
enum class StateQuantMethod { Tensor, Channel, State, Dsq };
enum class StateQuantVariant { AbsMax, AbsMaxSqrt, AbsMean, AbsMeanSqrt };
struct StateQuantPod {
  int bits = 16;  // 16: no quantization; 2..15 (qmax = 2^(bits-1) - 1 as a float, no table)
  StateQuantMethod method = StateQuantMethod::Dsq;
  StateQuantVariant variant = StateQuantVariant::AbsMeanSqrt;
  bool enabled() const { return bits < 16; }
};

// Mamba-1.
struct ScanQuantM1Args {
  int64_t batch = 0, seqlen = 0, E = 0, N = 0;
  const float* x = nullptr;   // [B, T, E]
  const float* dt = nullptr;  // [B, T, E] (bias added, softplus applied)
  const float* A = nullptr;   // [E, N]
  const float* Bm = nullptr;  // [B, T, N]
  const float* Cm = nullptr;  // [B, T, N]
  const float* D = nullptr;   // [E]
  float* state = nullptr;     // [B, E, N] in/out
  float* y = nullptr;         // [B, T, E]
  float* states = nullptr;    // [B, T, E, N] or null
  StateQuantPod quant;
};
void scan_quant_m1_ref(const ScanQuantM1Args& a);
void scan_quant_m1_cuda(const ScanQuantM1Args& a, void* stream);

// Mamba-2 (scalar A per head; G groups share B and C, head h reads group h / (H / G)).
struct ScanQuantM2Args {
  int64_t batch = 0, seqlen = 0, H = 0, P = 0, N = 0, G = 1;
  const float* x = nullptr;   // [B, T, H, P]
  const float* dt = nullptr;  // [B, T, H] (after softplus and the clamp)
  const float* A = nullptr;   // [H]
  const float* Bm = nullptr;  // [B, T, G, N]
  const float* Cm = nullptr;  // [B, T, G, N]
  const float* D = nullptr;   // [H]
  float* state = nullptr;     // [B, H, P, N] in/out
  float* y = nullptr;         // [B, T, H, P]
  float* states = nullptr;    // [B, T, H, P, N] or null
  StateQuantPod quant;
};
void scan_quant_m2_ref(const ScanQuantM2Args& a);
void scan_quant_m2_cuda(const ScanQuantM2Args& a, void* stream);

// One [R, N] matrix h -> Q(h) in place, the quantizer the references apply per token: fp32
// arithmetic in state_fake_quant's order (s·qmax / M, rne, clamp, q·M / qmax; M = S_ch·S_st),
// row sums in fp64 rounded once (so any summation order gives the same mean but for rare last-bit
// cases). No-op when !q.enabled().
void state_quant_matrix_ref(float* h, int64_t R, int64_t N, const StateQuantPod& q);
// Its two scale vectors (zeros already 1): ch [R] and st [N], so that M_ij = ch_i · st_j and one
// quantization step is M_ij / qmax (what a parity test allows where a value sits on a tie).
void state_quant_scales_ref(const float* h, int64_t R, int64_t N, const StateQuantPod& q,
                            float* ch, float* st);

// What the CUDA scans take (checked; the references take any): d_state up to 256, and a
// matrix whose scales need the whole of it (tensor, state, dsq) at most scan_quant_max_rows(N) rows
// (one block holds it: 512 threads, 16 rows of 4 states each at N <= 128: 2048 rows at N 16,
// 256 at N 128), times the blocks a thread-block cluster may spread it over (sm_90: 8).
constexpr int64_t kMaxScanQuantStates = 256;
int64_t scan_quant_max_rows(int64_t N);
// True when the CUDA scan takes this shape and quantizer (the engine falls back otherwise);
// cluster_limit: scan_quant_cluster_limit() of the device that will run it.
bool scan_quant_cuda_supports(int64_t R, int64_t N, const StateQuantPod& q, int cluster_limit = 1);
// How many blocks may share one state matrix on the current CUDA device: 8 on sm_90 and later,
// else 1 (and 1 without CUDA, or with MAMBASCOPE_SCAN_CLUSTER=0).
int scan_quant_cluster_limit();

}  // namespace ms::kernels
