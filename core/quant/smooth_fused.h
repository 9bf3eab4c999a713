// Smooth-fused rotation (MambaQuant; METHODS.md section 3), the offline and the run-time parts.
//
// Mamba-1 (and falcon_mamba for the gate):
//   - Gate smoothing for out_proj's input y = ssm(x) · SiLU(z): with S-SiLU(z, s) = z·σ(s·z),
//     dividing z's rows of in_proj (rows E..2E, and their bias) by s gives
//     S-SiLU(z / s, s) = SiLU(z) / s, so y -> y / s, and out_proj's columns take s.
//     The gate itself must become S-SiLU at run time: a RUN-TIME transform, recorded, not a weight.
//   - Then an online Hadamard on out_proj's input: out_proj's columns W -> W H/√E here, y -> y H/√E
//     at run time (RUN-TIME as well).
//   - State smoothing for the SSM matmul y = C·h (size N): B rows of x_proj (R..R+N) / s, C rows
//     (R+N..R+2N) · s. The recurrence h_t = exp(Δ A) h_(t-1) + Δ B_t x_t is linear in h with a
//     per-(e, n) decay, so from a zero state every h_t becomes h_t / s and C·h is unchanged. The
//     paper adds -ln s to AΔ for the first token; from a zero initial state (every forward here,
//     and every cached state, which lives in the smoothed coordinates) that term has nothing to
//     act on, so this part is exact offline. Not for falcon_mamba (weightless RMSNorms on B and C).
// Mamba-2: B and C pass through conv and SiLU, so the state smoothing does not apply; out_proj's
//   input smoothing folds into the gated-norm weight (offline, as in smoothquant.h), then the
//   online Hadamard as above.
//
// How s is chosen the paper does not say. Ours: the gate and gated-norm sites use SmoothQuant's
// rule on out_proj's input and weight (smoothquant.h); the state uses s_n ∝ (max_e |h_en|)^α,
// normalised to a geometric mean of 1, which evens the state's ranges across n by the power α
// (α = 1: every n gets the same absmax), the quantity a per-tensor state quantizer is hurt by.
#pragma once

#include <string>
#include <vector>

#include <ATen/core/Tensor.h>

#include "core/engine/calib_stats.h"
#include "core/engine/weight_set.h"

namespace ms {

// A transform that a runtime must perform (not storable as plain weights).
struct RuntimeTransform {
  std::string kind;   // "s_silu" (gate σ(s·z)) or "online_hadamard" (y -> y H/√n)
  std::string point;  // `layers.3.out_proj.input`
  at::Tensor param;   // s_silu: s [E] fp32; online_hadamard: undefined (the size is the point's)
};

// S-SiLU(x, s) = x·σ(s·x), s broadcast over the last axis (the reference for a runtime).
at::Tensor s_silu(const at::Tensor& x, const at::Tensor& s);

// Folds (s fp64 or fp32): gate smoothing of layer (z rows / s, out_proj columns · s); state
// smoothing (B rows / s, C rows · s).
void smooth_gate(WeightSet& w, int64_t layer, const at::Tensor& s);   // [E], Mamba-1
void smooth_state(WeightSet& w, int64_t layer, const at::Tensor& s);  // [N], Mamba-1

// s_n from a Mamba-1 state's statistics (absmax [E, N]), see above.
at::Tensor state_smooth_scales(const StateStats& state, double alpha);

struct SmoothFusedResult {
  std::vector<std::string> sites;         // offline folds applied
  std::vector<RuntimeTransform> runtime;  // run-time parts applied (their weight halves are folded)
  std::vector<std::string> dropped;       // run-time parts left out (runtime == false)
};
// The `smooth-fused` method on every layer. With `runtime` false (a plain-weights export), the
// parts that need a run-time op are not applied at all (their weight half alone would change the
// model), and are listed in `dropped`.
SmoothFusedResult apply_smooth_fused(WeightSet& w, const CalibStats& stats, double alpha, bool runtime);

}  // namespace ms
