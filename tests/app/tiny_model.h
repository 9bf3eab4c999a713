// Test helper: writes tiny HF-layout Mamba-1 and Mamba-2 checkpoints (config.json +
// model.safetensors, zero weights) into a folder, with the exact key names and shapes
// transformers 5.x writes, so app tests open real files through ms::open_checkpoint without
// Python. Sizes are deliberately small and distinct (d=16, E=32, N=4, R=2) so a wrong shape in
// the structure shows up as a wrong number.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <QDir>
#include <QFile>
#include <QString>

#include "core/io/safetensors.h"

namespace ms::test {

struct TinyTensor {
  std::string name;
  std::vector<int64_t> shape;
};

inline void write_tiny_model(const QString& dir, const QByteArray& config, const std::vector<TinyTensor>& tensors) {
  QDir().mkpath(dir);
  QFile file(dir + QStringLiteral("/config.json"));
  file.open(QIODevice::WriteOnly);
  file.write(config);
  file.close();
  std::vector<std::vector<float>> storage;
  std::vector<TensorToWrite> out;
  storage.reserve(tensors.size());
  for (const TinyTensor& t : tensors) {
    int64_t n = 1;
    for (const int64_t d : t.shape) n *= d;
    storage.emplace_back(static_cast<std::size_t>(n), 0.0f);
    out.push_back({t.name, DType::F32, t.shape, storage.back().data(), storage.back().size() * sizeof(float)});
  }
  write_safetensors((dir + QStringLiteral("/model.safetensors")).toStdString(), out);
}

// Mamba-1: d=16, L=3, V=32, N=4, K=4, E=32, R=2; tied embeddings.
inline constexpr int64_t kM1Layers = 3;
inline void write_tiny_mamba1(const QString& dir) {
  const QByteArray config = R"({"model_type": "mamba", "architectures": ["MambaForCausalLM"],
    "hidden_size": 16, "num_hidden_layers": 3, "vocab_size": 32, "state_size": 4, "conv_kernel": 4,
    "expand": 2, "intermediate_size": 32, "time_step_rank": 2, "use_bias": false, "use_conv_bias": true,
    "tie_word_embeddings": true, "layer_norm_epsilon": 1e-05, "residual_in_fp32": true})";
  std::vector<TinyTensor> t{{"backbone.embeddings.weight", {32, 16}}, {"backbone.norm_f.weight", {16}}};
  for (int i = 0; i < kM1Layers; ++i) {
    const std::string p = "backbone.layers." + std::to_string(i) + ".";
    t.push_back({p + "norm.weight", {16}});
    t.push_back({p + "mixer.in_proj.weight", {64, 16}});   // [2E, d]
    t.push_back({p + "mixer.conv1d.weight", {32, 1, 4}});  // [E, 1, K]
    t.push_back({p + "mixer.conv1d.bias", {32}});
    t.push_back({p + "mixer.x_proj.weight", {10, 32}});    // [R + 2N, E]
    t.push_back({p + "mixer.dt_proj.weight", {32, 2}});    // [E, R]
    t.push_back({p + "mixer.dt_proj.bias", {32}});
    t.push_back({p + "mixer.A_log", {32, 4}});             // [E, N]
    t.push_back({p + "mixer.D", {32}});
    t.push_back({p + "mixer.out_proj.weight", {16, 32}});  // [d, E]
  }
  write_tiny_model(dir, config, t);
}
// Parameters of the model above, counted from its shapes.
inline constexpr int64_t kM1Parameters =
    32 * 16 + 16 + kM1Layers * (16 + 64 * 16 + 32 * 4 + 32 + 10 * 32 + 32 * 2 + 32 + 32 * 4 + 32 + 16 * 32);

// Mamba-2: d=16, L=2, V=32, N=4, H=4, P=8 (E=32), G=1, K=4; untied lm_head.
inline void write_tiny_mamba2(const QString& dir) {
  const QByteArray config = R"({"model_type": "mamba2", "architectures": ["Mamba2ForCausalLM"],
    "hidden_size": 16, "num_hidden_layers": 2, "vocab_size": 32, "state_size": 4, "conv_kernel": 4,
    "expand": 2, "num_heads": 4, "head_dim": 8, "n_groups": 1, "use_bias": false, "use_conv_bias": true,
    "tie_word_embeddings": false, "layer_norm_epsilon": 1e-05, "residual_in_fp32": true})";
  std::vector<TinyTensor> t{{"backbone.embeddings.weight", {32, 16}}, {"backbone.norm_f.weight", {16}},
                            {"lm_head.weight", {32, 16}}};
  for (int i = 0; i < 2; ++i) {
    const std::string p = "backbone.layers." + std::to_string(i) + ".";
    t.push_back({p + "norm.weight", {16}});
    t.push_back({p + "mixer.in_proj.weight", {76, 16}});   // [2E + 2GN + H, d]
    t.push_back({p + "mixer.conv1d.weight", {40, 1, 4}});  // [E + 2GN, 1, K]
    t.push_back({p + "mixer.conv1d.bias", {40}});
    t.push_back({p + "mixer.dt_bias", {4}});
    t.push_back({p + "mixer.A_log", {4}});
    t.push_back({p + "mixer.D", {4}});
    t.push_back({p + "mixer.norm.weight", {32}});          // gated norm [E]
    t.push_back({p + "mixer.out_proj.weight", {16, 32}});
  }
  write_tiny_model(dir, config, t);
}

}  // namespace ms::test
