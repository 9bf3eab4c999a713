// SSM state quantization (shared/METHODS.md section 3, "DSQ"; Q-Mamba section 5.1, Eq. 7-9 and
// Table 3/5): DSQ with its four channel-scale variants, and the MinMax baselines per tensor, per
// channel and per state. All are one formula with a different magnitude M = S_ch · S_stᵀ:
//
//   Q(s)_ij = clamp(rne(qmax · s_ij / M_ij), -qmax, qmax) · M_ij / qmax,   qmax = 2^(b-1) - 1
//
//   tensor   S_ch = 1,                      S_st = max_ij |s_ij|          (one scale)
//   channel  S_ch,i = max_j |s_ij|,         S_st = 1                      (MinMax per channel)
//   state    S_ch = 1,                      S_st,j = max_i |s_ij|         (MinMax per state)
//   dsq      S_ch,i = f(|s_i,:|),           S_st,j = max_i |s_ij / S_ch,i|
//            f = abs.max: max_j;  abs.max.sqrt: sqrt(max_j);  abs.mean: mean_j;
//                abs.mean.sqrt: sqrt(mean_j) (= DSQ, Eq. 8)
//
// A zero S_ch,i or S_st,j (an all-zero row or column) becomes 1: its entries are 0 and stay 0.
// The scales come from the very state being quantized (dynamic): one [R, N] matrix at a time,
// R = E for Mamba-1 (the whole state of a sequence) and R = P for Mamba-2 (one head). Codes are
// symmetric in [-qmax, qmax] (Eq. 7 has no zero point). rne = round half to even. Any width 2..15:
// qmax = 2^14 - 1 at 15 bits is exact in fp32, as is every code.
//
// Not here: where the quantizer runs inside the recurrence (core/engine/scan_ref.h), calibrated
// (static) state scales (the paper's are dynamic).
#pragma once

#include <string>

#include <ATen/core/Tensor.h>

namespace ms {

enum class StateMethod { Tensor, Channel, State, Dsq };
enum class DsqVariant { AbsMax, AbsMaxSqrt, AbsMean, AbsMeanSqrt };

struct StateQuantSpec {
  int bits = 16;  // 16: the state stays float; 2..15 quantize
  StateMethod method = StateMethod::Dsq;
  DsqVariant variant = DsqVariant::AbsMeanSqrt;

  bool enabled() const { return bits < 16; }
  void validate() const;  // throws UsageError: bits outside 2..16
  std::string describe() const;  // "H4 dsq abs.mean.sqrt", "H4 channel", "H16"
};

// "tensor|channel|state|dsq" and "abs.max|abs.max.sqrt|abs.mean|abs.mean.sqrt"; throw UsageError
// naming the flag and the accepted values on anything else.
StateMethod parse_state_method(const std::string& text);
DsqVariant parse_dsq_variant(const std::string& text);
const char* state_method_name(StateMethod m);
const char* dsq_variant_name(DsqVariant v);

// The two scale vectors of every [R, N] matrix of s [..., R, N]: channel [..., R, 1] and
// state [..., 1, N], fp32, zeros already replaced by 1.
struct StateScales {
  at::Tensor channel, state;
};
StateScales state_scales(const at::Tensor& s, const StateQuantSpec& spec);

// s [..., R, N] (fp32, any device) -> Q(s), fp32, same shape. Identity when !spec.enabled().
at::Tensor state_fake_quant(const at::Tensor& s, const StateQuantSpec& spec);

// The reference: plain loops in fp64 over a CPU copy; fp32 result on the CPU. May differ from
// state_fake_quant by one step only where qmax·s/M is within fp32 rounding of a tie.
at::Tensor state_fake_quant_ref(const at::Tensor& s, const StateQuantSpec& spec);

}  // namespace ms
