// GPTQ over a whole model, sequentially (METHODS.md section 3; the GPTQ paper's "sequential"
// quantization): each Linear's Hessian H = 2 XᵀX comes from its inputs X in the model *as
// quantized so far*, so later layers correct for the error the earlier ones made.
//
// Order: layer by layer, and inside a layer module by module in forward order (in_proj, x_proj,
// dt_proj, out_proj; Mamba-2: in_proj, out_proj). The model is re-run after every module (the
// reference's "true sequential" mode): x_proj's input depends on in_proj's rounding, dt_proj's on
// x_proj's, out_proj's on all three. Each run loads the partially quantized WeightSet into a
// MambaModel, observes the one input it needs on the calibration tokens (XᵀX accumulated in
// fp64), and stops the forward there, so a run costs the layers up to i only.
// conv1d, norms, A, D, dt biases, embeddings and lm_head stay in float (the practical study).
//
// Calibration tokens: consecutive windows of `seq_len` tokens from the start of one text (the
// practical study: 64 random windows of 2048 WikiText-2 tokens; ours are consecutive, so a run is
// reproducible without a seed).
//
// Not here: the CLI (core/cli/cmd_quantize.cpp), writing files.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include <ATen/core/Tensor.h>
#include <nlohmann/json.hpp>

#include "core/engine/evaluation.h"
#include "core/engine/mamba_model.h"
#include "core/engine/weight_set.h"
#include "core/quant/gptq.h"
#include "core/quant/weight_quant.h"

namespace ms {

struct GptqCalibration {
  at::Tensor ids;      // [n, T] int64 on the CPU: n sequences of T tokens
  int64_t batch = 8;   // sequences per forward (memory: the scan keeps [batch, T, E] tensors)
};

// Up to `nsamples` consecutive whole windows of `seq_len` tokens from the start of each text in
// turn (a window never spans two texts) -> [n, seq_len]. Throws InputError naming the texts when
// none holds a whole window.
at::Tensor gptq_calibration_windows(const std::vector<std::vector<int32_t>>& texts, int64_t nsamples,
                                    int64_t seq_len, const std::string& name);

struct GptqWeightReport {
  std::string key;           // `layers.3.in_proj.weight`
  int64_t dead_columns = 0;
  double loss = 0;           // GptqResult::loss
  int64_t tokens = 0;        // rows of X behind its Hessian
  // GptqResult's codes, scales, zeros (undefined when symmetric) and g_idx: what --format packed
  // stores (core/export/packed.h), so the codes need not be re-derived from the values.
  at::Tensor codes, scales, zeros, g_idx;
};

// Quantizes `weights` (fp32 tensors recommended) in place: every chosen module of every layer
// gets GPTQ's dequantized values, in its tensor's dtype. Modules the architecture lacks are
// skipped. `engine` runs the calibration forwards (its dtype is the one the Hessians see).
// progress(done, total) counts weights; returning false throws Cancelled.
std::vector<GptqWeightReport> gptq_quantize_weights(WeightSet& weights, const GptqSpec& spec,
                                                    const std::vector<Module>& modules,
                                                    const GptqCalibration& calib,
                                                    const EngineOptions& engine,
                                                    const ProgressFn& progress = {});

struct GptqCheckpoint {
  QuantizedCheckpoint quantized;          // as rtn_quantize_checkpoint returns it
  std::vector<GptqWeightReport> gptq;     // forward order
};

// The checkpoint-level form of gptq_quantize_weights, shaped like rtn_quantize_checkpoint: every
// tensor in the checkpoint's key order in `dtype` (nullopt: each its own), a tied lm_head left out,
// weight errors of what is stored against the source.
GptqCheckpoint gptq_quantize_checkpoint(const Checkpoint& checkpoint, const GptqSpec& spec,
                                        const std::vector<Module>& modules,
                                        std::optional<at::ScalarType> dtype,
                                        const GptqCalibration& calib, const EngineOptions& engine,
                                        const ProgressFn& progress = {});

// What mambascope.json records of a GPTQ run: grid, damping, block, act-order, the group
// convention, the calibration windows, and per weight its loss and dead columns.
nlohmann::json gptq_scheme_json(const GptqSpec& spec, const GptqCalibration& calib,
                                const std::vector<GptqWeightReport>& reports);

// The `gptq` step of the method chain (core/quant/pipeline.h): gptq_quantize_weights, then each
// rounded weight stored as stored_dtype(key, current) when given, its error against the weight
// before the step appended to `errors` (forward order). Returns gptq_scheme_json.
nlohmann::json gptq_weight_set(
    WeightSet& weights, const GptqSpec& spec, const std::vector<Module>& modules,
    const GptqCalibration& calib, const EngineOptions& engine,
    const std::function<at::ScalarType(const std::string& key, at::ScalarType current)>& stored_dtype,
    std::vector<WeightError>& errors);

}  // namespace ms
