// The quantization scheme as mambascope.json records it (written by `quantize`, read by `eval` and
// `sweep`; shared/CLI-CONTRACT.md "Quantize"). The fields read here:
//   "methods":     ["rtn"], in order (transforms and gptq are the pipeline's; see Scheme::weights)
//   "weights":     {"method": "rtn", "bits": 4, "granularity": "tensor|channel|group",
//                   "group_size": 128 | null, "symmetric": true, "modules": ["in_proj", ...]}
//   "activations": {"bits": 8, "scale": "static|dynamic", "granularity": "tensor|token"}
//   "state":       {"bits": 4, "method": "dsq|tensor|channel|state", "dsq_variant": "abs.mean.sqrt"}
//   "statistics":  null | "stats.safetensors" | {"path": "..."}  (static activation scales)
// A field that is absent takes the default of the quantize command (no weights section: weights
// stay float; activations and state: 16 bits, dynamic per-token, DSQ abs.mean.sqrt). Everything
// else in the file (source, report, version) is ignored here. Errors name the file and the field.
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/engine/weight_set.h"
#include "core/model/quant_point.h"
#include "core/quant/act_quant.h"
#include "core/quant/dsq.h"
#include "core/quant/rtn.h"

namespace ms {

struct Scheme {
  std::vector<std::string> methods;
  std::optional<RtnSpec> weights;   // nullopt: weights stay float
  std::string weight_method = "rtn";
  std::vector<Module> weight_modules;  // empty: the default list of weight_quant.h
  ActQuantSpec act;
  StateQuantSpec state;
  std::string statistics;  // path, empty when none

  void validate() const;  // throws UsageError
  // "W4 channel sym, A8 dynamic token, H4 dsq abs.mean.sqrt"
  std::string describe() const;

  // The sections above, for mambascope.json (callers add source, version and report fields).
  nlohmann::json to_json() const;
  // `where` (the file) prefixes every error.
  static Scheme from_json(const nlohmann::json& j, const std::string& where);
  static Scheme read(const std::filesystem::path& file);  // InputError: unreadable, not JSON, bad field
};

// The scheme's weight rounding applied to `base`: for every layer and every chosen module the
// architecture has, the weight point and its dequantized value ŵ (fp32, CPU), in forward order.
// Empty when the scheme keeps weights float. This version rounds with RTN only: a scheme whose
// methods name a transform or GPTQ is refused (InputError naming the method), never silently
// evaluated as something else.
struct QuantizedWeight {
  QuantPoint point;  // layers.{i}.{module}.weight
  std::string key;   // canonical tensor key
  at::Tensor value;
};
std::vector<QuantizedWeight> scheme_weights(const WeightSet& base, const Scheme& scheme);

}  // namespace ms
