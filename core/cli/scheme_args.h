// What `eval` and `sweep` share: their common flags (MODEL, --file, --scheme mambascope.json with
// flags that override its activation and state sections, --ctx, --stride, --max-tokens, the
// engine's and the tokenizer's), the statistics that static activation scales need, and the
// float/quantized model pair a scheme makes: the scheme's method chain run by quantize's own code
// (core/cli/scheme_model.h), with its run-time parts in the fake-quant hook.
#pragma once

#include <filesystem>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "core/cli/common.h"
#include "core/engine/calib_stats.h"
#include "core/engine/fake_quant.h"
#include "core/engine/weight_set.h"
#include "core/quant/metrics.h"
#include "core/quant/scheme.h"
#include "core/quant/weight_quant.h"

namespace ms::cli {

struct SchemeArgs {
  std::string scheme, stats, act_scale, act_granularity, state_method, dsq_variant;
  int abits = 0, hbits = 0;  // 0: as the scheme says
};
void add_scheme_options(CLI::App* cmd, SchemeArgs& a);

// The scheme file with the overrides applied, validated. Without --scheme, the flags alone
// (weights float). Throws UsageError when neither is given.
Scheme resolve_scheme(const SchemeArgs& a);

// Statistics for static activation scales (--stats, else the scheme's); nullopt when not needed.
std::optional<CalibStats> scheme_statistics(const Scheme& scheme, const SchemeArgs& a);
// Whether the statistics file is where the static scales come from (static activations, no
// recorded scales, no transform: core/cli/static_scales.h), and the check that it exists (UsageError
// / InputError), for commands that fail early, before loading a model.
bool statistics_give_static_scales(const Scheme& scheme);
void require_statistics_file(const Scheme& scheme);

// The model's weights in fp32 after the scheme's transforms, and the scheme's quantized weights
// (with their errors against the transformed weights, as quantize's report.json has them).
struct SchemeWeights {
  WeightSet base;
  std::vector<QuantizedWeight> quantized;
  std::vector<WeightError> errors;  // one per quantized weight
  // Every tensor exactly as `quantize --format hf` stores it (nullopt when weights stay float):
  // eval loads this whole, so its quantized side is the export's.
  std::optional<WeightSet> stored;
  bool transformed = false;                // a transform (or the zeroing) ran
  std::vector<RuntimeTransform> runtime;   // smooth-fused's run-time parts, for the hook
};
// `tokenizer`: --tokenizer (the calibration text of transforms and GPTQ is tokenized with it).
SchemeWeights scheme_weights_of(const Checkpoint& ck, const Scheme& scheme,
                                const std::optional<std::filesystem::path>& tokenizer = std::nullopt);

// The flags eval and sweep share, and what both do with them first.
struct EvalArgs {
  std::string model, file;
  int64_t ctx = 2048, stride = 0, max_tokens = 0;
  SchemeArgs s;
  CommonOptions o;
};
// Adds MODEL, --file, the scheme's flags, --ctx, --stride, --max-tokens, the engine's and the
// tokenizer's.
void add_eval_options(CLI::App* cmd, EvalArgs& a);

struct EvalInputs {
  Scheme scheme;
  std::optional<StaticActAbsmax> static_scales;  // static activation scales (core/cli/static_scales.h)
  LoadedModel model;                // the float model
  std::vector<int32_t> ids;         // the text, cut to --max-tokens
  SchemeWeights weights;
};
EvalInputs load_eval_inputs(const EvalArgs& a);

// The hook that quantizes `points` under the scheme, with the run-time transforms at every layer.
std::unique_ptr<PointFakeQuant> scheme_fake_quant(const EvalInputs& in, const std::set<QuantPoint>& points);

// `base` with the quantized weights of `which` (indices into quantized) substituted, loaded.
std::unique_ptr<MambaModel> load_with(const SchemeWeights& w, const std::vector<size_t>& which,
                                      const EngineOptions& options);

nlohmann::json json_number_or_null(double v);
nlohmann::json end_to_end_json(const EndToEndMetrics& e);
nlohmann::json error_json(const std::string& point, const ErrorStats& e);

}  // namespace ms::cli
