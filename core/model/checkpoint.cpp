// Finding a model's files, mapping its tensors to canonical keys, and checking every shape
// against the config. See checkpoint.h for the canonical key list.
#include "core/model/checkpoint.h"

#include <cmath>
#include <cstring>
#include <regex>

#include "core/io/safetensors.h"
#include "core/io/torch_bin.h"
#include "core/util/error.h"

namespace ms {
namespace fs = std::filesystem;
namespace {

struct Files {
  fs::path dir, config, weights;
  enum class Kind { Safetensors, Index, TorchBin } kind = Kind::Safetensors;
};

Files locate(const fs::path& path) {
  Files f;
  std::error_code ec;
  if (!fs::exists(path, ec)) throw InputError(path.string(), "no such file or directory");
  auto pick_weights = [&](const fs::path& dir) {
    if (fs::exists(dir / "model.safetensors.index.json")) {
      f.weights = dir / "model.safetensors.index.json";
      f.kind = Files::Kind::Index;
    } else if (fs::exists(dir / "model.safetensors")) {
      f.weights = dir / "model.safetensors";
    } else if (fs::exists(dir / "pytorch_model.bin")) {
      f.weights = dir / "pytorch_model.bin";
      f.kind = Files::Kind::TorchBin;
    } else {
      throw InputError(dir.string(), "no weights found (expected model.safetensors, "
                                     "model.safetensors.index.json or pytorch_model.bin)");
    }
  };
  if (fs::is_directory(path, ec)) {
    f.dir = path;
    pick_weights(path);
  } else {
    f.dir = path.has_parent_path() ? path.parent_path() : fs::path(".");
    std::string name = path.filename().string();
    if (name == "config.json") {
      pick_weights(f.dir);
    } else if (name.ends_with(".index.json")) {
      f.weights = path;
      f.kind = Files::Kind::Index;
    } else if (name.ends_with(".safetensors")) {
      f.weights = path;
    } else if (name.ends_with(".bin")) {
      f.weights = path;
      f.kind = Files::Kind::TorchBin;
    } else {
      throw InputError(path.string(), "not a model: give a model directory, its config.json, a "
                                      ".safetensors file or a pytorch_model.bin");
    }
  }
  f.config = f.dir / "config.json";
  if (!fs::exists(f.config))
    throw InputError(f.config.string(), "missing (a model needs config.json beside its weights)");
  return f;
}

// File key -> canonical key; empty when the key is not part of a Mamba checkpoint.
std::string canonical_key(const std::string& key) {
  static const std::regex layer_re(R"(^backbone\.layers\.(\d+)\.(norm\.weight|mixer\.(.+))$)");
  if (key == "backbone.embeddings.weight" || key == "backbone.embedding.weight")
    return "embedding.weight";
  if (key == "backbone.norm_f.weight") return "norm_f.weight";
  if (key == "lm_head.weight") return "lm_head.weight";
  std::smatch m;
  if (!std::regex_match(key, m, layer_re)) return {};
  std::string layer = "layers." + m[1].str() + ".";
  if (m[2] == "norm.weight") return layer + "norm.weight";
  std::string rest = m[3];
  if (rest == "norm.weight") return layer + "gated_norm.weight";  // Mamba-2's gated RMSNorm
  return layer + rest;
}

bool is_float_weight(DType d) { return d == DType::F32 || d == DType::F16 || d == DType::BF16; }

std::string shape_text(const std::vector<int64_t>& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

// Renames file keys to canonical ones and resolves lm_head tying. Unknown keys are kept under
// their file name (check_checkpoint reports them).
void canonicalize(Checkpoint& ck) {
  std::vector<std::pair<std::string, std::string>> renames;
  for (const auto& [key, view] : ck.tensors.tensors()) {
    std::string c = canonical_key(key);
    if (!c.empty() && c != key) renames.emplace_back(key, c);
    ck.file_keys[c.empty() ? key : c] = key;
  }
  for (const auto& [from, to] : renames) ck.tensors.rename(from, to);

  const TensorView* lm = ck.tensors.find("lm_head.weight");
  const TensorView* emb = ck.tensors.find("embedding.weight");
  ModelConfig& c = ck.config;
  if (lm && emb && lm->data == emb->data) {
    c.tie_embeddings = true;  // state-spaces writes the tied head as a shared storage
  } else if (lm && c.tie_embeddings) {
    ck.notes.push_back("lm_head.weight is present but the config ties it to the embedding; "
                       "the embedding is used, as transformers does");
  } else if (!lm && !c.tie_embeddings) {
    c.tie_embeddings = true;
    ck.notes.push_back("the config unties lm_head but the checkpoint has none; the embedding "
                       "is used as the head");
  }
}

std::vector<std::string> shape_problems(const Checkpoint& ck, bool list_unknown) {
  std::vector<std::string> problems;
  auto where = [&](const std::string& key) {
    auto it = ck.file_keys.find(key);
    std::string fk = it == ck.file_keys.end() ? key : it->second;
    const TensorView* v = ck.tensors.find(key);
    return (v ? ck.tensors.source_of(key).string() : ck.weight_files.front().string()) +
           ": tensor '" + fk + "'";
  };
  for (const ExpectedTensor& e : expected_tensors(ck.config)) {
    const TensorView* v = ck.tensors.find(e.key);
    if (!v) {
      if (!e.optional) problems.push_back(where(e.key) + " is missing");
      continue;
    }
    if (v->shape != e.shape)
      problems.push_back(where(e.key) + " has shape " + shape_text(v->shape) + ", expected " +
                         shape_text(e.shape) + " from " + ck.config_file.string());
    else if (!is_float_weight(v->dtype))
      problems.push_back(where(e.key) + " has dtype " + std::string(dtype_name(v->dtype)) +
                         " (weights must be F32, F16 or BF16)");
  }
  if (list_unknown) {
    std::map<std::string, bool> expected;
    for (const ExpectedTensor& e : expected_tensors(ck.config)) expected[e.key] = true;
    for (const auto& [key, view] : ck.tensors.tensors())
      if (!expected.count(key))
        problems.push_back(where(key) + " is not part of a " +
                           std::string(arch_name(ck.config.arch)) + " model");
  }
  return problems;
}

}  // namespace

std::string file_key(const std::string& canonical, Layout layout) {
  if (canonical == "embedding.weight")
    return layout == Layout::HF ? "backbone.embeddings.weight" : "backbone.embedding.weight";
  if (canonical == "norm_f.weight") return "backbone.norm_f.weight";
  if (canonical == "lm_head.weight") return canonical;
  // layers.{i}.<rest>: the block norm stays on the block, everything else is the mixer's.
  size_t dot = canonical.find('.', 7);
  std::string layer = canonical.substr(0, dot), rest = canonical.substr(dot + 1);
  if (rest == "norm.weight") return "backbone." + layer + ".norm.weight";
  if (rest == "gated_norm.weight") return "backbone." + layer + ".mixer.norm.weight";
  return "backbone." + layer + ".mixer." + rest;
}

std::vector<ExpectedTensor> expected_tensors(const ModelConfig& c) {
  const int64_t d = c.d_model, E = c.d_inner, N = c.d_state, K = c.d_conv;
  std::vector<ExpectedTensor> out;
  out.push_back({"embedding.weight", {c.padded_vocab, d}});
  for (int64_t i = 0; i < c.n_layer; ++i) {
    std::string p = "layers." + std::to_string(i) + ".";
    out.push_back({p + "norm.weight", {d}});
    out.push_back({p + "in_proj.weight", {c.in_proj_rows, d}});
    out.push_back({p + "in_proj.bias", {c.in_proj_rows}, !c.proj_bias});
    out.push_back({p + "conv1d.weight", {c.conv_dim, 1, K}});
    out.push_back({p + "conv1d.bias", {c.conv_dim}, !c.conv_bias});
    if (c.is_mamba2()) {
      out.push_back({p + "dt_bias", {c.n_heads}});
      out.push_back({p + "A_log", {c.n_heads}});
      out.push_back({p + "D", {c.n_heads}});
      out.push_back({p + "gated_norm.weight", {E}});
    } else {
      out.push_back({p + "x_proj.weight", {c.x_proj_rows(), E}});
      out.push_back({p + "dt_proj.weight", {E, c.dt_rank}});
      out.push_back({p + "dt_proj.bias", {E}});
      out.push_back({p + "A_log", {E, N}});
      out.push_back({p + "D", {E}});
    }
    out.push_back({p + "out_proj.weight", {d, E}});
    out.push_back({p + "out_proj.bias", {d}, !c.proj_bias});
  }
  out.push_back({"norm_f.weight", {d}});
  out.push_back({"lm_head.weight", {c.padded_vocab, d}, c.tie_embeddings});
  return out;
}

namespace {
Checkpoint read_checkpoint(const fs::path& path) {
  Files f = locate(path);
  Checkpoint ck;
  ck.dir = f.dir;
  ck.config_file = f.config;
  ck.config = ModelConfig::from_file(f.config);
  switch (f.kind) {
    case Files::Kind::Safetensors: read_safetensors(f.weights, ck.tensors); break;
    case Files::Kind::Index: read_safetensors_index(f.weights, ck.tensors); break;
    case Files::Kind::TorchBin: read_torch_bin(f.weights, ck.tensors); break;
  }
  ck.weight_files.push_back(f.weights);
  if (fs::exists(f.dir / "tokenizer.json")) ck.tokenizer_file = f.dir / "tokenizer.json";
  canonicalize(ck);
  return ck;
}
}  // namespace

Checkpoint open_checkpoint(const fs::path& path) {
  Checkpoint ck = read_checkpoint(path);
  std::vector<std::string> problems = shape_problems(ck, /*list_unknown=*/false);
  if (!problems.empty()) {
    std::string msg = problems.front();
    if (problems.size() > 1)
      msg += " (and " + std::to_string(problems.size() - 1) + " more problems; run `check`)";
    throw InputError("", msg);
  }
  return ck;
}

std::vector<std::string> check_checkpoint(const fs::path& path) {
  Checkpoint ck;
  try {
    ck = read_checkpoint(path);
  } catch (const std::exception& e) {
    return {e.what()};
  }
  std::vector<std::string> problems = shape_problems(ck, /*list_unknown=*/true);
  for (const std::string& n : ck.notes) problems.push_back(ck.config_file.string() + ": " + n);
  // Non-finite values: a NaN in a weight poisons every logit downstream.
  for (const auto& [key, v] : ck.tensors.tensors()) {
    if (!is_float_weight(v.dtype)) continue;
    int64_t bad = 0, n = v.numel();
    for (int64_t i = 0; i < n; ++i) {
      uint32_t bits = 0;
      if (v.dtype == DType::F32) {
        std::memcpy(&bits, v.data + 4 * i, 4);
        bad += (bits & 0x7f800000u) == 0x7f800000u;
      } else {
        uint16_t h;
        std::memcpy(&h, v.data + 2 * i, 2);
        bad += v.dtype == DType::F16 ? (h & 0x7c00u) == 0x7c00u : (h & 0x7f80u) == 0x7f80u;
      }
    }
    if (bad)
      problems.push_back(ck.tensors.source_of(key).string() + ": tensor '" + ck.file_keys[key] +
                         "' has " + std::to_string(bad) + " non-finite values");
  }
  return problems;
}

}  // namespace ms
