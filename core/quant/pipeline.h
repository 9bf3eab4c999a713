// The method chain of `quantize --method a,b,c` (shared/CLI-CONTRACT.md "Quantize"): transforms
// (smoothquant, hadamard, klt, smooth-fused) in the order given, then at most one weight rounding
// (rtn, gptq), last. Every step rewrites one WeightSet in place and records what it did for
// mambascope.json.
//
// Statistics: a step that needs them (smoothquant, klt, smooth-fused) reads statistics of the model
// as it is at that point of the chain. The context's statistics describe the model before the
// first step; once a transform has changed the weights they are stale, and the next step that
// needs statistics asks `context.calibrate` for fresh ones on the current weights (with
// covariance). Without that callback such a chain is refused rather than fed stale numbers.
//
// To add a method: one row in the table in pipeline.cpp (name, kind, what it needs, a function).
// Not here: reading or writing files (core/cli/cmd_quantize.cpp), activation and state bits (the
// fake-quant forward), export formats.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include <ATen/core/Tensor.h>
#include <nlohmann/json.hpp>

#include "core/engine/calib_stats.h"
#include "core/engine/weight_set.h"
#include "core/model/quant_point.h"
#include "core/quant/gptq_model.h"
#include "core/quant/rtn.h"
#include "core/quant/smooth_fused.h"
#include "core/quant/weight_quant.h"

namespace ms {

struct PipelineOptions {
  RtnSpec rtn;                                               // the rounding grid
  std::vector<Module> modules = default_weight_modules();    // Linears that get rounded
  double alpha = 0.5;                                        // smoothquant, smooth-fused
  // false for plain-weight exports (--format hf --weights-only): smooth-fused's run-time parts
  // (S-SiLU, online Hadamard) are left out and listed in PipelineResult::dropped.
  bool runtime_transforms = true;
  // Zero the 6σ outlier channels at every Linear input before the chain (--zero-outliers; needs
  // statistics). outliers.h.
  bool zero_outliers = false;
  // The experiment's control: zero as many channels per point, drawn at random among the
  // non-outliers with this seed, instead of the outliers (needs statistics).
  std::optional<uint64_t> zero_random_seed;
  // The dtype a rounded weight is stored in (default: its current one); the error metrics compare
  // against what is stored, so a narrower dtype's rounding counts too.
  std::function<at::ScalarType(const std::string& key, at::ScalarType current)> stored_dtype;
  // gptq (core/quant/gptq_model.h): damping, block size and act-order on the `rtn` grid, the
  // calibration windows (required: the step refuses to run without them) and the engine that runs
  // the sequential forwards.
  GptqSpec gptq;
  GptqCalibration gptq_calibration;
  EngineOptions engine;
};

struct PipelineContext {
  const CalibStats* stats = nullptr;  // of the model before the first step; may be null
  // Fresh statistics of the weights as they are now (with X^T X when `covariance`); may be empty.
  std::function<CalibStats(const WeightSet&, bool covariance)> calibrate;
  // After each step: (steps done, steps in all); returning false throws Cancelled.
  std::function<bool(int64_t done, int64_t total)> progress;
};

struct PipelineResult {
  nlohmann::json steps = nlohmann::json::array();  // one object per method, in order
  std::vector<RuntimeTransform> runtime;           // what a runtime must do (not in the weights)
  std::vector<std::string> dropped;                // run-time parts left out
  std::vector<WeightError> errors;                 // the rounding step's, forward order
  int calibrations = 0;                            // times context.calibrate was called
};

// "klt,smooth-fused,rtn" -> names. UsageError for an unknown name (listing the known ones), a
// repeated method, more than one rounding method, or a rounding method that is not last.
std::vector<std::string> parse_method_list(const std::string& list);
bool is_known_method(const std::string& name);  // has a step in this version
bool is_rounding_method(const std::string& name);
// Whether a chain needs calibration statistics at all (before its first step).
bool methods_need_statistics(const std::vector<std::string>& methods, const PipelineOptions& options);
// Whether a chain includes transforms that run at run time when options.runtime_transforms is true.
bool methods_have_runtime_parts(const std::vector<std::string>& methods, const ModelConfig& config);

PipelineResult apply_methods(WeightSet& w, const std::vector<std::string>& methods,
                             const PipelineOptions& options, const PipelineContext& context);

// InputError naming `source` when statistics do not fit the model (a point's channel count).
void check_statistics(const ModelConfig& config, const CalibStats& stats, const std::string& source);

// A Checkpoint whose tensors are views of `w` (which must outlive it and not change), with the
// paths, file keys and tokenizer of `source`: what exporters written for checkpoints read, so a
// transformed model exports through them unchanged. Tensors are made contiguous in `w` first.
Checkpoint checkpoint_view(WeightSet& w, const Checkpoint& source);

// RTN on the chosen Linears of a WeightSet (the `rtn` step), stored via options.stored_dtype.
std::vector<WeightError> rtn_weight_set(WeightSet& w, const PipelineOptions& options);

}  // namespace ms
