// SmoothQuant (METHODS.md section 3): per input channel j of a Linear,
//   s_j = max|X_j|^α / max_i |W_ij|^(1-α),   X' = X / s,   W' = W · s (columns),
// which moves activation range into the weight; the 1/s folds into whatever produces X. Sites
// where the fold is exact:
//   Mamba-1, falcon_mamba, Mamba-2: in_proj input  -> the block's RMSNorm weight (g / s);
//   Mamba-1:                        dt_proj input  -> the dt rows of x_proj (rows / s);
//   Mamba-2:                        out_proj input -> the gated-norm weight (its weight is applied
//                                   after normalisation, so dividing it is exact).
// Not folded here: x_proj's input (produced by SiLU(conv), not linear), Mamba-1's out_proj input
// (needs S-SiLU: core/quant/smooth_fused.h), falcon_mamba's dt input (a weightless RMSNorm sits
// between x_proj and dt_proj and would undo any row scaling).
// A channel whose activation or weight maximum is 0 (or whose s is not finite) keeps s = 1.
// Shape: fit (smooth_scales) -> immutable scales; apply (smooth_*); the reference is the formula
// itself, checked against hand values.
#pragma once

#include <string>
#include <vector>

#include <ATen/core/Tensor.h>

#include "core/engine/calib_stats.h"
#include "core/engine/weight_set.h"

namespace ms {

// act_absmax [C], weight [out, C] -> s [C] fp64.
at::Tensor smooth_scales(const at::Tensor& act_absmax, const at::Tensor& weight, double alpha);

// The folds (s [C], fp64 or fp32): producer side divided by s, consumer columns multiplied by s.
void smooth_in_proj(WeightSet& w, int64_t layer, const at::Tensor& s);        // C = d
void smooth_dt_proj(WeightSet& w, int64_t layer, const at::Tensor& s);        // Mamba-1, C = R
void smooth_out_proj_gated(WeightSet& w, int64_t layer, const at::Tensor& s); // Mamba-2, C = E

// The `smoothquant` method at every foldable site of the architecture, scales from `stats` (the
// model as it is in `w`). Returns the points smoothed (`layers.0.in_proj.input`, ...).
std::vector<std::string> apply_smoothquant(WeightSet& w, const CalibStats& stats, double alpha);

// The absmax of an activation point, InputError naming the point when absent.
const at::Tensor& point_absmax(const CalibStats& stats, const std::string& point);

}  // namespace ms
