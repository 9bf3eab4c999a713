// What `requant-serve` and `bench requant` share: a RequantResult as the JSON object of one reply
// line (the serve protocol the app reads, app/requant_process.h), and the benchmark itself.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include "core/cli/common.h"
#include "core/engine/requant.h"

namespace ms::cli {

// {"type": "result", "id", "ms", "end_to_end": {...as eval --json}, "points": [...], "weights":
//  [...] (error_json rows), "kl": [per predicted token, window-major], "token_sqnr": [per point,
//  per window, per token] or absent, "weights_rounded", "model_reloaded"}. Non-finite SQNRs are
//  null (+inf: exact; -inf: a zero float value), as eval --json writes them.
nlohmann::json requant_result_json(const RequantResult& result, double milliseconds);

// One JSON line (invalid UTF-8 in token pieces replaced, never a throw).
std::string json_line(const nlohmann::json& j);

struct BenchRequantArgs {
  std::string preset, out;
  std::string model;  // a model directory instead of the preset's random weights (empty: preset)
  int64_t batch = 2, seq_len = 128;
  bool json = false;
};
int bench_requant(const BenchRequantArgs& args, const EngineOptions& options);

}  // namespace ms::cli
