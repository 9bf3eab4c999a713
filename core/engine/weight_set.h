// A model's tensors in memory under canonical keys (core/model/checkpoint.h): what offline
// transforms (rotations, smoothing) and weight rounding (RTN, GPTQ) rewrite, what exporters write,
// and what the engine loads instead of a checkpoint (MambaModel::load(WeightSet)). A transform
// that unties lm_head from the embedding sets `config.tie_embeddings = false` and adds
// `lm_head.weight`.
#pragma once

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <ATen/core/Tensor.h>

#include "core/model/checkpoint.h"

namespace ms {

struct WeightSet {
  ModelConfig config;
  std::vector<std::pair<std::string, at::Tensor>> tensors;  // CPU; from a checkpoint in its (sorted) key order

  // Every tensor of the checkpoint, copied to CPU tensors in `dtype` (nullopt: each stored dtype).
  static WeightSet from_checkpoint(const Checkpoint& checkpoint,
                                   std::optional<at::ScalarType> dtype = at::kFloat);

  const at::Tensor* find(const std::string& key) const;
  // Throws UsageError naming the key when absent.
  at::Tensor& at(const std::string& key);
  const at::Tensor& at(const std::string& key) const;
  // Replaces the tensor under `key`, or appends it.
  void set(const std::string& key, at::Tensor value);
};

// `layers.{i}.{name}`
std::string layer_key(int64_t layer, const std::string& name);

}  // namespace ms
