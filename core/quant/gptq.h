// GPTQ for one Linear weight (Frantar et al., "GPTQ: Accurate Post-Training Quantization for
// Generative Pre-trained Transformers", Algorithm 1), as shared/METHODS.md section 3 defines it:
// columns are rounded one at a time and each column's rounding error is fed back into the columns
// not yet rounded through the Cholesky factor of the inverse Hessian H = 2 XᵀX, so that
// ‖XWᵀ − XŴᵀ‖ stays small for the calibration inputs X, not just ‖W − Ŵ‖.
//
// The grid is RTN's (core/quant/rtn.h, the contract's formulas), not the reference code's own
// quantizer (which widens [min, max] to include 0 and uses z = (2^B)/2 for symmetric codes): with
// no error feedback (H = I) GPTQ gives exactly rtn_fake_quant's codes and values.
//
// Conventions, following the reference implementation (IST-DASLab gptq.py `fasterquant`):
//  - Dead columns (H_jj = 0: the input never moves) get H_jj = 1 and weight 0 before anything else.
//  - Per-tensor and per-channel scales are fitted once, from the whole weight, before any feedback
//    (dead columns not yet zeroed, as the reference does).
//  - group:G: a group's scales are fitted when its first column comes up, from the G columns as
//    they stood at the start of the current block of `block` columns (the reference's lazy batch
//    update: feedback from earlier columns of the same block is not yet in them). When G is a
//    multiple of `block`, every group starts a block and its fit sees all feedback so far.
//  - act-order: columns are processed by decreasing H_jj (stable sort, so ties keep their order;
//    the reference's unstable argsort may order ties differently). With groups, by default (as
//    the reference's default) a group is G consecutive columns *in processing order*, so a group's
//    columns are scattered over the row; `g_idx` records each column's group. `static_groups`
//    instead fits every group of G adjacent columns up front (no feedback, dead columns zeroed) and
//    uses it whatever the order: scales stay in the usual [out, in/G] layout.
//  - Damping: λ = damp · mean(diag H) added to the diagonal (after dead columns got 1).
//  - Numerics: the Hessian, its Cholesky factors and the feedback run in fp64 (the reference runs
//    fp32 on a GPU); each column is cast to fp32 and rounded with RTN's fp32 arithmetic, so codes
//    are reproducible by an independent implementation (tests/fixtures/gen_gptq_fixture.py).
//  - The result does not depend on H's scale (2XᵀX, 2XᵀX/n, XᵀX give the same codes).
//
// Not here: collecting X (core/quant/gptq_model.h runs the model sequentially for that), packing.
#pragma once

#include <cstdint>
#include <string>

#include <ATen/core/Tensor.h>

#include "core/quant/rtn.h"

namespace ms {

struct GptqSpec {
  RtnSpec rtn;            // bits, symmetric, granularity (tensor | channel | group:G)
  double damp = 0.01;     // fraction of mean(diag H) added to H's diagonal
  int64_t block = 128;    // columns per lazy batch update
  bool act_order = false;
  bool static_groups = false;  // group:G with act_order only (see above)

  void validate() const;  // throws UsageError
};

// Immutable result; everything in the weight's original column order, on the CPU.
struct GptqResult {
  at::Tensor weight;   // fp32 [out, in]: dequantized values, exactly representable
  at::Tensor codes;    // [out, in] of rtn_code_dtype (int8 / uint8; int16 above 8 bits), RTN's code ranges
  at::Tensor scales;   // fp32 [out, groups]; groups = 1 for tensor/channel
  at::Tensor zeros;    // fp32 [out, groups]; undefined when symmetric
  at::Tensor g_idx;    // int64 [in]: the group (column of scales) of each input column
  at::Tensor perm;     // int64 [in]: the column processed k-th is perm[k] (identity w/o act-order)
  int64_t dead_columns = 0;
  double loss = 0;     // Σ (w − q)² / (2 d_k²), d_k = diag of chol(H⁻¹)ᵀ: the reference's "error"
};

// w [out, in] (any float dtype, finite); hessian [in, in] symmetric positive semi-definite (any
// float dtype; accumulate it in fp64). Throws InputError naming `name` for bad shapes, non-finite
// values, a group size that does not divide `in`, or a Hessian that is not positive definite
// after damping (the message suggests a larger --damp).
GptqResult gptq_quantize(const at::Tensor& w, const at::Tensor& hessian, const GptqSpec& spec,
                         const std::string& name = "weight");

}  // namespace ms
