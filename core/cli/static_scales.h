// Static activation scales (A bits with --act-scale static): each Linear input's absmax over a
// calibration text, which act_quant.h turns into the scale. They must come from the model the
// scheme runs: after its transforms (SmoothQuant divides channel j by s_j, a rotation mixes the
// channels) and with its run-time parts applied (smooth-fused's online Hadamard and S-SiLU), so
// each absmax is of the values a runtime actually rounds. The float transformed model is measured,
// before weight rounding, as the SmoothQuant and Quamba papers calibrate.
//
// `quantize` records them in mambascope.json ("activations.absmax": the runtime that reads a packed
// export needs the numbers), and eval, sweep and zeroshot use them as recorded. A scheme that
// records none (an --act-scale static override, an older file) has them measured again, on the
// scheme's calibration text when it has transforms, from the statistics file when it has none.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <vector>

#include "core/cli/scheme_args.h"
#include "core/engine/calibration.h"
#include "core/model/checkpoint.h"

namespace ms::cli {

// Each Linear input's absmax on `weights` (fp32 on the CPU, the reference forward) with `runtime`
// applied, over the first `tokens` tokens of `texts` cut in `seq_len` pieces.
StaticActAbsmax measure_static_absmax(const WeightSet& weights, const std::vector<RuntimeTransform>& runtime,
                                      const std::vector<CalibText>& texts, int64_t tokens, int64_t seq_len,
                                      const ProgressFn& progress = {});

// The scales eval uses for `scheme` (nullopt unless its activations are static): recorded in the
// scheme; else measured on `weights.base` (transforms ran) on the scheme's calibration text; else
// the largest channel absmax per point of the statistics file (--stats or the scheme's).
std::optional<StaticActAbsmax> scheme_static_absmax(const Scheme& scheme, const SchemeArgs& args,
                                                    const SchemeWeights& weights, const Checkpoint& source,
                                                    const std::optional<std::filesystem::path>& tokenizer);

}  // namespace ms::cli
