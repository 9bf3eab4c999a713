// The model a scheme describes, computed by the code `quantize` runs, so that `eval` and `sweep`
// measure exactly what was exported: the transforms through apply_quantize_transforms (the method
// chain of core/quant/pipeline.h), then the weight rounding through round_checkpoint, which is
// also what `quantize --format hf` writes (RTN, GPTQ, or ggml's blocks for --gguf-type). The
// scheme (mambascope.json, core/quant/scheme.h) gives back every argument quantize took:
// α, the zeroing experiment, GPTQ's damping/block/act-order, the calibration text (checked
// against its recorded SHA-256), the stored dtype, and whether run-time parts were kept.
//
// Not here: activation and state bits (the fake-quant forward, core/engine/fake_quant.h), writing
// files.
#pragma once

#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/cli/quantize_gptq.h"
#include "core/cli/quantize_transforms.h"
#include "core/io/gguf.h"
#include "core/quant/scheme.h"
#include "core/quant/weight_quant.h"

namespace ms::cli {

// How quantize rounds the (possibly transformed) checkpoint.
struct RoundingArgs {
  std::string method = "rtn";           // rtn | gptq
  RtnSpec spec;
  std::vector<Module> modules;          // those the architecture has
  std::optional<at::ScalarType> dtype;  // stored dtype; nullopt: each tensor's own
  std::optional<GgmlType> gguf_type;    // round as this ggml type instead of `method`
  GptqArgs gptq;
  GptqCalibArgs calibration;
  std::optional<std::filesystem::path> tokenizer;
};

struct RoundedCheckpoint {
  QuantizedCheckpoint quantized;  // every tensor as --format hf stores it, and the weight errors
  nlohmann::json gptq;            // gptq_export's scheme (null for RTN and ggml)
};
RoundedCheckpoint round_checkpoint(const Checkpoint& ck, const RoundingArgs& args, const ProgressFn& progress);

// quantize's arguments back from a scheme. transform_args_of checks each recorded calibration text
// against its SHA-256 (InputError naming the file when it changed or is gone).
TransformArgs transform_args_of(const Scheme& scheme);
RoundingArgs rounding_args_of(const Scheme& scheme, const Checkpoint& ck,
                              const std::optional<std::filesystem::path>& tokenizer);

struct SchemeModel {
  Checkpoint checkpoint;              // the model after the transforms (views `transformed.weights`)
  TransformedCheckpoint transformed;  // applied == false: no transform ran
  WeightSet base;                     // the model after the transforms, before rounding: fp32 copies
  std::optional<RoundedCheckpoint> rounded;  // nullopt: the scheme keeps weights float
};
// The scheme applied to `source` on the CPU in fp32, as quantize does. `tokenizer`: --tokenizer.
// Run-time parts (smooth-fused) are kept unless the scheme recorded them dropped; they are in
// transformed.result.runtime for the fake-quant forward.
std::unique_ptr<SchemeModel> scheme_model(const Checkpoint& source, const Scheme& scheme,
                                          const std::optional<std::filesystem::path>& tokenizer);

}  // namespace ms::cli
