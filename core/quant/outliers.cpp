// Outlier detection and channel zeroing. See outliers.h.
#include "core/quant/outliers.h"

#include <algorithm>
#include <random>

#include <ATen/ATen.h>

#include "core/model/quant_point.h"
#include "core/model/stats_file.h"
#include "core/util/error.h"

namespace ms {
namespace {

// The Linear that reads a `.input` point.
std::string consumer_weight(const std::string& point) {
  auto p = QuantPoint::parse(point);
  if (!p || p->site != Site::Input || p->module == Module::Ssm || p->module == Module::Conv1d)
    throw UsageError("'" + point + "' is not a Linear input point");
  return layer_key(p->layer, std::string(module_name(p->module)) + ".weight");
}

std::vector<std::string> linear_inputs(const ModelConfig& c) {
  std::vector<std::string> out;
  for (const QuantPoint& p : activation_points(c))
    if (p.site == Site::Input && p.module != Module::Ssm) out.push_back(p.str());
  return out;
}

}  // namespace

std::vector<int64_t> outlier_channels(const at::Tensor& absmax) {
  at::Tensor a = absmax.to(at::kCPU, at::kFloat).contiguous();
  std::vector<float> v(a.data_ptr<float>(), a.data_ptr<float>() + a.numel());
  const ChannelMaxima m = summarise_channel_maxima(QuantPoint{}, std::move(v));
  std::vector<int64_t> out;
  for (const OutlierChannel& o : m.outliers) out.push_back(o.channel);
  std::sort(out.begin(), out.end());
  return out;
}

void zero_input_channels(WeightSet& w, const std::string& point, const std::vector<int64_t>& channels) {
  const std::string key = consumer_weight(point);
  at::Tensor W = w.at(key).clone();  // [out, C]
  for (int64_t j : channels) {
    if (j < 0 || j >= W.size(1))
      throw UsageError(point + ": channel " + std::to_string(j) + " out of range (0.." +
                       std::to_string(W.size(1) - 1) + ")");
    W.select(1, j).zero_();
  }
  w.set(key, W);
}

int64_t ZeroingPlan::count() const {
  int64_t n = 0;
  for (const auto& [p, ch] : outliers) n += int64_t(ch.size());
  return n;
}

ZeroingPlan plan_zeroing(const ModelConfig& config, const CalibStats& stats, uint64_t seed) {
  ZeroingPlan plan;
  std::mt19937_64 rng(seed);
  for (const std::string& point : linear_inputs(config)) {
    auto it = stats.activations.find(point);
    if (it == stats.activations.end()) throw InputError(point, "missing from the statistics");
    std::vector<int64_t> out = outlier_channels(it->second.absmax);
    const int64_t C = it->second.absmax.numel();
    std::vector<int64_t> pool;
    for (int64_t j = 0; j < C; ++j)
      if (!std::binary_search(out.begin(), out.end(), j)) pool.push_back(j);
    // A partial Fisher–Yates shuffle: the first |out| entries are a uniform sample.
    std::vector<int64_t> pick;
    for (size_t k = 0; k < out.size() && k < pool.size(); ++k) {
      std::uniform_int_distribution<size_t> d(k, pool.size() - 1);
      std::swap(pool[k], pool[d(rng)]);
      pick.push_back(pool[k]);
    }
    std::sort(pick.begin(), pick.end());
    plan.outliers[point] = out;
    plan.random[point] = pick;
  }
  return plan;
}

void apply_zeroing(WeightSet& w, const ChannelPlan& plan) {
  for (const auto& [point, channels] : plan)
    if (!channels.empty()) zero_input_channels(w, point, channels);
}

}  // namespace ms
