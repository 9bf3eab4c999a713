// Offline rotations and KLT. See rotation.h. Shapes: W_in [rows, d], W_out [d, E], x_proj
// [R + 2N, E] (dt rows first), dt_proj [E, R], embedding / lm_head [V, d].
#include "core/quant/rotation.h"

#include <cmath>

#include <ATen/ATen.h>

#include "core/quant/hadamard.h"
#include "core/util/error.h"

namespace ms {
namespace {

using at::indexing::Slice;

at::Tensor f64(const WeightSet& w, const std::string& key) { return w.at(key).to(at::kDouble); }

// Stores an fp64 result in the dtype the tensor had.
void store(WeightSet& w, const std::string& key, const at::Tensor& value) {
  const at::ScalarType t = w.at(key).scalar_type();
  w.set(key, value.to(t).contiguous());
}

void check_orthogonal(const at::Tensor& Q, int64_t n, const char* what) {
  if (Q.dim() != 2 || Q.size(0) != n || Q.size(1) != n)
    throw UsageError(std::string(what) + ": rotation must be [" + std::to_string(n) + ", " +
                     std::to_string(n) + "], got " + std::to_string(Q.dim()) + "-D");
}

std::string sizes(int64_t n) {
  const HadamardSize s = hadamard_size(n);
  return s.k == 1 ? std::to_string(n) : std::to_string(s.k) + "x" + std::to_string(s.pow2);
}

}  // namespace

at::Tensor hadamard_rotation(int64_t n) { return hadamard_matrix(n) / std::sqrt(double(n)); }

void fuse_norm_weights(WeightSet& w) {
  const ModelConfig& c = w.config;
  for (int64_t i = 0; i < c.n_layer; ++i) {
    const std::string nk = layer_key(i, "norm.weight"), ik = layer_key(i, "in_proj.weight");
    at::Tensor g = f64(w, nk);                     // [d]
    store(w, ik, f64(w, ik) * g.unsqueeze(0));     // columns scaled
    store(w, nk, at::ones_like(g));
  }
  // lm_head = embedding while tied; fusing norm_f makes it a tensor of its own.
  at::Tensor head = c.tie_embeddings ? f64(w, "embedding.weight") : f64(w, "lm_head.weight");
  at::Tensor gf = f64(w, "norm_f.weight");
  const at::ScalarType head_type =
      c.tie_embeddings ? w.at("embedding.weight").scalar_type() : w.at("lm_head.weight").scalar_type();
  w.set("lm_head.weight", (head * gf.unsqueeze(0)).to(head_type).contiguous());
  w.config.tie_embeddings = false;
  store(w, "norm_f.weight", at::ones_like(gf));
}

void rotate_residual(WeightSet& w, const at::Tensor& Q_in) {
  const ModelConfig& c = w.config;
  check_orthogonal(Q_in, c.d_model, "residual rotation");
  fuse_norm_weights(w);
  const at::Tensor Q = Q_in.to(at::kDouble);
  store(w, "embedding.weight", at::matmul(f64(w, "embedding.weight"), Q));  // rows r -> r Q
  store(w, "lm_head.weight", at::matmul(f64(w, "lm_head.weight"), Q));      // columns W -> W Q
  for (int64_t i = 0; i < c.n_layer; ++i) {
    const std::string ik = layer_key(i, "in_proj.weight"), ok = layer_key(i, "out_proj.weight");
    store(w, ik, at::matmul(f64(w, ik), Q));
    store(w, ok, at::matmul(Q.t(), f64(w, ok)));  // y Wᵀ Q = y (Qᵀ W)ᵀ
    const std::string ob = layer_key(i, "out_proj.bias");
    if (w.find(ob)) store(w, ob, at::matmul(f64(w, ob), Q));
  }
}

void rotate_dt_path(WeightSet& w, int64_t layer, const at::Tensor& Q_in) {
  const ModelConfig& c = w.config;
  if (c.is_mamba2()) throw UsageError("rotate_dt_path: Mamba-2 has no dt_proj");
  const int64_t R = c.dt_rank;
  check_orthogonal(Q_in, R, "dt rotation");
  const at::Tensor Q = Q_in.to(at::kDouble);
  const std::string xk = layer_key(layer, "x_proj.weight"), dk = layer_key(layer, "dt_proj.weight");
  at::Tensor x = f64(w, xk);  // [R + 2N, E]
  x.index_put_({Slice(0, R)}, at::matmul(Q.t(), x.index({Slice(0, R)})));
  store(w, xk, x);
  store(w, dk, at::matmul(f64(w, dk), Q));
}

void rotate_out_proj_input(WeightSet& w, int64_t layer, const at::Tensor& Q_in) {
  check_orthogonal(Q_in, w.config.d_inner, "out_proj input rotation");
  const std::string ok = layer_key(layer, "out_proj.weight");
  store(w, ok, at::matmul(f64(w, ok), Q_in.to(at::kDouble)));
}

at::Tensor centred_covariance(const ActivationStats& s, const std::string& point) {
  if (!s.cov.defined())
    throw InputError(point, "the statistics have no covariance (calibrate with --cov)");
  const double n = double(s.count.max().item<int64_t>());
  if (n <= 0) throw InputError(point, "the statistics saw no tokens");
  at::Tensor mu = s.sum.to(at::kDouble) / n;  // [C]
  at::Tensor C = s.cov.to(at::kDouble) / n - at::outer(mu, mu);
  return (C + C.t()) * 0.5;  // symmetric to the last bit, for eigh
}

KltFit klt_fit(const at::Tensor& cov) {
  if (cov.dim() != 2 || cov.size(0) != cov.size(1))
    throw UsageError("klt_fit: covariance must be square");
  auto [vals, vecs] = at::linalg_eigh(cov.to(at::kDouble));  // ascending
  KltFit f;
  f.eigenvalues = vals.flip(0).contiguous();
  at::Tensor K = vecs.flip(1);
  // Eigenvectors are defined up to sign: make each column's largest-magnitude entry positive so
  // the rotation is reproducible across LAPACK builds.
  at::Tensor idx = K.abs().argmax(0);                     // [n]
  at::Tensor sign = K.gather(0, idx.unsqueeze(0)).sign();  // [1, n]
  sign = at::where(sign == 0, at::ones_like(sign), sign);
  f.K = (K * sign).contiguous();
  return f;
}

at::Tensor klt_rotation(const at::Tensor& cov) {
  return at::matmul(klt_fit(cov).K, hadamard_rotation(cov.size(0)));
}

at::Tensor residual_covariance(const WeightSet& w, const CalibStats& stats) {
  const ModelConfig& c = w.config;
  at::Tensor total = at::zeros({c.d_model, c.d_model}, at::kDouble);
  for (int64_t i = 0; i < c.n_layer; ++i) {
    const std::string point = layer_key(i, "in_proj.input");
    auto it = stats.activations.find(point);
    if (it == stats.activations.end()) throw InputError(point, "missing from the statistics");
    at::Tensor C = centred_covariance(it->second, point);
    at::Tensor g = w.at(layer_key(i, "norm.weight")).to(at::kDouble);
    if ((g == 0).any().item<bool>())
      throw InputError(layer_key(i, "norm.weight"), "has a zero entry: the residual stream's "
                                                    "covariance cannot be recovered from in_proj's input");
    at::Tensor inv = 1.0 / g;
    total += C * at::outer(inv, inv);  // D⁻¹ C D⁻¹
  }
  return total / double(c.n_layer);
}

at::Tensor rotated_channel_variance(const at::Tensor& cov, const at::Tensor& Q) {
  at::Tensor q = Q.to(at::kDouble);
  return (at::matmul(cov.to(at::kDouble), q) * q).sum(0);  // diag(Qᵀ C Q)_l = Σ_j Q_jl (C Q)_jl
}

double coefficient_of_variation(const at::Tensor& v) {
  at::Tensor d = v.to(at::kDouble);
  const double mean = d.mean().item<double>();
  const double sd = (d - mean).pow(2).mean().sqrt().item<double>();
  return mean == 0 ? 0.0 : sd / mean;
}

std::vector<std::string> apply_hadamard(WeightSet& w) {
  const ModelConfig& c = w.config;
  std::vector<std::string> sites;
  rotate_residual(w, hadamard_rotation(c.d_model));
  sites.push_back("residual (d = " + std::to_string(c.d_model) + ", H " + sizes(c.d_model) + ")");
  if (!c.is_mamba2()) {
    const at::Tensor Q = hadamard_rotation(c.dt_rank);
    for (int64_t i = 0; i < c.n_layer; ++i) {
      rotate_dt_path(w, i, Q);
      sites.push_back(layer_key(i, "dt_proj.input"));
    }
  }
  return sites;
}

std::vector<std::string> apply_klt(WeightSet& w, const CalibStats& stats) {
  const ModelConfig& c = w.config;
  // Every covariance is read before any weight changes: the dt input is the same activation in the
  // rotated model (the residual rotation is exact), and the residual one needs the norm weights.
  const at::Tensor Qr = klt_rotation(residual_covariance(w, stats));
  std::vector<at::Tensor> Qdt;
  if (!c.is_mamba2())
    for (int64_t i = 0; i < c.n_layer; ++i) {
      const std::string point = layer_key(i, "dt_proj.input");
      auto it = stats.activations.find(point);
      if (it == stats.activations.end()) throw InputError(point, "missing from the statistics");
      Qdt.push_back(klt_rotation(centred_covariance(it->second, point)));
    }
  std::vector<std::string> sites;
  rotate_residual(w, Qr);
  sites.push_back("residual (d = " + std::to_string(c.d_model) + ", K H " + sizes(c.d_model) + ")");
  for (size_t i = 0; i < Qdt.size(); ++i) {
    rotate_dt_path(w, int64_t(i), Qdt[i]);
    sites.push_back(layer_key(int64_t(i), "dt_proj.input"));
  }
  return sites;
}

}  // namespace ms
