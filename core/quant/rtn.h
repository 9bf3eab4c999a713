// RTN (round to nearest) weight quantization, as shared/CLI-CONTRACT.md "Quantize" and
// shared/METHODS.md section 3 define it, in the shape of STYLE.md rule 11: rtn_fit -> immutable
// RtnParams, rtn_quantize / rtn_dequantize apply them, rtn_fake_quant_ref is the plain-loop
// reference (fp64) with the same signature as rtn_fake_quant.
//
// For a weight W [out, in] (a Linear's, rows = output channels), with Q = 2^(B-1) - 1:
//   symmetric:  s = absmax / Q (s = 1 for an all-zero row/group), q = clamp(rne(w / s), -Q-1, Q),
//               value q·s; codes int8 (B <= 8) or int16 (9..15).
//   asymmetric: s = (max - min) / (2^B - 1), z = rne(-min / s), q = clamp(rne(w / s) + z, 0, 2^B-1),
//               value (q - z)·s; codes uint8 (B <= 8) or int16 (9..15: 0..32767 fits).
//               (GPTQ's quantizer: round(x/scale) + zero.)
//               z is an integer that may lie outside [0, 2^B-1] (a row of only positive weights
//               has z < 0): the contract's range is [min, max], not widened to include 0.
//               Degenerate max == min = c: s = |c| (s = 1 when c == 0), so z = -sign(c), q = 0 and
//               the value is c exactly.
// rne = round half to even (at::round). Scales and zeros are fp32 [out, groups]; per-tensor
// repeats one value over rows, per-channel has groups = 1, group:G has in / G groups.
// Everything runs in fp32 on the weight's device; divisions are tensor/tensor (IEEE, never a
// reciprocal multiply) so CPU and CUDA agree bit for bit.
// Widths 9..15 work the same way: every code (|q| <= 2^15) is an exact fp32 integer, w / s keeps
// 8 bits below the rounding point, and q·s is one rounding as at 8 bits. 16 is refused: asymmetric codes would
// need 0..65535 (no signed 16-bit dtype), and 16-bit weights are the float model, not a quantizer.
//
// Not here: activations, packing two 4-bit codes a byte (the export work), GPTQ.
#pragma once

#include <cstdint>
#include <string>

#include <ATen/core/Tensor.h>

namespace ms {

enum class RtnGranularity { Tensor, Channel, Group };

struct RtnSpec {
  int bits = 8;  // 2..15
  RtnGranularity granularity = RtnGranularity::Channel;
  int64_t group_size = 0;  // Group only: g input columns per group
  bool symmetric = true;

  void validate() const;  // throws UsageError (bits out of 2..15, group size < 1)
  // "tensor", "channel", "group:128"; parse throws UsageError on anything else.
  std::string granularity_str() const;
  static RtnSpec with_granularity(RtnSpec spec, const std::string& text);
};

// Immutable once fitted.
struct RtnParams {
  RtnSpec spec;
  int64_t out_features = 0, in_features = 0;
  at::Tensor scales;  // [out, groups] fp32
  at::Tensor zeros;   // [out, groups] fp32 (integer values); undefined when symmetric
  int64_t groups() const { return scales.size(1); }
};

// The codes' dtype for a spec: int8 / uint8 up to 8 bits, int16 for 9..15 (either symmetry).
at::ScalarType rtn_code_dtype(const RtnSpec& spec);

// w [out, in], any float dtype, any device. `name` (a tensor key) appears in every error: a shape
// that is not 2-D, non-finite values, a group size that does not divide `in`.
RtnParams rtn_fit(const at::Tensor& w, const RtnSpec& spec, const std::string& name = "weight");
// -> codes [out, in] of rtn_code_dtype(spec), on w's device.
at::Tensor rtn_quantize(const at::Tensor& w, const RtnParams& params);
// codes [out, in] -> fp32 [out, in].
at::Tensor rtn_dequantize(const at::Tensor& codes, const RtnParams& params);
// fit, quantize, dequantize: fp32 [out, in].
at::Tensor rtn_fake_quant(const at::Tensor& w, const RtnSpec& spec, const std::string& name = "weight");
// The reference: plain loops in fp64 over a CPU copy; fp32 [out, in] on the CPU. Same degenerate
// rules. May differ from rtn_fake_quant by one step only where w/s is within fp32 rounding of a tie.
at::Tensor rtn_fake_quant_ref(const at::Tensor& w, const RtnSpec& spec,
                              const std::string& name = "weight");

}  // namespace ms
