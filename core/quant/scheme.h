// The quantization scheme as mambascope.json records it (written by `quantize`, read by `eval` and
// `sweep`; shared/CLI-CONTRACT.md "Quantize"). The fields read here:
//   "methods":     ["rtn"], in order (transforms and gptq are the pipeline's; see Scheme::weights)
//   "weights":     {"method": "rtn", "bits": 4, "granularity": "tensor|channel|group",
//                   "group_size": 128 | null, "symmetric": true, "modules": ["in_proj", ...]}
//   "activations": {"bits": 8, "scale": "static|dynamic", "granularity": "tensor|token",
//                   "absmax": {"layers.0.in_proj.input": 3.25, ...}}  (static scales as quantize
//                   measured them, on the transformed model: core/cli/static_scales.h)
//   "state":       {"bits": 4, "method": "dsq|tensor|channel|state", "dsq_variant": "abs.mean.sqrt"}
//   "statistics":  null | "stats.safetensors" | {"path": "..."} | {"file": "..."}  (the statistics
//                  quantize's transforms read, and static activation scales)
// and what reruns the method chain exactly as quantize ran it (eval and sweep do):
//   "transforms":  [{"method": "smoothquant", "alpha": 0.5, ...}, {"method": "zero-random",
//                   "seed": 3}, ...]  (alpha, the zeroing experiment, dropped run-time parts)
//   "runtime_transforms": true  (false: smooth-fused's run-time parts were left out)
//   "weights.gptq": {"damp": 0.01, "block": 128, "act_order": false},  "weights.gguf_type": "q8_0"
//   "calibration": {"texts": [{"file": "/abs/austen.txt", "sha256": "..."}], "tokens": 32768,
//                   "seq_len": 512}  (the text transforms and GPTQ calibrated on)
//   "dtype": "source|fp32|fp16|bf16",  "format": "hf|packed|gguf"
// A field that is absent takes the default of the quantize command (no weights section: weights
// stay float; activations and state: 16 bits, dynamic per-token, DSQ abs.mean.sqrt). Everything
// else in the file (source, report, version) is ignored here. Errors name the file and the field.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
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

// The calibration text of the transforms and GPTQ, as quantize's --calib-* flags gave it.
struct SchemeCalibration {
  std::vector<std::string> files;   // empty: the shipped default text
  std::vector<std::string> sha256;  // one per file ("" when not recorded)
  int64_t tokens = 32768;
  int64_t seq_len = 512;
};

struct SchemeGptq {
  double damp = 0.01;
  int64_t block = 128;
  bool act_order = false;
};

struct Scheme {
  std::vector<std::string> methods;
  std::optional<RtnSpec> weights;   // nullopt: weights stay float
  std::string weight_method = "rtn";
  std::vector<Module> weight_modules;  // empty: the default list of weight_quant.h
  ActQuantSpec act;
  std::map<std::string, double> act_absmax;  // recorded static scales (empty: none recorded)
  StateQuantSpec state;
  std::string statistics;  // path, empty when none
  // The method chain's settings (quantize's --alpha, --zero-*, --damp/--block/--act-order,
  // --calib-*, --dtype, --gguf-type, --format, --weights-only).
  double alpha = 0.5;
  bool runtime_transforms = true;  // false: --weights-only dropped smooth-fused's run-time parts
  bool zero_outliers = false;
  std::optional<uint64_t> zero_random_seed;
  SchemeGptq gptq;
  SchemeCalibration calibration;
  std::string dtype;      // empty: each tensor's own
  std::string gguf_type;  // weights rounded as ggml's f16|q8_0|q4_0 (weight_method "ggml")
  std::string format;     // hf|packed|gguf, empty when not recorded

  // The methods before the rounding, in order; and the rounding method ("" when none).
  std::vector<std::string> transforms() const;
  std::string rounding() const;

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
// Empty when the scheme keeps weights float. RTN only: a scheme whose methods name a transform or
// GPTQ is refused (InputError naming the method), never silently evaluated as something else;
// `eval` and `sweep` run such schemes through the method chain (core/cli/scheme_model.h).
struct QuantizedWeight {
  QuantPoint point;  // layers.{i}.{module}.weight
  std::string key;   // canonical tensor key
  at::Tensor value;
};
std::vector<QuantizedWeight> scheme_weights(const WeightSet& base, const Scheme& scheme);

}  // namespace ms
