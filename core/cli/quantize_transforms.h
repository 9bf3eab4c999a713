// The transform half of `quantize --method T1,T2,...,rtn` (shared/CLI-CONTRACT.md "Quantize"):
// the methods before the rounding run through core/quant/pipeline.h on the model's weights, and the
// command's writers then round and export the transformed model as if it were the checkpoint
// (checkpoint_view). Statistics come from --stats for the untouched model and are collected on
// the transformed one whenever a later method needs them (--calib-file, default the shipped
// Austen text). Run-time parts (smooth-fused's S-SiLU and online Hadamard) cannot live in plain
// weights: --format hf and gguf refuse them unless --weights-only drops them; --format packed
// records them in mambascope.json with their parameters in runtime.safetensors.
//
// Not here: rounding (the exporters, GPTQ), writing the weights.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "core/engine/weight_set.h"
#include "core/model/checkpoint.h"
#include "core/quant/pipeline.h"

namespace ms::cli {

struct TransformArgs {
  double alpha = 0.5;
  std::string stats;                    // --stats S (of the untouched model)
  std::vector<std::string> calib_files; // --calib-file (default: resources/texts/austen.txt)
  int64_t calib_tokens = 32768;
  int64_t calib_seq_len = 512;
  bool zero_outliers = false;
  int64_t zero_random_seed = -1;        // --zero-random SEED (the control); -1: off
};
void add_transform_options(CLI::App* cmd, TransformArgs& t);

struct TransformedCheckpoint {
  bool applied = false;           // any transform (or --zero-outliers) ran
  WeightSet weights;              // what `ck` views afterwards
  PipelineResult result;
  nlohmann::json statistics;      // how statistics were obtained (null when none were needed)
};

// Applies the transforms of `methods` (all but a final rounding method) to `ck`; afterwards `ck`
// views `out.weights` (each tensor back in its stored dtype). Throws UsageError for run-time parts
// a plain-weights `format` cannot hold (unless `weights_only`, which drops them into `dropped`).
void apply_quantize_transforms(Checkpoint& ck, const std::vector<std::string>& methods,
                               const std::string& format, bool weights_only,
                               const std::optional<std::filesystem::path>& tokenizer,
                               const TransformArgs& args, TransformedCheckpoint& out,
                               std::vector<std::string>& dropped);

// Adds "transforms", "runtime" and "statistics" to the scheme; for run-time transforms writes
// their parameters to dir/runtime.safetensors.
void record_transforms(const TransformedCheckpoint& t, const std::filesystem::path& dir,
                       nlohmann::json& scheme);

}  // namespace ms::cli
