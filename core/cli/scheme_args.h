// What `eval` and `sweep` share: --scheme mambascope.json with flags that override its activation
// and state sections (which --format hf cannot store, so a user tries them here), the statistics
// that static activation scales need, and the float/quantized model pair a scheme makes.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "core/cli/common.h"
#include "core/engine/calib_stats.h"
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

// The model's weights in fp32 and the scheme's quantized weights (with their errors).
struct SchemeWeights {
  WeightSet base;
  std::vector<QuantizedWeight> quantized;
  std::vector<WeightError> errors;  // one per quantized weight
};
SchemeWeights scheme_weights_of(const Checkpoint& ck, const Scheme& scheme);

// `base` with the quantized weights of `which` (indices into quantized) substituted, loaded.
std::unique_ptr<MambaModel> load_with(const SchemeWeights& w, const std::vector<size_t>& which,
                                      const EngineOptions& options);

nlohmann::json json_number_or_null(double v);
nlohmann::json end_to_end_json(const EndToEndMetrics& e);
nlohmann::json error_json(const std::string& point, const ErrorStats& e);

}  // namespace ms::cli
