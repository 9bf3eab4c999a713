// Weight loading and the block forwards. Shapes beside each step; symbols in glossary.h.
#include "core/engine/mamba_model.h"

#include <functional>
#include <optional>

#include <ATen/ATen.h>

#include "core/engine/fake_quant.h"
#include "core/engine/observer.h"
#include "core/engine/scan_kernel.h"
#include "core/engine/scan_ref.h"
#include "core/engine/weight_set.h"
#include "core/io/mapped_file.h"
#include "core/util/error.h"

namespace ms {
namespace {

at::ScalarType storage_type(DType d, const std::string& key) {
  switch (d) {
    case DType::F32: return at::kFloat;
    case DType::F16: return at::kHalf;
    case DType::BF16: return at::kBFloat16;
    default: throw InputError(key, "weights must be F32, F16 or BF16");
  }
}

}  // namespace

// Where load() takes its tensors from: a mapped checkpoint or an in-memory WeightSet. `host(key)`
// returns a CPU tensor (a view of the mapping or the set's own), undefined when absent.
class WeightSource {
 public:
  using HostFn = std::function<at::Tensor(const std::string&)>;
  // Called with a key once its tensor is copied: a mapped source drops the mapped pages then.
  using ReleaseFn = std::function<void(const std::string&)>;
  WeightSource(HostFn host, std::string source, const EngineOptions& o, ReleaseFn release = {})
      : host_(std::move(host)), release_(std::move(release)), source_(std::move(source)), o_(o) {}

  // Copies a tensor to the device in `dtype`; undefined when absent and optional.
  at::Tensor get(const std::string& key, at::ScalarType dtype, bool optional = false) const {
    at::Tensor host = host_(key);
    if (!host.defined()) {
      if (optional) return {};
      throw InputError(source_, "tensor '" + key + "' is missing");
    }
    // A copy, always: the mapping may go away, and the engine owns its weights.
    at::Tensor copy = host.to(o_.device, dtype, /*non_blocking=*/false, /*copy=*/true);
    if (release_) release_(key);
    return copy;
  }
  at::Tensor compute(const std::string& key, bool optional = false) const {
    return get(key, o_.dtype, optional);
  }
  at::Tensor fp32(const std::string& key, bool optional = false) const {
    return get(key, at::kFloat, optional);
  }
  // A = -exp(A_log) in fp32, evaluated on the host whatever the device: a GPU's exp differs from
  // the CPU's in the last bit, and a model streamed from host memory (--max-gpu-mem) must hold the
  // same bits as one loaded onto the GPU.
  at::Tensor neg_exp_fp32(const std::string& key) const {
    at::Tensor host = host_(key);
    if (!host.defined()) throw InputError(source_, "tensor '" + key + "' is missing");
    at::Tensor a = at::neg(at::exp(host.to(at::kFloat)));  // a new tensor: the mapping may go
    if (release_) release_(key);
    return a.to(o_.device);
  }

 private:
  HostFn host_;
  ReleaseFn release_;
  std::string source_;
  const EngineOptions& o_;
};

namespace {

// HF's RMSNorm: normalise in fp32, cast back to the input dtype, then scale by the weight.
at::Tensor rms_norm(const at::Tensor& x, const at::Tensor& weight, double eps) {
  at::Tensor xf = x.to(at::kFloat);
  at::Tensor normed = xf * at::rsqrt(xf.pow(2).mean(-1, true) + eps);
  return weight * normed.to(x.scalar_type());
}

// falcon_mamba's weightless RMSNorm on B, C and dt.
at::Tensor rms_norm_weightless(const at::Tensor& x, double eps) {
  at::Tensor xf = x.to(at::kFloat);
  return (xf * at::rsqrt(xf.pow(2).mean(-1, true) + eps)).to(x.scalar_type());
}

// Causal depthwise conv over time, continuing from `conv_state` ([B, K-1, C], updated).
// x: [B, T, C] -> [B, T, C].
at::Tensor causal_conv(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias,
                       at::Tensor& conv_state) {
  const int64_t K = weight.size(1), C = weight.size(0);
  at::Tensor xin = at::cat({conv_state.to(x.scalar_type()), x}, 1);  // [B, K-1+T, C]
  conv_state = xin.narrow(1, xin.size(1) - (K - 1), K - 1).contiguous();
  at::Tensor y = at::conv1d(xin.transpose(1, 2), weight.unsqueeze(1), bias, at::IntArrayRef{1},
                            at::IntArrayRef{0}, at::IntArrayRef{1}, C);  // [B, C, T]
  return y.transpose(1, 2);
}

void observe(Observer* obs, int64_t layer, Module m, Site s, const at::Tensor& value) {
  if (!obs) return;
  QuantPoint p{static_cast<int>(layer), m, s};
  if (obs->wants(p)) obs->collect(p, value);
}

bool wants(Observer* obs, int64_t layer, Module m, Site s) {
  return obs && obs->wants(QuantPoint{static_cast<int>(layer), m, s});
}

// The tensor a Linear consumes: x itself, or its fake-quantized form when the hook asks for it.
at::Tensor linear_input(const FakeQuant* fq, int64_t layer, Module m, const at::Tensor& x) {
  if (!fq) return x;
  const QuantPoint p{static_cast<int>(layer), m, Site::Input};
  return fq->quantizes(p) ? fq->quantize_activation(p, x) : x;
}

bool quantizes_state(const FakeQuant* fq, int64_t layer) {
  return fq && fq->quantizes(QuantPoint{static_cast<int>(layer), Module::Ssm, Site::State});
}

StateQuantizer state_quantizer(const FakeQuant* fq, int64_t layer) {
  const QuantPoint p{static_cast<int>(layer), Module::Ssm, Site::State};
  return [fq, p](const at::Tensor& s) { return fq->quantize_state(p, s); };
}

// The state quantizer as data when the CUDA scan can run it (bits 16: the float scan); nullopt
// keeps the per-token quantize_state calls.
std::optional<StateQuantSpec> kernel_state_spec(const FakeQuant* fq, int64_t layer) {
  if (!quantizes_state(fq, layer)) return StateQuantSpec{};
  return fq->state_spec(QuantPoint{static_cast<int>(layer), Module::Ssm, Site::State});
}

}  // namespace

std::unique_ptr<MambaModel> MambaModel::load(const Checkpoint& ck, const EngineOptions& options) {
  WeightSource L(
      [&ck](const std::string& key) -> at::Tensor {
        const TensorView* v = ck.tensors.find(key);
        if (!v) return {};
        return at::from_blob(const_cast<std::byte*>(v->data), v->shape,
                             at::TensorOptions().dtype(storage_type(v->dtype, key)));
      },
      ck.dir.string(), options,
      // Peak memory near the weights' size (issue 9): without this, every mapped page read by
      // the copy stays resident beside the copy until the kernel needs the memory.
      [&ck](const std::string& key) {
        if (const TensorView* v = ck.tensors.find(key)) release_mapped_pages(v->data, v->nbytes);
      });
  return load_from(ck.config, L, options);
}

std::unique_ptr<MambaModel> MambaModel::load(const WeightSet& weights, const EngineOptions& options) {
  WeightSource L(
      [&weights](const std::string& key) -> at::Tensor {
        const at::Tensor* t = weights.find(key);
        return t ? *t : at::Tensor();
      },
      "the weight set", options);
  return load_from(weights.config, L, options);
}

std::unique_ptr<MambaModel> MambaModel::load_from(const ModelConfig& config, const WeightSource& L,
                                                  const EngineOptions& options) {
  if (options.dtype != at::kFloat && options.dtype != at::kBFloat16)
    throw UsageError("the engine computes in fp32 or bf16");
  std::unique_ptr<MambaModel> m(new MambaModel(config, options));
  const ModelConfig& c = m->config_;
  m->embedding_ = L.compute("embedding.weight");
  m->norm_f_ = L.compute("norm_f.weight");
  m->lm_head_ = c.tie_embeddings ? m->embedding_ : L.compute("lm_head.weight");
  for (int64_t i = 0; i < c.n_layer; ++i) {
    const std::string p = "layers." + std::to_string(i) + ".";
    LayerWeights w;
    w.norm = L.compute(p + "norm.weight");
    w.in_proj = L.compute(p + "in_proj.weight");
    w.in_proj_bias = L.compute(p + "in_proj.bias", !c.proj_bias);
    w.conv = L.compute(p + "conv1d.weight").squeeze(1).contiguous();  // [C, K]
    w.conv_bias = L.compute(p + "conv1d.bias", !c.conv_bias);
    w.out_proj = L.compute(p + "out_proj.weight");
    w.out_proj_bias = L.compute(p + "out_proj.bias", !c.proj_bias);
    w.A = L.neg_exp_fp32(p + "A_log");
    w.D = L.fp32(p + "D");
    if (c.is_mamba2()) {
      w.dt_bias = L.fp32(p + "dt_bias");
      w.gated_norm = L.compute(p + "gated_norm.weight");
    } else {
      w.x_proj = L.compute(p + "x_proj.weight");
      w.dt_proj = L.compute(p + "dt_proj.weight");
      w.dt_proj_bias = L.fp32(p + "dt_proj.bias");
    }
    m->layers_.push_back(std::move(w));
  }
  return m;
}

RecurrentState MambaModel::initial_state(int64_t batch) const {
  const ModelConfig& c = config_;
  RecurrentState st;
  auto f32 = at::TensorOptions().dtype(at::kFloat).device(options_.device);
  for (int64_t i = 0; i < c.n_layer; ++i) {
    st.conv.push_back(at::zeros({batch, c.d_conv - 1, c.conv_dim}, f32.dtype(options_.dtype)));
    if (c.is_mamba2())
      st.ssm.push_back(at::zeros({batch, c.n_heads, c.head_dim, c.d_state}, f32));
    else
      st.ssm.push_back(at::zeros({batch, c.d_inner, c.d_state}, f32));
  }
  return st;
}

const at::Tensor& MambaModel::weight(const QuantPoint& point) const {
  const LayerWeights& w = layers_.at(static_cast<size_t>(point.layer));
  if (point.site == Site::Weight) {
    switch (point.module) {
      case Module::InProj: return w.in_proj;
      case Module::Conv1d: return w.conv;
      case Module::XProj: if (w.x_proj.defined()) return w.x_proj; break;
      case Module::DtProj: if (w.dt_proj.defined()) return w.dt_proj; break;
      case Module::OutProj: return w.out_proj;
      case Module::Ssm: break;
    }
  }
  throw UsageError("'" + point.str() + "' is not a weight of this " +
                   std::string(arch_name(config_.arch)) + " model");
}

at::Tensor MambaModel::forward(const at::Tensor& ids_in, RecurrentState* state,
                               Observer* observer, const FakeQuant* fake_quant) const {
  if (ids_in.dim() != 2) throw UsageError("forward: ids must be [B, T]");
  // Checked on the host before the copy: ids arrive from the CPU (tokenizer, sampler), and a
  // check on the device would synchronise the GPU at every decoding step.
  at::Tensor host_ids = ids_in.to(at::kCPU, at::kLong);
  const int64_t V = embedding_.size(0);
  if (host_ids.numel() > 0) {
    const int64_t lo = host_ids.min().item<int64_t>(), hi = host_ids.max().item<int64_t>();
    if (lo < 0 || hi >= V)
      throw InputError("", "token id " + std::to_string(lo < 0 ? lo : hi) +
                               " is outside the vocabulary (0.." + std::to_string(V - 1) + ")");
  }
  at::Tensor ids = host_ids.to(options_.device);
  RecurrentState local;
  if (!state) {
    local = initial_state(ids.size(0));
    state = &local;
  }
  at::Tensor r = at::embedding(embedding_, ids);  // [B, T, d]
  if (config_.residual_in_fp32) r = r.to(at::kFloat);
  for (int64_t i = 0; i < config_.n_layer; ++i) {
    at::Tensor h = rms_norm(r.to(options_.dtype), layers_[static_cast<size_t>(i)].norm,
                            config_.norm_eps);
    at::Tensor out = config_.is_mamba2() ? mamba2_block(i, h, state, observer, fake_quant)
                                         : mamba1_block(i, h, state, observer, fake_quant);
    r = config_.residual_in_fp32 ? r + out.to(at::kFloat) : r + out;
  }
  state->tokens_seen += ids.size(1);
  at::Tensor hf = rms_norm(r, norm_f_, config_.norm_eps);
  return at::linear(hf.to(options_.dtype), lm_head_).to(at::kFloat);  // [B, T, V]
}

at::Tensor MambaModel::mamba1_block(int64_t i, const at::Tensor& h_in, RecurrentState* st,
                                    Observer* obs, const FakeQuant* fq) const {
  const LayerWeights& w = layers_[static_cast<size_t>(i)];
  const ModelConfig& c = config_;
  const int64_t E = c.d_inner, N = c.d_state, R = c.dt_rank;
  const at::Tensor h = linear_input(fq, i, Module::InProj, h_in);
  observe(obs, i, Module::InProj, Site::Input, h);                      // [B, T, d]
  at::Tensor xz = at::linear(h, w.in_proj, w.in_proj_bias);             // [B, T, 2E]
  at::Tensor x = xz.narrow(-1, 0, E), z = xz.narrow(-1, E, E);
  x = at::silu(causal_conv(x, w.conv, w.conv_bias, st->conv[static_cast<size_t>(i)]));
  // Only x_proj consumes the quantized x; the scan reads x as computed.
  const at::Tensor xq = linear_input(fq, i, Module::XProj, x);
  observe(obs, i, Module::XProj, Site::Input, xq);                      // [B, T, E]
  at::Tensor dbc = at::linear(xq, w.x_proj);                            // [B, T, R + 2N]
  at::Tensor dt_in = dbc.narrow(-1, 0, R), Bm = dbc.narrow(-1, R, N), Cm = dbc.narrow(-1, R + N, N);
  if (c.arch == Arch::FalconMamba) {
    dt_in = rms_norm_weightless(dt_in, c.mixer_rms_eps);
    Bm = rms_norm_weightless(Bm, c.mixer_rms_eps);
    Cm = rms_norm_weightless(Cm, c.mixer_rms_eps);
  }
  dt_in = linear_input(fq, i, Module::DtProj, dt_in);
  observe(obs, i, Module::DtProj, Site::Input, dt_in);                  // [B, T, R]
  // dt_proj's bias is added in fp32 before softplus, as the reference and the kernels do.
  at::Tensor dt = at::softplus(at::linear(dt_in, w.dt_proj).to(at::kFloat) + w.dt_proj_bias,
                               /*beta=*/1, /*threshold=*/20);            // [B, T, E]
  at::Tensor states;
  const bool want_states = wants(obs, i, Module::Ssm, Site::State);
  at::Tensor y;
  // On a GPU, our scan kernel (scan_kernel.h); undefined when it does not apply.
  if (const std::optional<StateQuantSpec> spec = kernel_state_spec(fq, i); spec && x.is_cuda())
    y = scan_kernel_mamba1(x.to(at::kFloat), dt, w.A, Bm.to(at::kFloat), Cm.to(at::kFloat), w.D,
                           st->ssm[static_cast<size_t>(i)], want_states ? &states : nullptr, *spec);
  if (!y.defined())
    y = quantizes_state(fq, i)
      ? selective_scan_mamba1_quant(x.to(at::kFloat), dt, w.A, Bm.to(at::kFloat),
                                    Cm.to(at::kFloat), w.D, st->ssm[static_cast<size_t>(i)],
                                    want_states ? &states : nullptr, state_quantizer(fq, i))
      : selective_scan_mamba1(x.to(at::kFloat), dt, w.A, Bm.to(at::kFloat),
                              Cm.to(at::kFloat), w.D, st->ssm[static_cast<size_t>(i)],
                              want_states ? &states : nullptr);  // [B, T, E] fp32
  if (want_states) obs->collect({int(i), Module::Ssm, Site::State}, states);  // [B, T, E, N]
  // The gate is the hook's when there is one: smooth-fused's S-SiLU runs there (fake_quant.h).
  const at::Tensor gate = fq ? fq->gate(int(i), z) : at::silu(z);
  y = linear_input(fq, i, Module::OutProj, y * gate.to(at::kFloat));
  observe(obs, i, Module::OutProj, Site::Input, y);                     // [B, T, E]
  return at::linear(y.to(options_.dtype), w.out_proj, w.out_proj_bias);  // [B, T, d]
}

at::Tensor MambaModel::mamba2_block(int64_t i, const at::Tensor& h_in, RecurrentState* st,
                                    Observer* obs, const FakeQuant* fq) const {
  const LayerWeights& w = layers_[static_cast<size_t>(i)];
  const ModelConfig& c = config_;
  const int64_t E = c.d_inner, N = c.d_state, G = c.n_groups, H = c.n_heads, P = c.head_dim;
  const int64_t Bsz = h_in.size(0), T = h_in.size(1);
  const at::Tensor h = linear_input(fq, i, Module::InProj, h_in);
  observe(obs, i, Module::InProj, Site::Input, h);                      // [B, T, d]
  at::Tensor zxbcdt = at::linear(h, w.in_proj, w.in_proj_bias);         // [B, T, 2E + 2GN + H]
  at::Tensor z = zxbcdt.narrow(-1, 0, E);
  at::Tensor xbc = zxbcdt.narrow(-1, E, c.conv_dim);
  at::Tensor dt_raw = zxbcdt.narrow(-1, E + c.conv_dim, H);
  xbc = at::silu(causal_conv(xbc, w.conv, w.conv_bias, st->conv[static_cast<size_t>(i)]));
  at::Tensor x = xbc.narrow(-1, 0, E).to(at::kFloat).reshape({Bsz, T, H, P});
  at::Tensor Bm = xbc.narrow(-1, E, G * N).to(at::kFloat).reshape({Bsz, T, G, N});
  at::Tensor Cm = xbc.narrow(-1, E + G * N, G * N).to(at::kFloat).reshape({Bsz, T, G, N});
  at::Tensor dt = at::softplus(dt_raw.to(at::kFloat) + w.dt_bias, 1, 20);  // [B, T, H]
  dt = at::clamp(dt, c.dt_limit_min, c.dt_limit_max);
  at::Tensor states;
  const bool want_states = wants(obs, i, Module::Ssm, Site::State);
  at::Tensor y;
  if (const std::optional<StateQuantSpec> spec = kernel_state_spec(fq, i); spec && x.is_cuda())
    y = scan_kernel_mamba2(x, dt, w.A, Bm, Cm, w.D, st->ssm[static_cast<size_t>(i)],
                           want_states ? &states : nullptr, *spec);
  if (!y.defined())
    y = quantizes_state(fq, i)
      ? selective_scan_mamba2_quant(x, dt, w.A, Bm, Cm, w.D, st->ssm[static_cast<size_t>(i)],
                                    want_states ? &states : nullptr, state_quantizer(fq, i))
      : selective_scan_mamba2(x, dt, w.A, Bm, Cm, w.D, st->ssm[static_cast<size_t>(i)],
                              want_states ? &states : nullptr);  // [B, T, H, P]
  if (want_states) obs->collect({int(i), Module::Ssm, Site::State}, states);  // [B, T, H, P, N]
  // Gated RMSNorm: y * silu(z), normalised per group of E/G channels (or over all E).
  at::Tensor g = y.reshape({Bsz, T, E}) * at::silu(z.to(at::kFloat));
  const int64_t groups = options_.gated_norm == GatedNorm::PerGroup ? G : 1;
  at::Tensor gg = g.reshape({Bsz, T, groups, E / groups});
  gg = gg * at::rsqrt(gg.pow(2).mean(-1, true) + c.norm_eps);
  at::Tensor normed = linear_input(fq, i, Module::OutProj, w.gated_norm * gg.reshape({Bsz, T, E}));
  observe(obs, i, Module::OutProj, Site::Input, normed);                // [B, T, E]
  return at::linear(normed.to(options_.dtype), w.out_proj, w.out_proj_bias);  // [B, T, d]
}

}  // namespace ms
