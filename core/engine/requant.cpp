// RequantSession (see requant.h).
#include "core/engine/requant.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include <ATen/ATen.h>
#include <ATen/Parallel.h>

#include "core/engine/calib_stats.h"
#include "core/engine/fake_quant.h"
#include "core/engine/observer.h"
#include "core/quant/weight_quant.h"
#include "core/util/error.h"

namespace ms {
namespace {

// Per-layer specs: the one difference from PointFakeQuant (one spec for every chosen point),
// whose quantize_* bodies this repeats exactly (act_fake_quant cast back, state_fake_quant).
class LayeredFakeQuant : public FakeQuant {
 public:
  LayeredFakeQuant(std::vector<ActQuantSpec> act, std::vector<StateQuantSpec> state,
                   const std::map<QuantPoint, double>& static_absmax)
      : act_(std::move(act)), state_(std::move(state)), static_absmax_(static_absmax) {}

  bool quantizes(const QuantPoint& p) const override {
    const size_t i = size_t(p.layer);
    if (p.site == Site::Input) return act_.at(i).enabled();
    if (p.site == Site::State) return state_.at(i).enabled();
    return false;
  }
  at::Tensor quantize_activation(const QuantPoint& p, const at::Tensor& x) const override {
    const ActQuantSpec& spec = act_.at(size_t(p.layer));
    double absmax = 0;
    if (spec.scale == ActScale::Static) {
      auto it = static_absmax_.find(p);
      if (it == static_absmax_.end())
        throw InputError(p.str(), "the calibration statistics have no absmax for this point");
      absmax = it->second;
    }
    return act_fake_quant(x, spec, absmax).to(x.scalar_type());
  }
  at::Tensor quantize_state(const QuantPoint& p, const at::Tensor& s) const override {
    return state_fake_quant(s, state_.at(size_t(p.layer)));
  }
  // quantize_state is state_fake_quant with the layer's spec: the CUDA scan may run it itself.
  std::optional<StateQuantSpec> state_spec(const QuantPoint& p) const override {
    if (p.site != Site::State || !state_.at(size_t(p.layer)).enabled()) return std::nullopt;
    return state_.at(size_t(p.layer));
  }

 private:
  std::vector<ActQuantSpec> act_;
  std::vector<StateQuantSpec> state_;
  const std::map<QuantPoint, double>& static_absmax_;
};

class RecordObserver : public Observer {
 public:
  std::map<QuantPoint, at::Tensor> values;
  bool wants(const QuantPoint&) const override { return true; }
  void collect(const QuantPoint& p, const at::Tensor& v) override { values[p] = v.detach().clone(); }
};

// The comparison keeps error_row_sums per point: the whole-point numbers are their sums
// (point_error below: ErrorAccumulator's definitions, tested equal to it to 1e-12 in tst_requant).
// One pass over the values instead of ErrorAccumulator's fp64 copies and then a second pass per
// token: the comparison, not the forward, dominated a setting on the CPU (perf: fp64 pow/copy/add).
class CompareObserver : public Observer {
 public:
  explicit CompareObserver(const std::map<QuantPoint, at::Tensor>& ref) : ref_(ref) {}
  bool wants(const QuantPoint& p) const override { return ref_.count(p) > 0; }
  void collect(const QuantPoint& p, const at::Tensor& v) override {
    const at::Tensor& r = ref_.at(p);
    if (r.sizes() != v.sizes())
      throw InputError(p.str(), "shapes differ: " + c10::str(r.sizes()) + " vs " + c10::str(v.sizes()));
    numel[p] = r.numel();
    sums[p] = error_row_sums(r, v);
  }
  std::map<QuantPoint, at::Tensor> sums;  // [5, B·T] fp64, on the model's device
  std::map<QuantPoint, int64_t> numel;

 private:
  const std::map<QuantPoint, at::Tensor>& ref_;
};

// ErrorAccumulator::result()'s definitions from the summed terms.
ErrorStats point_error(int64_t n, double err2, double ref2, double hat2, double dot, double max_abs) {
  ErrorStats e;
  e.count = n;
  if (n == 0) return e;
  e.mse = err2 / double(n);
  e.sqnr_db = err2 == 0 ? std::numeric_limits<double>::infinity()
              : ref2 == 0 ? -std::numeric_limits<double>::infinity()
                          : 10.0 * std::log10(ref2 / err2);
  if (ref2 == 0 && hat2 == 0) e.cosine = 1;
  else if (ref2 == 0 || hat2 == 0) e.cosine = 0;
  else e.cosine = dot / std::sqrt(ref2 * hat2);
  e.max_abs = max_abs;
  return e;
}

std::string spec_text(const std::optional<RtnSpec>& s) {
  if (!s) return {};
  return "W" + std::to_string(s->bits) + " " + s->granularity_str() + (s->symmetric ? " sym" : " asym");
}

float sqnr_db(double ref2, double err2) {
  if (err2 == 0) return std::numeric_limits<float>::infinity();
  if (ref2 == 0) return -std::numeric_limits<float>::infinity();
  return float(10.0 * std::log10(ref2 / err2));
}

WeightSet on_device(WeightSet w, const c10::Device& device) {
  for (auto& [key, t] : w.tensors) t = t.to(device, at::kFloat);
  return w;
}

}  // namespace

at::Tensor error_row_sums_ref(const at::Tensor& r, const at::Tensor& v) {
  const int64_t rows = r.size(0) * r.size(1), cols = r.numel() / std::max<int64_t>(1, rows);
  const at::Tensor x = r.to(at::kDouble).reshape({rows, cols});
  const at::Tensor y = v.to(r.device(), at::kDouble).reshape({rows, cols});
  const at::Tensor d = y - x;
  return at::stack({d.square().sum(-1), x.square().sum(-1), y.square().sum(-1), (x * y).sum(-1), d.abs().amax(-1)});
}

at::Tensor error_row_sums(const at::Tensor& r, const at::Tensor& v) {
  if (r.dim() < 2 || r.sizes() != v.sizes())
    throw InputError("error metrics", "shapes " + c10::str(r.sizes()) + " and " + c10::str(v.sizes()) +
                                          " are not the same [B, T, ...]");
  if (!r.is_cpu() || !v.is_cpu()) return error_row_sums_ref(r, v);
  const int64_t rows = r.size(0) * r.size(1), cols = r.numel() / std::max<int64_t>(1, rows);
  const at::Tensor x = r.to(at::kFloat).contiguous(), y = v.to(at::kFloat).contiguous();
  at::Tensor out = at::zeros({5, rows}, at::kDouble);
  const float *px = x.data_ptr<float>(), *py = y.data_ptr<float>();
  double* po = out.data_ptr<double>();
  at::parallel_for(0, rows, 16, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      double e2 = 0, x2 = 0, y2 = 0, xy = 0, mx = 0;
      for (int64_t j = i * cols, stop = j + cols; j < stop; ++j) {
        const double a = px[j], b = py[j], d = b - a;
        e2 += d * d;
        x2 += a * a;
        y2 += b * b;
        xy += a * b;
        mx = std::max(mx, std::abs(d));
      }
      po[i] = e2;
      po[rows + i] = x2;
      po[2 * rows + i] = y2;
      po[3 * rows + i] = xy;
      po[4 * rows + i] = mx;
    }
  });
  return out;
}

RequantSession::RequantSession(const Checkpoint& ck, const EngineOptions& options, at::Tensor ids,
                               const CalibStats* stats)
    : RequantSession(WeightSet::from_checkpoint(ck, at::kFloat), options, std::move(ids), stats) {}

RequantSession::RequantSession(const WeightSet& weights, const EngineOptions& options, at::Tensor ids,
                               const CalibStats* stats)
    : weights_(on_device(weights, options.device)), options_(options), ids_(ids.to(at::kCPU, at::kLong)) {
  init(stats);
}

RequantSession::~RequantSession() = default;

void RequantSession::init(const CalibStats* stats) {
  if (ids_.dim() != 2 || ids_.size(0) < 1 || ids_.size(1) < 2)
    throw InputError("requant", "the calibration batch must be [windows, tokens] with at least 2 "
                                "tokens, got " + c10::str(ids_.sizes()));
  float_model_ = MambaModel::load(weights_, options_);
  RecordObserver rec;
  float_logits_ = float_model_->forward(ids_, nullptr, &rec);  // [B, T, V]
  float_values_ = std::move(rec.values);
  points_ = activation_points(config());
  for (const QuantPoint& p : points_) {
    if (p.site != Site::Input) continue;
    if (stats) {
      auto it = stats->activations.find(p.str());
      if (it != stats->activations.end() && it->second.absmax.defined())
        static_absmax_[p] = it->second.absmax.max().item<double>();
    } else {
      static_absmax_[p] = float_values_.at(p).abs().max().item<double>();
    }
  }
}

RequantResult RequantSession::evaluate(const RequantSetting& s) {
  const int n_layer = int(config().n_layer);
  s.validate(n_layer);
  RequantResult r;
  r.id = s.id;

  // Weights: re-round only those whose spec changed since the last setting.
  bool weights_changed = false, any_quantized = false;
  for (int i = 0; i < n_layer; ++i) {
    const std::optional<RtnSpec> spec = s.weight_spec(i);
    const std::string text = spec_text(spec);
    for (Module m : default_weight_modules()) {
      const std::string key = layer_key(i, std::string(module_name(m)) + ".weight");
      const at::Tensor* w = weights_.find(key);
      if (!w) continue;  // Mamba-2 has no x_proj, dt_proj
      auto it = weight_cache_.find(key);
      const std::string cached = it == weight_cache_.end() ? std::string() : it->second.spec;
      if (cached != text) {
        weights_changed = true;
        if (!spec) {
          weight_cache_.erase(key);
        } else {
          CachedWeight c{text, rtn_fake_quant(*w, *spec, key), {}};
          c.error = tensor_error(*w, c.value);
          weight_cache_[key] = std::move(c);
          ++r.weights_rounded;
        }
      }
      if (spec) {
        any_quantized = true;
        r.weights.push_back({key, weight_cache_.at(key).error});
      }
    }
  }
  if (!any_quantized) {
    quant_model_.reset();
  } else if (weights_changed || !quant_model_) {
    WeightSet set = weights_;  // shallow: the tensors are shared
    for (const auto& [key, c] : weight_cache_) set.set(key, c.value);
    quant_model_ = MambaModel::load(set, options_);
    r.model_reloaded = true;
  }
  const MambaModel& qmodel = quant_model_ ? *quant_model_ : *float_model_;

  std::vector<ActQuantSpec> act;
  std::vector<StateQuantSpec> state;
  for (int i = 0; i < n_layer; ++i) {
    act.push_back(s.act_spec(i));
    state.push_back(s.state_spec(i));
    if (act.back().enabled() && act.back().scale == ActScale::Static)
      for (const QuantPoint& p : points_)
        if (p.layer == i && p.site == Site::Input && !static_absmax_.count(p))
          throw InputError(p.str(), "static activation scales: the calibration statistics have no "
                                    "absmax for this point");
  }
  LayeredFakeQuant fq(act, state, static_absmax_);
  CompareObserver cmp(float_values_);
  const at::Tensor lq_all = qmodel.forward(ids_, nullptr, &cmp, &fq);  // [B, T, V]

  // End to end, window by window exactly as evaluate_quantized() counts (predicted positions
  // 0..T-2 of each window), so one window gives its numbers bit for bit.
  EndToEndMetrics& e = r.end_to_end;
  const int64_t B = ids_.size(0), T = ids_.size(1);
  double nll_f = 0, nll_q = 0, kl_sum = 0;
  int64_t agree = 0;
  for (int64_t b = 0; b < B; ++b) {
    const at::Tensor lf = float_logits_.select(0, b), lq = lq_all.select(0, b);
    const at::Tensor pf = at::log_softmax(lf.narrow(0, 0, T - 1).to(at::kDouble), -1);
    const at::Tensor pq = at::log_softmax(lq.narrow(0, 0, T - 1).to(at::kDouble), -1);
    const at::Tensor target = ids_.select(0, b).narrow(0, 1, T - 1).to(pf.device()).unsqueeze(1);
    nll_f -= pf.gather(1, target).sum().item<double>();
    nll_q -= pq.gather(1, target).sum().item<double>();
    const at::Tensor kl = kl_per_token(lf.narrow(0, 0, T - 1), lq.narrow(0, 0, T - 1)).contiguous();
    const double* pk = kl.data_ptr<double>();
    r.kl.insert(r.kl.end(), pk, pk + kl.numel());
    kl_sum += kl.sum().item<double>();
    agree += (pf.argmax(-1) == pq.argmax(-1)).sum().item<int64_t>();
    e.tokens += T - 1;
    e.windows += 1;
  }
  e.ppl_float = std::exp(nll_f / double(e.tokens));
  e.ppl_quant = std::exp(nll_q / double(e.tokens));
  e.delta_ppl = e.ppl_quant - e.ppl_float;
  e.kl_mean = kl_sum / double(e.tokens);
  e.kl_p50 = percentile(r.kl, 0.50);
  e.kl_p90 = percentile(r.kl, 0.90);
  e.kl_p99 = percentile(r.kl, 0.99);
  e.kl_max = *std::max_element(r.kl.begin(), r.kl.end());
  e.top1 = double(agree) / double(e.tokens);

  std::vector<at::Tensor> all;
  for (const QuantPoint& p : points_) all.push_back(cmp.sums.at(p));
  const at::Tensor sums = at::stack(all).to(at::kCPU).contiguous();  // [points, 5, B·T]
  const int64_t rows = B * T;
  const double* ps = sums.data_ptr<double>();
  if (s.token_detail) r.token_sqnr.resize(points_.size() * size_t(rows));
  for (size_t k = 0; k < points_.size(); ++k) {
    const double* q = ps + int64_t(k) * 5 * rows;
    double t[4] = {0, 0, 0, 0}, mx = 0;
    for (int64_t i = 0; i < rows; ++i) {
      for (int j = 0; j < 4; ++j) t[j] += q[j * rows + i];
      mx = std::max(mx, q[4 * rows + i]);
      if (s.token_detail) r.token_sqnr[k * size_t(rows) + size_t(i)] = sqnr_db(q[rows + i], q[i]);
    }
    r.points.push_back({points_[k].str(), point_error(cmp.numel.at(points_[k]), t[0], t[1], t[2], t[3], mx)});
  }
  return r;
}

}  // namespace ms
