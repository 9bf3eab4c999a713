// Opening a model: find its files (HF layout, state-spaces layout, or a lone .safetensors with
// config.json beside it), read config.json, map the weights, rename every tensor to our canonical
// key, and check every shape against the config. Torch-free: the GUI's structure view, `info` and
// `check` use this without loading LibTorch.
//
// Canonical keys (layer-local names follow the quant-point vocabulary):
//   embedding.weight [V, d]; norm_f.weight [d]; lm_head.weight [V, d] (only when untied);
//   layers.{i}.norm.weight [d]; layers.{i}.{in_proj,x_proj,dt_proj,out_proj}.{weight,bias};
//   layers.{i}.conv1d.{weight,bias}; layers.{i}.{A_log,D,dt_bias}; layers.{i}.gated_norm.weight.
#pragma once

#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "core/io/tensor_store.h"
#include "core/model/config.h"

namespace ms {

struct Checkpoint {
  std::filesystem::path dir;                 // the model directory
  std::filesystem::path config_file;         // config.json
  std::vector<std::filesystem::path> weight_files;  // shards, a .safetensors, or pytorch_model.bin
  ModelConfig config;
  TensorStore tensors;                       // canonical keys
  std::map<std::string, std::string> file_keys;  // canonical key -> key in the file (messages)
  std::vector<std::string> notes;            // things `info` should tell (tying decisions, ...)
  std::optional<std::filesystem::path> tokenizer_file;  // tokenizer.json beside the weights
};

// A tensor the architecture needs: canonical key and expected shape.
struct ExpectedTensor {
  std::string key;
  std::vector<int64_t> shape;
  bool optional = false;  // biases the config may omit, lm_head when tied
};
std::vector<ExpectedTensor> expected_tensors(const ModelConfig& config);

// The key a canonical tensor has in a layout's files (`embedding.weight` ->
// `backbone.embeddings.weight` in HF, `backbone.embedding.weight` in state-spaces).
std::string file_key(const std::string& canonical, Layout layout);

// Throws InputError naming the file and the problem. `path`: a directory, a config.json, or a
// .safetensors file with config.json beside it. Safetensors wins over pytorch_model.bin.
Checkpoint open_checkpoint(const std::filesystem::path& path);

// Every problem found in the checkpoint (empty when it is sound): unreadable files, unknown or
// missing tensors, wrong shapes, non-finite values, an inconsistent config. Never throws for a
// problem of the checkpoint itself.
std::vector<std::string> check_checkpoint(const std::filesystem::path& path);

}  // namespace ms
