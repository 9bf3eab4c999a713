// Activation fake quantization at a Linear's input (shared/METHODS.md section 3, RTN; CLI-CONTRACT
// "Quantize": --abits, --act-scale static|dynamic, --act-granularity tensor|token). Symmetric
// codes, the same rule as the weights' RTN:
//   s = absmax / (2^(b-1) - 1)  (s = 1 when absmax == 0),  q = clamp(rne(x / s), -2^(b-1), 2^(b-1)-1),
//   value q·s, computed in fp32 (tensor/tensor division, as rtn.h). Up to 15 bits qmax and every
//   code (|q| <= 2^14) are exact fp32 integers, and x / s keeps 9 bits below the rounding point.
// absmax is, per granularity and scale:
//   dynamic token   max over the channels of each token of x [B, T, C] (one scale per token)
//   dynamic tensor  max over the whole x of this forward call (one window of text)
//   static tensor   the calibrated absmax of the point (CalibStats: max of its channel absmax);
//                   values beyond it clamp. Static per token has no meaning and is refused.
//
// Not here: asymmetric activations, SmoothQuant's division (it folds into weights, pipeline work).
#pragma once

#include <string>

#include <ATen/core/Tensor.h>

namespace ms {

enum class ActScale { Static, Dynamic };
enum class ActGranularity { Tensor, Token };

struct ActQuantSpec {
  int bits = 16;  // 16: activations stay float; 2..15 quantize
  ActScale scale = ActScale::Dynamic;
  ActGranularity granularity = ActGranularity::Token;

  bool enabled() const { return bits < 16; }
  void validate() const;  // throws UsageError: bits outside 2..16, static per token
  std::string describe() const;  // "A8 dynamic token", "A16"
};

ActScale parse_act_scale(const std::string& text);              // static | dynamic
ActGranularity parse_act_granularity(const std::string& text);  // tensor | token
const char* act_scale_name(ActScale s);
const char* act_granularity_name(ActGranularity g);

// x [..., C] (any float dtype, any device) -> fake-quantized, fp32, same shape. `static_absmax` is
// used (and required to be finite and >= 0) only for ActScale::Static.
at::Tensor act_fake_quant(const at::Tensor& x, const ActQuantSpec& spec, double static_absmax = 0);

// The reference: plain loops in fp64 over a CPU copy, fp32 result. May differ from
// act_fake_quant by one step only where x/s is within fp32 rounding of a tie.
at::Tensor act_fake_quant_ref(const at::Tensor& x, const ActQuantSpec& spec, double static_absmax = 0);

}  // namespace ms
