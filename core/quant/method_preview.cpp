// Before/after of one method at one quant point (see method_preview.h).
#include "core/quant/method_preview.h"

#include <cmath>
#include <limits>

#include <ATen/ATen.h>

#include "core/engine/calib_stats.h"
#include "core/engine/mamba_model.h"
#include "core/engine/observer.h"
#include "core/quant/act_quant.h"
#include "core/quant/rotation.h"
#include "core/quant/smoothquant.h"
#include "core/util/error.h"

namespace ms {
namespace {

// Keeps a CPU fp32 copy of one point's values.
class PointCapture : public Observer {
 public:
  explicit PointCapture(QuantPoint p) : point_(p) {}
  bool wants(const QuantPoint& p) const override { return p == point_; }
  void collect(const QuantPoint&, const at::Tensor& value) override { value_ = value.to(at::kCPU, at::kFloat).clone(); }
  at::Tensor value_;

 private:
  QuantPoint point_;
};

QuantError error_between(const at::Tensor& x, const at::Tensor& q, std::string name) {
  const at::Tensor xd = x.to(at::kDouble), qd = q.to(at::kDouble);
  QuantError e;
  e.quantizer = std::move(name);
  e.mean_square = xd.pow(2).mean().item<double>();
  e.mse = (xd - qd).pow(2).mean().item<double>();
  e.sqnr_db = e.mse > 0.0 ? 10.0 * std::log10(e.mean_square / e.mse) : std::numeric_limits<double>::infinity();
  return e;
}

// A state [M, ..., R, N] viewed as values of R' = (everything but M and N) channels: [M·N, R'].
at::Tensor state_as_channels(const at::Tensor& s) {
  const int64_t m = s.size(0), n = s.size(-1);
  return s.reshape({m, -1, n}).transpose(1, 2).reshape({m * n, -1});
}

bool rotatable(Module m) { return m == Module::InProj || m == Module::DtProj || m == Module::OutProj; }

}  // namespace

PreviewMethod parse_preview_method(const std::string& text) {
  if (text == "hadamard") return PreviewMethod::Hadamard;
  if (text == "klt") return PreviewMethod::Klt;
  if (text == "smoothquant") return PreviewMethod::SmoothQuant;
  if (text == "dsq") return PreviewMethod::Dsq;
  throw UsageError("--method: '" + text + "' is not one of hadamard, klt, smoothquant, dsq");
}

const char* preview_method_name(PreviewMethod m) {
  switch (m) {
    case PreviewMethod::Hadamard: return "hadamard";
    case PreviewMethod::Klt: return "klt";
    case PreviewMethod::SmoothQuant: return "smoothquant";
    case PreviewMethod::Dsq: return "dsq";
  }
  return "?";
}

void PreviewRequest::validate() const {
  if (bits < 2 || bits > 15) throw UsageError("--bits must be in 2..15, not " + std::to_string(bits));
  const std::string p = point.str();
  if (method == PreviewMethod::Dsq) {
    if (point.site != Site::State) throw UsageError("--method dsq needs a state point (layers.{i}.ssm.state), not " + p);
    return;
  }
  if (point.site != Site::Input)
    throw UsageError(std::string("--method ") + preview_method_name(method) + " needs an activation point (layers.{i}.{module}.input), not " + p);
  if ((method == PreviewMethod::Hadamard || method == PreviewMethod::Klt) && !rotatable(point.module))
    throw UsageError(p + ": the exporter rotates only in_proj, dt_proj and out_proj inputs");
  if (method == PreviewMethod::SmoothQuant && !(alpha >= 0.0 && alpha <= 1.0))
    throw UsageError("--alpha must be in [0, 1]");
}

at::Tensor capture_point(const MambaModel& model, const at::Tensor& ids, const QuantPoint& point) {
  PointCapture cap(point);
  model.forward(ids, nullptr, &cap);
  if (!cap.value_.defined()) throw UsageError("'" + point.str() + "' is not a point of this model");
  if (point.site == Site::State) {
    // [B, T, E, N] | [B, T, H, P, N] -> one matrix (or head stack) per token.
    std::vector<int64_t> shape{-1};
    for (int64_t d = 2; d < cap.value_.dim(); ++d) shape.push_back(cap.value_.size(d));
    return cap.value_.reshape(shape);
  }
  return cap.value_.reshape({-1, cap.value_.size(-1)});  // [B·T, C]
}

at::Tensor preview_transform(const MambaModel& model, const PreviewRequest& r, const at::Tensor& x,
                             at::Tensor* smoothing) {
  at::Tensor xd = x.to(at::kDouble);  // [rows, C]
  const int64_t c = xd.size(1);
  if (r.method == PreviewMethod::SmoothQuant) {
    const at::Tensor w = model.weight(QuantPoint{r.point.layer, r.point.module, Site::Weight}).to(at::kCPU, at::kFloat);
    if (w.size(1) != c)
      throw InputError(r.point.str(), "consuming weight has " + std::to_string(w.size(1)) + " columns for " + std::to_string(c) + " channels");
    const at::Tensor s = smooth_scales(x.abs().amax(0).to(at::kFloat), w, r.alpha);  // [C] fp64
    if (smoothing) *smoothing = s;
    return xd / s;
  }
  if (r.point.module == Module::InProj) {
    // The exporter fuses the norm weight into in_proj first: the stream it rotates is X / g.
    const at::Tensor g = model.layer(r.point.layer).norm.to(at::kCPU, at::kDouble);
    if ((g == 0).any().item<bool>()) throw InputError(r.point.str(), "the RMSNorm weight has a zero; the rotation cannot fuse it");
    xd = xd / g;
  }
  if (r.method == PreviewMethod::Hadamard) return at::matmul(xd, hadamard_rotation(c));
  const at::Tensor centred = xd - xd.mean(0, true);
  const at::Tensor cov = at::matmul(centred.t(), centred) / static_cast<double>(xd.size(0));
  return at::matmul(xd, klt_rotation(cov));
}

DistributionSide describe_values(const at::Tensor& x, int bits) {
  const at::Tensor xd = x.to(at::kDouble);  // [rows, C]
  DistributionSide s;
  const at::Tensor absmax = xd.abs().amax(0).to(at::kFloat).contiguous();
  const at::Tensor var = (xd - xd.mean(0, true)).pow(2).mean(0).contiguous();  // population variance
  s.channel_absmax.assign(absmax.data_ptr<float>(), absmax.data_ptr<float>() + absmax.numel());
  s.channel_var.assign(var.data_ptr<double>(), var.data_ptr<double>() + var.numel());
  s.absmax = absmax.max().item<double>();
  s.absmax_cv = coefficient_of_variation_of(std::vector<double>(s.channel_absmax.begin(), s.channel_absmax.end()));
  s.var_cv = coefficient_of_variation_of(s.channel_var);
  // The statistics file's rule (calib_stats.cpp): bin i holds edges[i] <= |x| < edges[i+1].
  const at::Tensor bins = (at::bucketize(xd.abs().flatten(), histogram_edges(), false, true) - 1).clamp(0, kHistBins - 1);
  const at::Tensor hist = at::bincount(bins, {}, kHistBins).to(at::kLong).contiguous();
  s.hist.assign(hist.data_ptr<int64_t>(), hist.data_ptr<int64_t>() + hist.numel());
  ActQuantSpec spec;
  spec.bits = bits;
  spec.scale = ActScale::Dynamic;
  spec.granularity = ActGranularity::Tensor;
  s.error = error_between(xd, act_fake_quant(x.to(at::kFloat), spec), "A" + std::to_string(bits) + " per-tensor RTN");
  return s;
}

QuantError state_quant_error(const at::Tensor& s, const StateQuantSpec& spec) {
  return error_between(s, state_fake_quant(s.to(at::kFloat), spec), spec.describe());
}

PreviewSnapshot preview_method(const MambaModel& model, const at::Tensor& ids, const PreviewRequest& r) {
  r.validate();
  PreviewSnapshot p;
  p.point = r.point;
  p.method = preview_method_name(r.method);
  p.bits = r.bits;
  p.alpha = r.alpha;
  p.tokens = ids.numel();
  const at::Tensor edges = histogram_edges().contiguous();
  p.hist_edges.assign(edges.data_ptr<double>(), edges.data_ptr<double>() + edges.numel());
  const at::Tensor x = capture_point(model, ids, r.point);
  if (r.method == PreviewMethod::Dsq) {
    StateQuantSpec base{r.bits, r.baseline, r.variant}, dsq{r.bits, StateMethod::Dsq, r.variant};
    const StateScales sc = state_scales(x, dsq);
    p.before = describe_values(state_as_channels(x), r.bits);
    p.after = describe_values(state_as_channels(x / (sc.channel * sc.state)), r.bits);
    p.before.error = state_quant_error(x, base);
    p.after.error = state_quant_error(x, dsq);
    for (const StateMethod m : {StateMethod::Tensor, StateMethod::Channel, StateMethod::State, StateMethod::Dsq})
      p.state_errors.push_back(state_quant_error(x, StateQuantSpec{r.bits, m, r.variant}));
    p.transform = "S / (S_ch · S_st), DSQ " + std::string(dsq_variant_name(r.variant)) + " vs " + state_method_name(r.baseline);
    return p;
  }
  at::Tensor s;
  const at::Tensor after = preview_transform(model, r, x, &s);
  p.before = describe_values(x, r.bits);
  p.after = describe_values(after, r.bits);
  const std::string c = std::to_string(x.size(1));
  const std::string fused = r.point.module == Module::InProj ? "(X / g)" : "X";
  switch (r.method) {
    case PreviewMethod::Hadamard: p.transform = fused + " · H / √" + c; break;
    case PreviewMethod::Klt: p.transform = fused + " · K H / √" + c + " (K: this point's covariance)"; break;
    case PreviewMethod::SmoothQuant: {
      p.transform = "X / s, alpha = " + std::to_string(r.alpha).substr(0, 4);
      const at::Tensor sc = s.contiguous();
      p.smoothing.assign(sc.data_ptr<double>(), sc.data_ptr<double>() + sc.numel());
      break;
    }
    case PreviewMethod::Dsq: break;
  }
  return p;
}

}  // namespace ms
