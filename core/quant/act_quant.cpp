// Activation quantizers of act_quant.h: ATen ops (any device) and the fp64 loop reference.
#include "core/quant/act_quant.h"

#include <algorithm>
#include <cmath>

#include <ATen/ATen.h>

#include "core/util/error.h"

namespace ms {

void ActQuantSpec::validate() const {
  if (bits < 2 || bits > 16)
    throw UsageError("--abits: " + std::to_string(bits) + " is outside 2..16 (16: no activation quantization)");
  if (enabled() && scale == ActScale::Static && granularity == ActGranularity::Token)
    throw UsageError("--act-scale static needs --act-granularity tensor (a calibrated scale per "
                     "token does not exist)");
}

std::string ActQuantSpec::describe() const {
  if (!enabled()) return "A16";
  return "A" + std::to_string(bits) + " " + act_scale_name(scale) + " " +
         act_granularity_name(granularity);
}

ActScale parse_act_scale(const std::string& t) {
  if (t == "static") return ActScale::Static;
  if (t == "dynamic") return ActScale::Dynamic;
  throw UsageError("--act-scale: '" + t + "' is not one of static, dynamic");
}

ActGranularity parse_act_granularity(const std::string& t) {
  if (t == "tensor") return ActGranularity::Tensor;
  if (t == "token") return ActGranularity::Token;
  throw UsageError("--act-granularity: '" + t + "' is not one of tensor, token");
}

const char* act_scale_name(ActScale s) { return s == ActScale::Static ? "static" : "dynamic"; }
const char* act_granularity_name(ActGranularity g) {
  return g == ActGranularity::Tensor ? "tensor" : "token";
}

namespace {

void check_static(const ActQuantSpec& spec, double absmax) {
  if (spec.scale == ActScale::Static && !(std::isfinite(absmax) && absmax >= 0))
    throw InputError("activation quantization", "static absmax " + std::to_string(absmax) +
                                                    " is not a finite value >= 0");
}

}  // namespace

at::Tensor act_fake_quant(const at::Tensor& x_in, const ActQuantSpec& spec, double static_absmax) {
  const at::Tensor x = x_in.to(at::kFloat);
  if (!spec.enabled()) return x;
  check_static(spec, static_absmax);
  const double qmax = double((1 << (spec.bits - 1)) - 1);
  at::Tensor absmax;
  if (spec.scale == ActScale::Static)
    absmax = at::full({}, static_absmax, x.options());
  else if (spec.granularity == ActGranularity::Token)
    absmax = x.abs().amax(-1, true);  // [..., 1]
  else
    absmax = x.abs().max();
  absmax = at::where(absmax == 0, at::ones_like(absmax), absmax);
  const at::Tensor s = absmax / at::full({}, qmax, x.options());
  return at::clamp(at::round(x / s), -qmax - 1, qmax) * s;
}

at::Tensor act_fake_quant_ref(const at::Tensor& x_in, const ActQuantSpec& spec, double static_absmax) {
  at::Tensor x = x_in.to(at::kCPU, at::kDouble).contiguous();
  if (!spec.enabled()) return x.to(at::kFloat);
  check_static(spec, static_absmax);
  const double qmax = double((1 << (spec.bits - 1)) - 1);
  const int64_t C = x.dim() == 0 ? 1 : x.size(-1), rows = x.numel() / std::max<int64_t>(1, C);
  const double* px = x.data_ptr<double>();
  at::Tensor out = at::empty_like(x);
  double* po = out.data_ptr<double>();
  double whole = 0;
  for (int64_t e = 0; e < x.numel(); ++e) whole = std::max(whole, std::abs(px[e]));
  for (int64_t r = 0; r < rows; ++r) {
    double absmax = whole;
    if (spec.scale == ActScale::Static) {
      absmax = static_absmax;
    } else if (spec.granularity == ActGranularity::Token) {
      absmax = 0;
      for (int64_t c = 0; c < C; ++c) absmax = std::max(absmax, std::abs(px[r * C + c]));
    }
    const double s = (absmax == 0 ? 1.0 : absmax) / qmax;
    for (int64_t c = 0; c < C; ++c)
      po[r * C + c] = std::clamp(std::nearbyint(px[r * C + c] / s), -qmax - 1, qmax) * s;
  }
  return out.to(at::kFloat);
}

}  // namespace ms
