// State quantizers of dsq.h: ATen ops on any device (the scan calls them once per token), and the
// fp64 plain-loop reference.
#include "core/quant/dsq.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include <ATen/ATen.h>

#include "core/util/error.h"

namespace ms {

void StateQuantSpec::validate() const {
  if (bits < 2 || bits > 16)
    throw UsageError("--hbits: " + std::to_string(bits) + " is outside 2..16 (16: no state quantization)");
}

std::string StateQuantSpec::describe() const {
  if (!enabled()) return "H16";
  std::string s = "H" + std::to_string(bits) + " " + state_method_name(method);
  if (method == StateMethod::Dsq) s += std::string(" ") + dsq_variant_name(variant);
  return s;
}

StateMethod parse_state_method(const std::string& t) {
  if (t == "tensor") return StateMethod::Tensor;
  if (t == "channel") return StateMethod::Channel;
  if (t == "state") return StateMethod::State;
  if (t == "dsq") return StateMethod::Dsq;
  throw UsageError("--state-method: '" + t + "' is not one of dsq, tensor, channel, state");
}

DsqVariant parse_dsq_variant(const std::string& t) {
  if (t == "abs.max") return DsqVariant::AbsMax;
  if (t == "abs.max.sqrt") return DsqVariant::AbsMaxSqrt;
  if (t == "abs.mean") return DsqVariant::AbsMean;
  if (t == "abs.mean.sqrt") return DsqVariant::AbsMeanSqrt;
  throw UsageError("--dsq-variant: '" + t +
                   "' is not one of abs.max, abs.max.sqrt, abs.mean, abs.mean.sqrt");
}

const char* state_method_name(StateMethod m) {
  switch (m) {
    case StateMethod::Tensor: return "tensor";
    case StateMethod::Channel: return "channel";
    case StateMethod::State: return "state";
    case StateMethod::Dsq: return "dsq";
  }
  return "?";
}

const char* dsq_variant_name(DsqVariant v) {
  switch (v) {
    case DsqVariant::AbsMax: return "abs.max";
    case DsqVariant::AbsMaxSqrt: return "abs.max.sqrt";
    case DsqVariant::AbsMean: return "abs.mean";
    case DsqVariant::AbsMeanSqrt: return "abs.mean.sqrt";
  }
  return "?";
}

namespace {

void check_state(const at::Tensor& s) {
  if (s.dim() < 2)
    throw InputError("state quantization", "state shape " + c10::str(s.sizes()) +
                                               ", expected [..., R, N]");
}

at::Tensor ones_for_zeros(const at::Tensor& t) { return at::where(t == 0, at::ones_like(t), t); }

}  // namespace

StateScales state_scales(const at::Tensor& s_in, const StateQuantSpec& spec) {
  check_state(s_in);
  const at::Tensor s = s_in.to(at::kFloat);
  const at::Tensor a = s.abs();                    // [..., R, N]
  std::vector<int64_t> ch_shape = s.sizes().vec(), st_shape = s.sizes().vec();
  ch_shape.back() = 1;                             // [..., R, 1]
  st_shape[st_shape.size() - 2] = 1;               // [..., 1, N]
  StateScales out;
  switch (spec.method) {
    case StateMethod::Tensor:
      out.channel = at::ones(ch_shape, s.options());
      out.state = ones_for_zeros(a.amax({-2, -1}, true)).expand(st_shape).contiguous();
      break;
    case StateMethod::Channel:
      out.channel = ones_for_zeros(a.amax(-1, true));
      out.state = at::ones(st_shape, s.options());
      break;
    case StateMethod::State:
      out.channel = at::ones(ch_shape, s.options());
      out.state = ones_for_zeros(a.amax(-2, true));
      break;
    case StateMethod::Dsq: {
      at::Tensor ch;
      switch (spec.variant) {
        case DsqVariant::AbsMax: ch = a.amax(-1, true); break;
        case DsqVariant::AbsMaxSqrt: ch = a.amax(-1, true).sqrt(); break;
        case DsqVariant::AbsMean: ch = a.mean(-1, true); break;
        case DsqVariant::AbsMeanSqrt: ch = a.mean(-1, true).sqrt(); break;
      }
      out.channel = ones_for_zeros(ch);
      out.state = ones_for_zeros((a / out.channel).amax(-2, true));
      break;
    }
  }
  return out;
}

at::Tensor state_fake_quant(const at::Tensor& s_in, const StateQuantSpec& spec) {
  if (!spec.enabled()) return s_in;
  const at::Tensor s = s_in.to(at::kFloat);
  const StateScales sc = state_scales(s, spec);
  const double qmax = double((1 << (spec.bits - 1)) - 1);
  const at::Tensor m = sc.channel * sc.state;  // [..., R, N]
  const at::Tensor q = at::clamp(at::round(s * qmax / m), -qmax, qmax);
  return q * m / qmax;
}

at::Tensor state_fake_quant_ref(const at::Tensor& s_in, const StateQuantSpec& spec) {
  check_state(s_in);
  at::Tensor s = s_in.to(at::kCPU, at::kDouble).contiguous();
  if (!spec.enabled()) return s.to(at::kFloat);
  const int64_t N = s.size(-1), R = s.size(-2), mats = s.numel() / std::max<int64_t>(1, R * N);
  const double qmax = double((1 << (spec.bits - 1)) - 1);
  at::Tensor out = at::empty_like(s);
  const double* ps = s.data_ptr<double>();
  double* po = out.data_ptr<double>();
  auto one_if_zero = [](double v) { return v == 0 ? 1.0 : v; };
  for (int64_t k = 0; k < mats; ++k) {
    const double* m = ps + k * R * N;
    std::vector<double> ch(size_t(R), 1.0), st(size_t(N), 1.0);
    if (spec.method == StateMethod::Channel || spec.method == StateMethod::Dsq) {
      for (int64_t i = 0; i < R; ++i) {
        double mx = 0, sum = 0;
        for (int64_t j = 0; j < N; ++j) {
          mx = std::max(mx, std::abs(m[i * N + j]));
          sum += std::abs(m[i * N + j]);
        }
        double v = mx;
        if (spec.method == StateMethod::Dsq) {
          switch (spec.variant) {
            case DsqVariant::AbsMax: v = mx; break;
            case DsqVariant::AbsMaxSqrt: v = std::sqrt(mx); break;
            case DsqVariant::AbsMean: v = sum / double(N); break;
            case DsqVariant::AbsMeanSqrt: v = std::sqrt(sum / double(N)); break;
          }
        }
        ch[size_t(i)] = one_if_zero(v);
      }
    }
    if (spec.method == StateMethod::Tensor) {
      double mx = 0;
      for (int64_t e = 0; e < R * N; ++e) mx = std::max(mx, std::abs(m[e]));
      std::fill(st.begin(), st.end(), one_if_zero(mx));
    } else if (spec.method == StateMethod::State || spec.method == StateMethod::Dsq) {
      for (int64_t j = 0; j < N; ++j) {
        double mx = 0;
        for (int64_t i = 0; i < R; ++i) mx = std::max(mx, std::abs(m[i * N + j]) / ch[size_t(i)]);
        st[size_t(j)] = one_if_zero(mx);
      }
    }
    for (int64_t i = 0; i < R; ++i)
      for (int64_t j = 0; j < N; ++j) {
        const double M = ch[size_t(i)] * st[size_t(j)];
        const double q = std::clamp(std::nearbyint(qmax * m[i * N + j] / M), -qmax, qmax);
        po[k * R * N + i * N + j] = q * M / qmax;
      }
  }
  return out.to(at::kFloat);
}

}  // namespace ms
