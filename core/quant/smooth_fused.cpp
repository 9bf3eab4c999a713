// Smooth-fused rotation: gate and state smoothing, online Hadamard bookkeeping. See smooth_fused.h.
#include "core/quant/smooth_fused.h"

#include <ATen/ATen.h>

#include "core/quant/rotation.h"
#include "core/quant/smoothquant.h"
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
  if (!(s > 0).all().item<bool>()) throw UsageError(where + ": smoothing scales must be positive");
  return s.to(at::kDouble);
}

}  // namespace

at::Tensor s_silu(const at::Tensor& x, const at::Tensor& s) {
  return x * at::sigmoid(x * s.to(x.scalar_type()));
}

void smooth_gate(WeightSet& w, int64_t layer, const at::Tensor& s_in) {
  const ModelConfig& c = w.config;
  if (c.is_mamba2()) throw UsageError("smooth_gate: Mamba-2 smooths out_proj's input through its gated norm");
  const int64_t E = c.d_inner;
  const at::Tensor s = checked(s_in, E, layer_key(layer, "out_proj.input"));
  const std::string ik = layer_key(layer, "in_proj.weight");
  at::Tensor win = w.at(ik).to(at::kDouble);  // [2E, d]: rows [x ; z]
  win.index_put_({Slice(E, 2 * E)}, win.index({Slice(E, 2 * E)}) / s.unsqueeze(1));
  store(w, ik, win);
  const std::string ib = layer_key(layer, "in_proj.bias");
  if (w.find(ib)) {
    at::Tensor b = w.at(ib).to(at::kDouble);
    b.index_put_({Slice(E, 2 * E)}, b.index({Slice(E, 2 * E)}) / s);
    store(w, ib, b);
  }
  const std::string ok = layer_key(layer, "out_proj.weight");
  store(w, ok, w.at(ok).to(at::kDouble) * s.unsqueeze(0));
}

void smooth_state(WeightSet& w, int64_t layer, const at::Tensor& s_in) {
  const ModelConfig& c = w.config;
  if (c.arch != Arch::Mamba1)
    throw UsageError("smooth_state: only Mamba-1 folds the state smoothing into x_proj (" +
                     std::string(arch_name(c.arch)) + " normalises or convolves B and C)");
  const int64_t R = c.dt_rank, N = c.d_state;
  const at::Tensor s = checked(s_in, N, layer_key(layer, "ssm.state"));
  const std::string xk = layer_key(layer, "x_proj.weight");
  at::Tensor x = w.at(xk).to(at::kDouble);  // [R + 2N, E]: rows [dt ; B ; C]
  x.index_put_({Slice(R, R + N)}, x.index({Slice(R, R + N)}) / s.unsqueeze(1));
  x.index_put_({Slice(R + N, R + 2 * N)}, x.index({Slice(R + N, R + 2 * N)}) * s.unsqueeze(1));
  store(w, xk, x);
}

at::Tensor state_smooth_scales(const StateStats& state, double alpha) {
  if (!state.absmax.defined() || state.absmax.dim() != 2)
    throw UsageError("state_smooth_scales: a Mamba-1 state absmax [E, N] is needed");
  if (!(alpha >= 0 && alpha <= 1)) throw UsageError("--alpha must lie in [0, 1]");
  at::Tensor m = std::get<0>(state.absmax.to(at::kDouble).max(0));  // [N]
  // A state index that never moved keeps s = 1 and stays out of the normalisation.
  const at::Tensor live = m > 0;
  if (!live.any().item<bool>()) return at::ones_like(m);
  at::Tensor logs = at::where(live, at::log(m) * alpha, at::zeros_like(m));
  const double mean_log = (logs.sum() / live.sum()).item<double>();
  return at::where(live, at::exp(logs - mean_log), at::ones_like(m));
}

SmoothFusedResult apply_smooth_fused(WeightSet& w, const CalibStats& stats, double alpha, bool runtime) {
  const ModelConfig& c = w.config;
  SmoothFusedResult r;
  for (int64_t i = 0; i < c.n_layer; ++i) {
    const std::string out = layer_key(i, "out_proj.input");
    const std::string ok = layer_key(i, "out_proj.weight");
    if (c.is_mamba2()) {
      // Gated-norm fold: offline, as SmoothQuant's Mamba-2 out_proj site.
      smooth_out_proj_gated(w, i, smooth_scales(point_absmax(stats, out), w.at(ok), alpha));
      r.sites.push_back(out + " (gated-norm weight)");
    } else if (runtime) {
      at::Tensor s = smooth_scales(point_absmax(stats, out), w.at(ok), alpha);
      smooth_gate(w, i, s);
      r.runtime.push_back({"s_silu", out, s.to(at::kFloat)});
      r.sites.push_back(out + " (z rows of in_proj, S-SiLU at run time)");
    } else {
      r.dropped.push_back(out + ": S-SiLU gate smoothing (needs a run-time S-SiLU)");
    }
    if (runtime) {
      rotate_out_proj_input(w, i, hadamard_rotation(c.d_inner));
      r.runtime.push_back({"online_hadamard", out, at::Tensor()});
    } else {
      r.dropped.push_back(out + ": online Hadamard (needs a run-time rotation)");
    }
    if (c.arch == Arch::Mamba1) {
      const std::string sp = layer_key(i, "ssm.state");
      auto it = stats.states.find(sp);
      if (it == stats.states.end()) throw InputError(sp, "missing from the statistics");
      smooth_state(w, i, state_smooth_scales(it->second, alpha));
      r.sites.push_back(sp + " (B and C rows of x_proj)");
    }
  }
  return r;
}

}  // namespace ms
