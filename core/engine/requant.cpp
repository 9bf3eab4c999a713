// RequantSession (see requant.h).
#include "core/engine/requant.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include <ATen/ATen.h>

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

// Whole-point errors through metrics.h's accumulator; per-token squared norms kept on the device
// ([B, T] fp64) and brought over once at the end.
class CompareObserver : public Observer {
 public:
  CompareObserver(const std::map<QuantPoint, at::Tensor>& ref, bool per_token)
      : ref_(ref), per_token_(per_token) {}
  bool wants(const QuantPoint& p) const override { return ref_.count(p) > 0; }
  void collect(const QuantPoint& p, const at::Tensor& v) override {
    const at::Tensor& r = ref_.at(p);
    acc[p].add(r, v);
    if (!per_token_) return;
    const at::Tensor x = r.to(at::kDouble), d = v.to(x.device(), at::kDouble) - x;
    err2[p] = d.pow(2).flatten(2).sum(-1);  // [B, T]
    ref2[p] = x.pow(2).flatten(2).sum(-1);
  }
  std::map<QuantPoint, ErrorAccumulator> acc;
  std::map<QuantPoint, at::Tensor> err2, ref2;

 private:
  const std::map<QuantPoint, at::Tensor>& ref_;
  bool per_token_;
};

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
  CompareObserver cmp(float_values_, s.token_detail);
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

  for (const QuantPoint& p : points_) r.points.push_back({p.str(), cmp.acc.at(p).result()});
  if (s.token_detail) {
    std::vector<at::Tensor> err, ref;
    for (const QuantPoint& p : points_) {
      err.push_back(cmp.err2.at(p));
      ref.push_back(cmp.ref2.at(p));
    }
    const at::Tensor e2 = at::stack(err).to(at::kCPU).contiguous();  // [points, B, T]
    const at::Tensor r2 = at::stack(ref).to(at::kCPU).contiguous();
    const double *pe = e2.data_ptr<double>(), *pr = r2.data_ptr<double>();
    r.token_sqnr.resize(size_t(e2.numel()));
    for (int64_t k = 0; k < e2.numel(); ++k) r.token_sqnr[size_t(k)] = sqnr_db(pr[k], pe[k]);
  }
  return r;
}

}  // namespace ms
