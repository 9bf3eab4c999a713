// Random-init models with the exact shapes of released checkpoints (the presets of
// shared/CLI-CONTRACT.md), for tests, benchmarks and `init-random`. Initialisation follows the
// spirit of mamba_ssm (S4D-real A, log-uniform dt in [1e-3, 1e-1], Kaiming-uniform Linears,
// out_proj rescaled by 1/sqrt(layers)); the values are not meant to model language.
#pragma once

#include <filesystem>
#include <string>
#include <utility>
#include <vector>

#include <ATen/core/Tensor.h>

#include "core/model/checkpoint.h"

namespace ms {

struct Preset {
  std::string name;
  ModelConfig config;  // derived fields filled
};

const std::vector<Preset>& presets();
// Throws UsageError listing the known names.
const Preset& find_preset(const std::string& name);

struct RandomModel {
  ModelConfig config;
  std::vector<std::pair<std::string, at::Tensor>> tensors;  // canonical key -> CPU tensor

  // A Checkpoint whose views point into `tensors` (this RandomModel must outlive it).
  Checkpoint as_checkpoint() const;
  // Writes config.json + weights in a layout, atomically per file; `dtype` of the stored floats.
  void write(const std::filesystem::path& dir, Layout layout, at::ScalarType dtype) const;
};

RandomModel random_model(const ModelConfig& config, uint64_t seed, at::ScalarType dtype);

}  // namespace ms
