#include "core/engine/random_init.h"

#include <cmath>

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>

#include "core/io/atomic_file.h"
#include "core/io/safetensors.h"
#include "core/io/torch_bin_writer.h"
#include "core/util/error.h"

namespace ms {
namespace fs = std::filesystem;
namespace {

ModelConfig mamba1(int64_t d, int64_t layers, int64_t vocab) {
  ModelConfig c;
  c.arch = Arch::Mamba1;
  c.d_model = d;
  c.n_layer = layers;
  c.vocab_size = vocab;
  c.d_state = 16;
  c.derive();
  return c;
}

ModelConfig mamba2(int64_t d, int64_t layers, int64_t vocab, int64_t groups) {
  ModelConfig c;
  c.arch = Arch::Mamba2;
  c.d_model = d;
  c.n_layer = layers;
  c.vocab_size = vocab;
  c.d_state = 128;
  c.head_dim = 64;
  c.n_groups = groups;
  c.derive();
  return c;
}

std::vector<Preset> make_presets() {
  std::vector<Preset> p;
  // Released Mamba-1 (state-spaces/mamba-*): vocab 50277 padded to a multiple of 8 = 50280.
  const std::pair<const char*, std::pair<int64_t, int64_t>> m1[] = {
      {"mamba-130m", {768, 24}}, {"mamba-370m", {1024, 48}}, {"mamba-790m", {1536, 48}},
      {"mamba-1.4b", {2048, 48}}, {"mamba-2.8b", {2560, 64}}};
  // The file's vocab_size is GPT-NeoX-20B's 50277; the embedding is padded (derive()).
  for (const auto& [name, dl] : m1) {
    Preset pr{name, mamba1(dl.first, dl.second, 50277)};
    pr.config.pad_vocab_size_multiple = 8;
    pr.config.derive();
    p.push_back(pr);
  }
  // Released Mamba-2 (state-spaces/mamba2-*): padded to a multiple of 16 = 50288.
  const std::pair<const char*, std::pair<int64_t, int64_t>> m2[] = {
      {"mamba2-130m", {768, 24}}, {"mamba2-370m", {1024, 48}}, {"mamba2-780m", {1536, 48}},
      {"mamba2-1.3b", {2048, 48}}, {"mamba2-2.7b", {2560, 64}}};
  for (const auto& [name, dl] : m2) {
    Preset pr{name, mamba2(dl.first, dl.second, 50277, 1)};
    pr.config.pad_vocab_size_multiple = 16;
    pr.config.tie_embeddings = true;
    pr.config.derive();
    p.push_back(pr);
  }
  Preset codestral{"mamba-codestral-7b", mamba2(4096, 64, 32768, 8)};
  codestral.config.tie_embeddings = false;
  p.push_back(codestral);
  Preset falcon{"falcon-mamba-7b", mamba1(4096, 64, 65024)};
  falcon.config.arch = Arch::FalconMamba;
  falcon.config.dt_rank = 256;
  falcon.config.tie_embeddings = false;
  falcon.config.derive();
  p.push_back(falcon);
  Preset tiny{"tiny-mamba", mamba1(64, 2, 512)};
  p.push_back(tiny);
  Preset tiny2{"tiny-mamba2", mamba2(64, 2, 512, 1)};
  tiny2.config.d_state = 32;
  tiny2.config.head_dim = 16;
  tiny2.config.n_heads = 0;
  tiny2.config.derive();
  tiny2.config.tie_embeddings = true;
  p.push_back(tiny2);
  for (Preset& pr : p) pr.config.validate("preset " + pr.name);
  return p;
}

class Init {
 public:
  explicit Init(uint64_t seed) : gen_(at::make_generator<at::CPUGeneratorImpl>(seed)) {}
  at::Tensor uniform(at::IntArrayRef shape, double bound) {
    return at::empty(shape, at::kFloat).uniform_(-bound, bound, gen_);
  }
  at::Tensor normal(at::IntArrayRef shape, double std) {
    return at::empty(shape, at::kFloat).normal_(0, std, gen_);
  }
  at::Tensor linear(int64_t out, int64_t in, double scale = 1.0) {
    return uniform({out, in}, scale / std::sqrt(static_cast<double>(in)));
  }
  // dt log-uniform in [1e-3, 1e-1] (floored at 1e-4), stored as softplus^-1(dt) so that
  // softplus(bias) = dt, as mamba_ssm initialises dt_proj.bias / dt_bias.
  at::Tensor dt_bias(int64_t n) {
    at::Tensor u = at::empty({n}, at::kFloat).uniform_(0, 1, gen_);
    at::Tensor dt = at::exp(u * (std::log(0.1) - std::log(1e-3)) + std::log(1e-3)).clamp_min(1e-4);
    return dt + at::log(-at::expm1(-dt));
  }

 private:
  at::Generator gen_;
};

}  // namespace

const std::vector<Preset>& presets() {
  static const std::vector<Preset> all = make_presets();
  return all;
}

const Preset& find_preset(const std::string& name) {
  std::string known;
  for (const Preset& p : presets()) {
    if (p.name == name) return p;
    known += (known.empty() ? "" : ", ") + p.name;
  }
  throw UsageError("unknown preset '" + name + "' (known: " + known + ")");
}

RandomModel random_model(const ModelConfig& config, uint64_t seed, at::ScalarType dtype) {
  RandomModel m{config, {}};
  const ModelConfig& c = config;
  Init init(seed);
  const int64_t d = c.d_model, E = c.d_inner, N = c.d_state, K = c.d_conv;
  auto add = [&](const std::string& key, at::Tensor t) { m.tensors.emplace_back(key, t.to(dtype)); };
  add("embedding.weight", init.normal({c.padded_vocab, d}, 0.02));
  const double out_scale = 1.0 / std::sqrt(static_cast<double>(c.n_layer));
  for (int64_t i = 0; i < c.n_layer; ++i) {
    const std::string p = "layers." + std::to_string(i) + ".";
    add(p + "norm.weight", at::ones({d}));
    add(p + "in_proj.weight", init.linear(c.in_proj_rows, d));
    if (c.proj_bias) add(p + "in_proj.bias", at::zeros({c.in_proj_rows}));
    add(p + "conv1d.weight", init.uniform({c.conv_dim, 1, K}, 1.0 / std::sqrt(double(K))));
    if (c.conv_bias) add(p + "conv1d.bias", init.uniform({c.conv_dim}, 1.0 / std::sqrt(double(K))));
    if (c.is_mamba2()) {
      add(p + "dt_bias", init.dt_bias(c.n_heads));
      add(p + "A_log", at::log(init.uniform({c.n_heads}, 7.5) + 8.5));  // A in [1, 16]
      add(p + "D", at::ones({c.n_heads}));
      add(p + "gated_norm.weight", at::ones({E}));
    } else {
      add(p + "x_proj.weight", init.linear(c.x_proj_rows(), E));
      add(p + "dt_proj.weight", init.uniform({E, c.dt_rank}, 1.0 / std::sqrt(double(c.dt_rank))));
      add(p + "dt_proj.bias", init.dt_bias(E));
      // S4D-real: A_n = -(n + 1) for every channel.
      add(p + "A_log", at::log(at::arange(1, N + 1, at::kFloat)).repeat({E, 1}));
      add(p + "D", at::ones({E}));
    }
    add(p + "out_proj.weight", init.linear(d, E, out_scale));
    if (c.proj_bias) add(p + "out_proj.bias", at::zeros({d}));
  }
  add("norm_f.weight", at::ones({d}));
  if (!c.tie_embeddings) add("lm_head.weight", init.normal({c.padded_vocab, d}, 0.02));
  return m;
}

namespace {
DType to_dtype(at::ScalarType t) {
  switch (t) {
    case at::kFloat: return DType::F32;
    case at::kHalf: return DType::F16;
    case at::kBFloat16: return DType::BF16;
    default: throw UsageError("weights are stored as fp32, fp16 or bf16");
  }
}
}  // namespace

Checkpoint RandomModel::as_checkpoint() const {
  Checkpoint ck;
  ck.config = config;
  for (const auto& [key, t] : tensors) {
    TensorView v;
    v.name = key;
    v.dtype = to_dtype(t.scalar_type());
    v.shape.assign(t.sizes().begin(), t.sizes().end());
    v.data = static_cast<const std::byte*>(t.data_ptr());
    v.nbytes = t.nbytes();
    ck.tensors.add(v, "<random init>");
    ck.file_keys[key] = key;
  }
  return ck;
}

void RandomModel::write(const fs::path& dir, Layout layout, at::ScalarType dtype) const {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) throw InputError(dir.string(), "cannot create directory: " + ec.message());
  ModelConfig c = config;
  c.layout = layout;
  std::vector<at::Tensor> stored;  // keeps converted tensors alive while writing
  if (layout == Layout::HF) {
    std::vector<TensorToWrite> out;
    for (const auto& [key, t] : tensors) {
      stored.push_back(t.to(dtype).contiguous());
      const at::Tensor& s = stored.back();
      out.push_back({file_key(key, layout), to_dtype(dtype),
                     std::vector<int64_t>(s.sizes().begin(), s.sizes().end()), s.data_ptr(),
                     s.nbytes()});
    }
    write_safetensors(dir / "model.safetensors", out, {{"format", "pt"}});
    write_file_atomic(dir / "config.json", c.to_hf_json());
  } else {
    // torch.save's zip-pickle, as mamba_ssm writes it; a tied head shares the embedding's storage.
    std::vector<TensorToWrite> out;
    const void* embedding = nullptr;
    for (const auto& [key, t] : tensors) {
      stored.push_back(t.to(dtype).contiguous());
      const at::Tensor& s = stored.back();
      if (key == "embedding.weight") embedding = s.data_ptr();
      out.push_back({file_key(key, layout), to_dtype(dtype),
                     std::vector<int64_t>(s.sizes().begin(), s.sizes().end()), s.data_ptr(),
                     s.nbytes()});
    }
    if (c.tie_embeddings) {
      TensorToWrite head = out.front();  // embedding.weight is written first
      head.name = "lm_head.weight";
      head.data = embedding;
      out.push_back(head);
    }
    write_torch_bin(dir / "pytorch_model.bin", out);
    write_file_atomic(dir / "config.json", c.to_state_spaces_json());
  }
}

}  // namespace ms
