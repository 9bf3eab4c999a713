// SmoothQuant scales and folds. See smoothquant.h.
#include "core/quant/smoothquant.h"

#include <ATen/ATen.h>

#include "core/util/error.h"

namespace ms {
namespace {

using at::indexing::Slice;

void store(WeightSet& w, const std::string& key, const at::Tensor& value) {
  const at::ScalarType t = w.at(key).scalar_type();
  w.set(key, value.to(t).contiguous());
}

at::Tensor checked(const at::Tensor& s, int64_t n, const std::string& where) {
  if (s.dim() != 1 || s.size(0) != n)
    throw UsageError(where + ": smoothing scales must be [" + std::to_string(n) + "]");
  return s.to(at::kDouble);
}

// Producer vector (a norm weight) / s, consumer columns * s.
void fold_into_vector(WeightSet& w, const std::string& vec_key, const std::string& lin_key,
                      const at::Tensor& s) {
  store(w, vec_key, w.at(vec_key).to(at::kDouble) / s);
  store(w, lin_key, w.at(lin_key).to(at::kDouble) * s.unsqueeze(0));
}

}  // namespace

at::Tensor smooth_scales(const at::Tensor& act_absmax, const at::Tensor& weight, double alpha) {
  if (act_absmax.dim() != 1 || weight.dim() != 2 || weight.size(1) != act_absmax.size(0))
    throw UsageError("smooth_scales: activation absmax [C] and weight [out, C] must agree");
  if (!(alpha >= 0 && alpha <= 1)) throw UsageError("--alpha must lie in [0, 1]");
  at::Tensor x = act_absmax.to(at::kDouble).abs();
  at::Tensor wmax = std::get<0>(weight.to(at::kDouble).abs().max(0));  // [C]
  at::Tensor s = at::pow(x, alpha) / at::pow(wmax, 1.0 - alpha);
  const at::Tensor keep = (x == 0) | (wmax == 0) | ~at::isfinite(s) | (s == 0);
  return at::where(keep, at::ones_like(s), s);
}

void smooth_in_proj(WeightSet& w, int64_t layer, const at::Tensor& s) {
  fold_into_vector(w, layer_key(layer, "norm.weight"), layer_key(layer, "in_proj.weight"),
                   checked(s, w.config.d_model, layer_key(layer, "in_proj.input")));
}

void smooth_dt_proj(WeightSet& w, int64_t layer, const at::Tensor& s_in) {
  const ModelConfig& c = w.config;
  if (c.is_mamba2() || c.arch == Arch::FalconMamba)
    throw UsageError("smooth_dt_proj: only Mamba-1 folds the dt input into x_proj");
  const at::Tensor s = checked(s_in, c.dt_rank, layer_key(layer, "dt_proj.input"));
  const std::string xk = layer_key(layer, "x_proj.weight");
  at::Tensor x = w.at(xk).to(at::kDouble);  // [R + 2N, E]
  x.index_put_({Slice(0, c.dt_rank)}, x.index({Slice(0, c.dt_rank)}) / s.unsqueeze(1));
  store(w, xk, x);
  const std::string dk = layer_key(layer, "dt_proj.weight");
  store(w, dk, w.at(dk).to(at::kDouble) * s.unsqueeze(0));
}

void smooth_out_proj_gated(WeightSet& w, int64_t layer, const at::Tensor& s) {
  if (!w.config.is_mamba2())
    throw UsageError("smooth_out_proj_gated: only Mamba-2 has a gated norm before out_proj");
  fold_into_vector(w, layer_key(layer, "gated_norm.weight"), layer_key(layer, "out_proj.weight"),
                   checked(s, w.config.d_inner, layer_key(layer, "out_proj.input")));
}

const at::Tensor& point_absmax(const CalibStats& stats, const std::string& point) {
  auto it = stats.activations.find(point);
  if (it == stats.activations.end() || !it->second.absmax.defined())
    throw InputError(point, "missing from the statistics");
  return it->second.absmax;
}

std::vector<std::string> apply_smoothquant(WeightSet& w, const CalibStats& stats, double alpha) {
  const ModelConfig& c = w.config;
  std::vector<std::string> sites;
  for (int64_t i = 0; i < c.n_layer; ++i) {
    const std::string in = layer_key(i, "in_proj.input");
    smooth_in_proj(w, i, smooth_scales(point_absmax(stats, in), w.at(layer_key(i, "in_proj.weight")), alpha));
    sites.push_back(in);
    if (c.is_mamba2()) {
      const std::string out = layer_key(i, "out_proj.input");
      smooth_out_proj_gated(
          w, i, smooth_scales(point_absmax(stats, out), w.at(layer_key(i, "out_proj.weight")), alpha));
      sites.push_back(out);
    } else if (c.arch == Arch::Mamba1) {
      const std::string dt = layer_key(i, "dt_proj.input");
      smooth_dt_proj(w, i, smooth_scales(point_absmax(stats, dt), w.at(layer_key(i, "dt_proj.weight")), alpha));
      sites.push_back(dt);
    }
  }
  return sites;
}

}  // namespace ms
