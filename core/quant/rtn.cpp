// RTN: fit, apply and the fp64 reference. Numerics in rtn.h.
#include "core/quant/rtn.h"

#include <charconv>
#include <cmath>
#include <vector>

#include <ATen/ATen.h>

#include "core/util/error.h"

namespace ms {
namespace {

int64_t qmax_sym(int bits) { return (int64_t{1} << (bits - 1)) - 1; }  // Q = 2^(B-1) - 1
int64_t qmax_asym(int bits) { return (int64_t{1} << bits) - 1; }      // 2^B - 1

std::string shape_str(const at::Tensor& t) {
  std::string s = "[";
  for (int64_t i = 0; i < t.dim(); ++i) s += (i ? ", " : "") + std::to_string(t.size(i));
  return s + "]";
}

// Checks w and returns (groups, columns per group) for the spec.
std::pair<int64_t, int64_t> group_layout(const at::Tensor& w, const RtnSpec& spec,
                                         const std::string& name) {
  spec.validate();
  if (w.dim() != 2 || w.size(0) < 1 || w.size(1) < 1)
    throw InputError(name, "RTN expects a non-empty weight [out, in], got " + shape_str(w));
  if (!at::isFloatingType(w.scalar_type()))
    throw InputError(name, "RTN expects a floating-point weight");
  const int64_t in = w.size(1);
  switch (spec.granularity) {
    case RtnGranularity::Tensor:
    case RtnGranularity::Channel: return {1, in};
    case RtnGranularity::Group:
      if (in % spec.group_size != 0)
        throw InputError(name, "group size " + std::to_string(spec.group_size) +
                                   " does not divide the row length " + std::to_string(in) +
                                   " of weight " + shape_str(w) +
                                   " (choose a G that divides it, or leave the module out with --modules)");
      return {in / spec.group_size, spec.group_size};
  }
  return {1, in};
}

// w viewed as [rows, groups, g] where rows = 1 for per-tensor (one group over everything).
at::Tensor grouped(const at::Tensor& w32, const RtnSpec& spec, int64_t groups, int64_t g) {
  if (spec.granularity == RtnGranularity::Tensor) return w32.reshape({1, 1, w32.numel()});
  return w32.reshape({w32.size(0), groups, g});
}

// A 0-dim fp32 tensor on `like`'s device: dividing by it stays a true division on CUDA (a CPU
// scalar divisor there becomes a multiply by its reciprocal, which rounds differently).
at::Tensor scalar(double v, const at::Tensor& like) {
  return at::scalar_tensor(v, like.options().dtype(at::kFloat));
}

// [out, groups] params broadcast over [out, groups, g].
at::Tensor expand(const at::Tensor& p) { return p.unsqueeze(-1); }

}  // namespace

void RtnSpec::validate() const {
  if (bits < 2 || bits > 15)
    throw UsageError("RTN bit width must be 2..15 (16: weights stay float, not an RTN width), got " +
                     std::to_string(bits));
  if (granularity == RtnGranularity::Group && group_size < 1)
    throw UsageError("RTN group size must be at least 1, got " + std::to_string(group_size));
}

at::ScalarType rtn_code_dtype(const RtnSpec& spec) {
  if (spec.bits > 8) return at::kShort;  // -16384..16383 or 0..32767 at 15 bits
  return spec.symmetric ? at::kChar : at::kByte;
}

std::string RtnSpec::granularity_str() const {
  switch (granularity) {
    case RtnGranularity::Tensor: return "tensor";
    case RtnGranularity::Channel: return "channel";
    case RtnGranularity::Group: return "group:" + std::to_string(group_size);
  }
  return "?";
}

RtnSpec RtnSpec::with_granularity(RtnSpec spec, const std::string& text) {
  if (text == "tensor") {
    spec.granularity = RtnGranularity::Tensor;
  } else if (text == "channel") {
    spec.granularity = RtnGranularity::Channel;
  } else if (text.rfind("group:", 0) == 0) {
    const std::string n = text.substr(6);
    int64_t g = 0;
    auto [end, ec] = std::from_chars(n.data(), n.data() + n.size(), g);
    if (n.empty() || ec != std::errc() || end != n.data() + n.size() || g < 1)
      throw UsageError("granularity '" + text + "': G must be a positive integer (group:128)");
    spec.granularity = RtnGranularity::Group;
    spec.group_size = g;
  } else {
    throw UsageError("granularity '" + text + "' is not one of tensor, channel, group:G");
  }
  return spec;
}

RtnParams rtn_fit(const at::Tensor& w, const RtnSpec& spec, const std::string& name) {
  const auto [groups, g] = group_layout(w, spec, name);
  at::Tensor w32 = w.to(at::kFloat);
  if (!at::isfinite(w32).all().item<bool>())
    throw InputError(name, "has non-finite values; RTN needs finite weights");
  at::Tensor x = grouped(w32, spec, groups, g);  // [rows, groups, g]
  RtnParams p;
  p.spec = spec;
  p.out_features = w.size(0);
  p.in_features = w.size(1);
  at::Tensor one = scalar(1.0, w32);
  if (spec.symmetric) {
    at::Tensor absmax = x.abs().amax(-1);  // [rows, groups]
    // An all-zero row/group gets s = 1 (any s codes it as 0; 1 keeps the params finite).
    p.scales = at::where(absmax == 0, one, absmax / scalar(double(qmax_sym(spec.bits)), w32));
  } else {
    at::Tensor mn = x.amin(-1), mx = x.amax(-1);
    at::Tensor range = mx - mn;
    // Degenerate max == min = c: s = |c| codes c exactly with q = 0, z = -sign(c) (rtn.h).
    at::Tensor degenerate = at::where(mx == 0, one, mx.abs());
    p.scales = at::where(range == 0, degenerate, range / scalar(double(qmax_asym(spec.bits)), w32));
    p.zeros = at::round(-mn / p.scales);
  }
  if (spec.granularity == RtnGranularity::Tensor) {  // one value repeated over rows
    p.scales = p.scales.expand({p.out_features, 1}).contiguous();
    if (p.zeros.defined()) p.zeros = p.zeros.expand({p.out_features, 1}).contiguous();
  }
  return p;
}

at::Tensor rtn_quantize(const at::Tensor& w, const RtnParams& p) {
  if (w.dim() != 2 || w.size(0) != p.out_features || w.size(1) != p.in_features)
    throw InputError("rtn_quantize", "weight " + shape_str(w) + " does not match the fitted [" +
                                         std::to_string(p.out_features) + ", " +
                                         std::to_string(p.in_features) + "]");
  const int64_t groups = p.groups(), g = p.in_features / groups;
  at::Tensor x = w.to(at::kFloat).reshape({p.out_features, groups, g});
  at::Tensor r = at::round(x / expand(p.scales));  // round half to even
  if (p.spec.symmetric) {
    const double q = double(qmax_sym(p.spec.bits));
    return r.clamp(-q - 1, q).to(rtn_code_dtype(p.spec)).reshape({p.out_features, p.in_features});
  }
  return (r + expand(p.zeros))
      .clamp(0, double(qmax_asym(p.spec.bits)))
      .to(rtn_code_dtype(p.spec))
      .reshape({p.out_features, p.in_features});
}

at::Tensor rtn_dequantize(const at::Tensor& codes, const RtnParams& p) {
  if (codes.dim() != 2 || codes.size(0) != p.out_features || codes.size(1) != p.in_features)
    throw InputError("rtn_dequantize", "codes " + shape_str(codes) + " do not match the fitted [" +
                                           std::to_string(p.out_features) + ", " +
                                           std::to_string(p.in_features) + "]");
  const int64_t groups = p.groups(), g = p.in_features / groups;
  at::Tensor q = codes.to(at::kFloat).reshape({p.out_features, groups, g});
  at::Tensor v = p.spec.symmetric ? q * expand(p.scales) : (q - expand(p.zeros)) * expand(p.scales);
  return v.reshape({p.out_features, p.in_features});
}

at::Tensor rtn_fake_quant(const at::Tensor& w, const RtnSpec& spec, const std::string& name) {
  RtnParams p = rtn_fit(w, spec, name);
  return rtn_dequantize(rtn_quantize(w, p), p);
}

at::Tensor rtn_fake_quant_ref(const at::Tensor& w, const RtnSpec& spec, const std::string& name) {
  // Plain variables, not structured bindings: clang 14 (the sanitizer and fuzz builds) cannot
  // capture bindings in the lambdas below.
  const std::pair<int64_t, int64_t> layout = group_layout(w, spec, name);
  const int64_t groups = layout.first, g = layout.second;
  const at::Tensor c = w.to(at::kCPU, at::kDouble).contiguous();
  const int64_t out = c.size(0), in = c.size(1);
  const double* src = c.data_ptr<double>();
  for (int64_t i = 0; i < c.numel(); ++i)
    if (!std::isfinite(src[i])) throw InputError(name, "has non-finite values; RTN needs finite weights");
  at::Tensor result = at::empty({out, in}, at::kFloat);
  float* dst = result.data_ptr<float>();
  // Blocks of elements sharing one (s, z): the whole tensor, a row, or g columns of a row.
  std::vector<std::pair<int64_t, int64_t>> blocks;  // (row, first column); length g
  const bool whole = spec.granularity == RtnGranularity::Tensor;
  if (!whole)
    for (int64_t r = 0; r < out; ++r)
      for (int64_t k = 0; k < groups; ++k) blocks.push_back({r, k * g});
  auto quant_block = [&](auto&& for_each) {
    double mn = INFINITY, mx = -INFINITY, absmax = 0;
    for_each([&](int64_t idx) {
      mn = std::min(mn, src[idx]);
      mx = std::max(mx, src[idx]);
      absmax = std::max(absmax, std::fabs(src[idx]));
    });
    double s = 1, z = 0;
    if (spec.symmetric) {
      s = absmax == 0 ? 1.0 : absmax / double(qmax_sym(spec.bits));
    } else {
      s = mx == mn ? (mx == 0 ? 1.0 : std::fabs(mx)) : (mx - mn) / double(qmax_asym(spec.bits));
      z = std::nearbyint(-mn / s);  // default rounding mode: half to even
    }
    for_each([&](int64_t idx) {
      double q = std::nearbyint(src[idx] / s);
      if (spec.symmetric) {
        const double Q = double(qmax_sym(spec.bits));
        q = std::min(std::max(q, -Q - 1), Q);
        dst[idx] = static_cast<float>((q + 0.0) * s);  // integer codes: no -0, as the fast path
      } else {
        q = std::min(std::max(q + z, 0.0), double(qmax_asym(spec.bits)));
        dst[idx] = static_cast<float>((q - z) * s);
      }
    });
  };
  if (whole) {
    quant_block([&](auto&& f) {
      for (int64_t i = 0; i < out * in; ++i) f(i);
    });
  } else {
    for (const std::pair<int64_t, int64_t>& block : blocks) {
      const int64_t r = block.first, c0 = block.second;
      quant_block([&](auto&& f) {
        for (int64_t j = c0; j < c0 + g; ++j) f(r * in + j);
      });
    }
  }
  return result;
}

}  // namespace ms
