#include "core/quant/metrics.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>

#include <ATen/ATen.h>

#include "core/engine/fake_quant.h"
#include "core/engine/observer.h"
#include "core/model/quant_point.h"
#include "core/util/error.h"

namespace ms {

void ErrorAccumulator::add(const at::Tensor& reference, const at::Tensor& quantized) {
  if (reference.sizes() != quantized.sizes())
    throw InputError("error metrics", "shapes differ: " + c10::str(reference.sizes()) + " vs " +
                                          c10::str(quantized.sizes()));
  const at::Tensor x = reference.to(at::kDouble), xh = quantized.to(x.device(), at::kDouble);
  const at::Tensor d = xh - x;
  n_ += x.numel();
  if (x.numel() == 0) return;
  err2_ += d.pow(2).sum().item<double>();
  ref2_ += x.pow(2).sum().item<double>();
  hat2_ += xh.pow(2).sum().item<double>();
  dot_ += (x * xh).sum().item<double>();
  max_abs_ = std::max(max_abs_, d.abs().max().item<double>());
}

ErrorStats ErrorAccumulator::result() const {
  ErrorStats e;
  e.count = n_;
  if (n_ == 0) return e;
  e.mse = err2_ / double(n_);
  e.sqnr_db = err2_ == 0 ? std::numeric_limits<double>::infinity()
              : ref2_ == 0 ? -std::numeric_limits<double>::infinity()
                           : 10.0 * std::log10(ref2_ / err2_);
  if (ref2_ == 0 && hat2_ == 0) e.cosine = 1;
  else if (ref2_ == 0 || hat2_ == 0) e.cosine = 0;
  else e.cosine = dot_ / std::sqrt(ref2_ * hat2_);
  e.max_abs = max_abs_;
  return e;
}

ErrorStats tensor_error(const at::Tensor& reference, const at::Tensor& quantized) {
  ErrorAccumulator acc;
  acc.add(reference, quantized);
  return acc.result();
}

double percentile(std::vector<double> v, double q) {
  if (v.empty()) throw UsageError("percentile of no values");
  if (!(q >= 0 && q <= 1)) throw UsageError("percentile: q must lie in [0, 1]");
  std::sort(v.begin(), v.end());
  const double pos = q * double(v.size() - 1);
  const size_t lo = size_t(std::floor(pos)), hi = std::min(lo + 1, v.size() - 1);
  return v[lo] + (v[hi] - v[lo]) * (pos - double(lo));
}

at::Tensor kl_per_token(const at::Tensor& ref_logits, const at::Tensor& q_logits) {
  if (ref_logits.sizes() != q_logits.sizes())
    throw InputError("KL divergence", "logit shapes differ: " + c10::str(ref_logits.sizes()) +
                                          " vs " + c10::str(q_logits.sizes()));
  const at::Tensor lp = at::log_softmax(ref_logits.to(at::kDouble), -1);
  const at::Tensor lq = at::log_softmax(q_logits.to(lp.device(), at::kDouble), -1);
  // p·(log p − log q), with 0·log 0 = 0 where p underflows to zero.
  const at::Tensor terms = at::where(lp == -std::numeric_limits<double>::infinity(),
                                     at::zeros_like(lp), lp.exp() * (lp - lq));
  return terms.sum(-1).to(at::kCPU);
}

namespace {

// The float run keeps each point's value (the quantized run compares against it).
class RecordObserver : public Observer {
 public:
  std::map<QuantPoint, at::Tensor> values;
  bool wants(const QuantPoint&) const override { return true; }
  void collect(const QuantPoint& p, const at::Tensor& v) override { values[p] = v.detach().clone(); }
};

class CompareObserver : public Observer {
 public:
  CompareObserver(const std::map<QuantPoint, at::Tensor>& ref, std::map<QuantPoint, ErrorAccumulator>& acc)
      : ref_(ref), acc_(acc) {}
  bool wants(const QuantPoint& p) const override { return ref_.count(p) > 0; }
  void collect(const QuantPoint& p, const at::Tensor& v) override { acc_[p].add(ref_.at(p), v); }

 private:
  const std::map<QuantPoint, at::Tensor>& ref_;
  std::map<QuantPoint, ErrorAccumulator>& acc_;
};

}  // namespace

QuantEvalResult evaluate_quantized(const MambaModel& reference, const MambaModel& quantized,
                                   const FakeQuant* fq, const std::vector<int32_t>& ids,
                                   const QuantEvalOptions& o, const ProgressFn& progress,
                                   std::vector<at::Tensor>* reference_logits) {
  const int64_t ctx = o.ctx, stride = o.stride > 0 ? o.stride : o.ctx;
  if (ctx < 2) throw UsageError("--ctx must be at least 2");
  const int64_t n = static_cast<int64_t>(ids.size());
  if (n < 2) throw InputError("", "the text has " + std::to_string(n) +
                                      " token(s); evaluation needs at least 2");
  QuantEvalResult r;
  EndToEndMetrics& e = r.end_to_end;
  std::map<QuantPoint, ErrorAccumulator> acc;
  std::vector<double> kls;
  double nll_f = 0, nll_q = 0, kl_sum = 0;
  int64_t agree = 0;
  size_t window = 0;
  for (int64_t start = 0; start < n; start += stride, ++window) {
    const int64_t len = std::min(ctx, n - start);
    if (len < 2) break;
    at::Tensor w = at::from_blob(const_cast<int32_t*>(ids.data()) + start, {1, len}, at::kInt)
                       .to(at::kLong);
    RecordObserver rec;
    at::Tensor lf;
    const bool cached = reference_logits && window < reference_logits->size();
    const bool separate = o.point_metrics && o.point_reference;
    if (cached && (!o.point_metrics || separate)) {
      lf = (*reference_logits)[window];
    } else {
      lf = reference.forward(w, nullptr, o.point_metrics && !separate ? &rec : nullptr).squeeze(0);  // [len, V]
      if (reference_logits && !cached) reference_logits->push_back(lf);
    }
    if (separate) o.point_reference->forward(w, nullptr, &rec, o.point_reference_fake_quant);
    CompareObserver cmp(rec.values, acc);
    at::Tensor lq = quantized.forward(w, nullptr, o.point_metrics ? &cmp : nullptr, fq).squeeze(0);
    rec.values.clear();
    // Predicted positions 0..len-2, as the perplexity protocol counts them.
    const at::Tensor pf = at::log_softmax(lf.narrow(0, 0, len - 1).to(at::kDouble), -1);
    const at::Tensor pq = at::log_softmax(lq.narrow(0, 0, len - 1).to(at::kDouble), -1);
    const at::Tensor target = w.squeeze(0).narrow(0, 1, len - 1).to(pf.device()).unsqueeze(1);
    nll_f -= pf.gather(1, target).sum().item<double>();
    nll_q -= pq.gather(1, target).sum().item<double>();
    const at::Tensor kl = kl_per_token(lf.narrow(0, 0, len - 1), lq.narrow(0, 0, len - 1));
    const double* pk = kl.contiguous().data_ptr<double>();
    kls.insert(kls.end(), pk, pk + kl.numel());
    kl_sum += kl.sum().item<double>();
    agree += (pf.argmax(-1) == pq.argmax(-1)).sum().item<int64_t>();
    e.tokens += len - 1;
    e.windows += 1;
    if (progress && !progress(std::min(start + len, n), n)) throw Cancelled();
    if (start + ctx >= n) break;
  }
  e.ppl_float = std::exp(nll_f / double(e.tokens));
  e.ppl_quant = std::exp(nll_q / double(e.tokens));
  e.delta_ppl = e.ppl_quant - e.ppl_float;
  e.kl_mean = kl_sum / double(e.tokens);
  e.kl_p50 = percentile(kls, 0.50);
  e.kl_p90 = percentile(kls, 0.90);
  e.kl_p99 = percentile(kls, 0.99);
  e.kl_max = *std::max_element(kls.begin(), kls.end());
  e.top1 = double(agree) / double(e.tokens);
  for (const QuantPoint& p : activation_points(reference.config())) {
    auto it = acc.find(p);
    if (it != acc.end()) r.points.push_back({p.str(), it->second.result()});
  }
  return r;
}

}  // namespace ms
