// Before/after of one method at one quant point (issue 6's distributions view): run the model over
// a calibration slice, capture the point's values X, apply what the exported model would apply
// there, and summarise both sides (per-channel absmax and variance, the |x| histogram on the
// statistics file's bins, CVs, and the error of a quantizer at `bits` on the values themselves).
//
// AFTER per method (the functions the exporter uses, nothing re-implemented):
//   hadamard     X·Q, Q = hadamard_rotation(C) (rotation.h). At in_proj.input the exporter fuses
//                the RMSNorm weight g into in_proj before rotating, so the rotated values are
//                (X / g)·Q; at dt_proj.input (Mamba-1 dt path) and out_proj.input (the online
//                rotation) they are X·Q. x_proj.input has no rotation in the exporter: refused.
//   klt          X·K·H/√C with K from the point's own centred covariance (klt_rotation); the
//                exporter's residual KLT averages that covariance over layers, this shows what
//                the rotation does to this point alone. Same sites and norm fusion as hadamard.
//   smoothquant  X / s, s = smooth_scales(absmax of X over the slice, consuming Linear's weight, α);
//                the Linear sees (X / s)(W·s)ᵀ = X Wᵀ. Any Linear input (folding is exact only at
//                the sites smoothquant.h lists; the view says so).
//   dsq          (ssm.state only) BEFORE and AFTER are the same state S; the errors compare the
//                baseline quantizer (tensor/channel/state) with DSQ, and the AFTER distribution
//                is S / (S_ch·S_stᵀ), what DSQ rounds. state_errors lists all four quantizers.
// The activation error is symmetric per-tensor RTN (act_quant.h, dynamic tensor: one scale over the
// captured slice) at `bits`.
//
// Not here: drawing (views/distributions_view.h), running it from the app (app/preview_process.h).
#pragma once

#include <string>

#include <ATen/core/Tensor.h>

#include "core/model/preview_snapshot.h"
#include "core/quant/dsq.h"

namespace ms {

class MambaModel;

enum class PreviewMethod { Hadamard, Klt, SmoothQuant, Dsq };
PreviewMethod parse_preview_method(const std::string& text);  // UsageError naming --method
const char* preview_method_name(PreviewMethod m);

struct PreviewRequest {
  QuantPoint point;
  PreviewMethod method = PreviewMethod::Hadamard;
  int bits = 8;                               // 2..15
  double alpha = 0.5;                         // SmoothQuant
  StateMethod baseline = StateMethod::Tensor; // DSQ's comparison
  DsqVariant variant = DsqVariant::AbsMeanSqrt;
  void validate() const;                      // UsageError: bits, method vs point
};

// The point's values over ids [B, T]: activation [B·T, C] fp32; state [B·T, R, N] fp32 with R = E
// (Mamba-1) or the Mamba-2 state [B·T, H, P, N] (DSQ's matrices are [P, N] per head).
at::Tensor capture_point(const MambaModel& model, const at::Tensor& ids, const QuantPoint& point);

// AFTER values of an activation point (see above), fp64 [rows, C]; `smoothing` receives s for
// SmoothQuant (else left undefined).
at::Tensor preview_transform(const MambaModel& model, const PreviewRequest& r, const at::Tensor& x,
                             at::Tensor* smoothing = nullptr);

// Summary of values x [rows, C] (any float dtype) with per-tensor RTN at `bits`.
DistributionSide describe_values(const at::Tensor& x, int bits);
// Error of one state quantizer on s [..., R, N].
QuantError state_quant_error(const at::Tensor& s, const StateQuantSpec& spec);

// The whole preview.
PreviewSnapshot preview_method(const MambaModel& model, const at::Tensor& ids, const PreviewRequest& r);

}  // namespace ms
