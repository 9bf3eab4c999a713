// Offline rotations folded into weights (METHODS.md section 3, "Hadamard rotation" and
// "KLT-enhanced rotation"): for an orthogonal Q, X Wᵀ = (X Q)(W Q)ᵀ, so a Linear absorbs Q in its
// columns and the producer of X absorbs it on its output side. Two paths of a Mamba model are
// linear from producer to consumer and take a rotation offline:
//   - the residual stream (one Q [d, d] shared by every layer): embedding rows r -> r Q; each
//     block's RMSNorm commutes with Q once its weight is fused into in_proj (‖r Q‖ = ‖r‖);
//     in_proj columns W Q; out_proj's output y Wᵀ -> y Wᵀ Q, so out_proj -> Qᵀ W and its bias
//     b -> b Q; norm_f's weight goes into lm_head (which unties it from the embedding), then
//     lm_head columns W Q.
//   - Mamba-1's dt path (Q [R, R] per layer): x_proj's dt rows -> Qᵀ W_dt-rows, dt_proj columns
//     -> W Q. falcon_mamba's weightless RMSNorm on dt commutes with Q as well.
// The x_proj input (after SiLU(conv)) and the out_proj input (after the gate) have nonlinear
// producers: a rotation there runs online (rotate_out_proj_input does the weight half).
//
// KLT (MambaQuant): K = eigenvectors of the centred calibration covariance, Q = K H/√n (apply K,
// then H): every channel of X Q then has variance trace(C)/n, which Hadamard alone gives only for
// uncorrelated channels. The residual stream's covariance is read from the in_proj inputs of
// every layer, divided by their norm weights (the stream the fused model rotates is the
// unweighted RMSNorm output), and averaged over layers, since one Q serves all.
//
// Everything is computed in fp64 and stored back in each tensor's dtype.
// Not here: choosing which methods run (core/quant/pipeline.h), smoothing (smoothquant.h).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <ATen/core/Tensor.h>

#include "core/engine/calib_stats.h"
#include "core/engine/weight_set.h"

namespace ms {

// H_n / √n, fp64 [n, n] (UsageError for sizes hadamard.h cannot build).
at::Tensor hadamard_rotation(int64_t n);

// Every RMSNorm weight into the Linear that reads its output: layers.i.norm.weight into in_proj's
// columns, norm_f.weight into lm_head's columns (untying lm_head: config.tie_embeddings = false).
// The norm weights become 1. Exact in real arithmetic.
void fuse_norm_weights(WeightSet& w);

// The residual-stream rotation described above (norms fused first). Q: fp64 [d, d] orthogonal.
void rotate_residual(WeightSet& w, const at::Tensor& Q);
// Mamba-1: layer's dt activation -> dt Q. Q: [R, R] orthogonal.
void rotate_dt_path(WeightSet& w, int64_t layer, const at::Tensor& Q);
// The weight half of an online rotation at out_proj's input: out_proj columns W -> W Q. The
// runtime must rotate the activation y -> y Q (Q: [E, E]).
void rotate_out_proj_input(WeightSet& w, int64_t layer, const at::Tensor& Q);

// Centred (population) covariance of an activation point from its statistics:
// XᵀX / n - μ μᵀ, fp64 [C, C]. InputError naming `point` when the statistics have no covariance.
at::Tensor centred_covariance(const ActivationStats& s, const std::string& point);

struct KltFit {
  at::Tensor eigenvalues;  // [n] fp64, descending
  at::Tensor K;            // [n, n] fp64, column j = eigenvector of eigenvalue j (largest entry > 0)
};
KltFit klt_fit(const at::Tensor& cov);
// K H_n / √n.
at::Tensor klt_rotation(const at::Tensor& cov);

// The residual stream's covariance for KLT (see above), from statistics of the model as it is in
// `w` (its norm weights undo the in_proj input scaling). InputError when a norm weight is 0.
at::Tensor residual_covariance(const WeightSet& w, const CalibStats& stats);

// diag(Qᵀ C Q): each channel's variance after X -> X Q; and its coefficient of variation
// (std / mean over channels), the number MambaQuant's claim is about.
at::Tensor rotated_channel_variance(const at::Tensor& cov, const at::Tensor& Q);
double coefficient_of_variation(const at::Tensor& v);

// The `hadamard` method: residual stream and (Mamba-1) every layer's dt path. Returns the sites,
// e.g. "residual (d = 768, H 12x64)", "layers.0.dt_proj.input".
std::vector<std::string> apply_hadamard(WeightSet& w);
// The `klt` method: the same sites with K H; needs covariance at every in_proj.input (and
// dt_proj.input for Mamba-1) in `stats`, taken on the model as it is in `w`.
std::vector<std::string> apply_klt(WeightSet& w, const CalibStats& stats);

}  // namespace ms
