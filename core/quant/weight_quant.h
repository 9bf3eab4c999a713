// Weight-only fake quantization of a whole checkpoint: the chosen Linear weights
// (default in_proj, x_proj, dt_proj, out_proj) go through quantize -> dequantize; conv, norms, A,
// D, dt biases, embeddings and lm_head stay in float, as the practical study does (METHODS.md
// section 3, GPTQ paragraph: "lm_head and conv kept in float"). Also the per-weight error metrics
// of METHODS.md section 4. Works on the checkpoint's tensors (canonical keys), not on a loaded
// MambaModel, so an export writes exactly what was quantized, in the stored dtype asked for.
//
// Not here: writing files (core/cli/cmd_quantize.cpp), GPTQ and transforms (later increments).
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <ATen/core/Tensor.h>

#include "core/model/checkpoint.h"
#include "core/model/quant_point.h"
#include "core/quant/rtn.h"

namespace ms {

// The Linear modules whose weights can be quantized, in forward order.
const std::vector<Module>& default_weight_modules();
// "in_proj,out_proj" -> modules; throws UsageError naming anything else (conv1d included: it stays
// in float in this increment). Empty text -> the default list.
std::vector<Module> parse_weight_modules(const std::string& list);

// METHODS.md section 4, computed in fp64 over the whole tensor.
struct WeightError {
  std::string key;        // canonical, `layers.3.in_proj.weight`
  std::vector<int64_t> shape;
  double mse = 0;
  double sqnr_db = 0;     // 10·log10(‖w‖²/‖w−ŵ‖²); +inf when ŵ == w
  double cosine = 0;      // <w, ŵ> / (‖w‖‖ŵ‖); 1 when both are zero
  double max_abs = 0;
};
WeightError weight_error(const std::string& key, const at::Tensor& w, const at::Tensor& w_hat);

struct QuantizedCheckpoint {
  // Every tensor of the checkpoint (a tied lm_head left out), canonical key -> CPU tensor in its
  // output dtype, in the checkpoint's key order. Quantized weights hold the dequantized values.
  std::vector<std::pair<std::string, at::Tensor>> tensors;
  std::vector<WeightError> errors;  // one per quantized weight, forward order
};

// `dtype`: the stored dtype of every float tensor (fp32/fp16/bf16); nullopt keeps each tensor's
// own. Modules the architecture lacks (x_proj, dt_proj in Mamba-2) are skipped. The error metrics
// compare the source weight with what is stored (so a narrower dtype's rounding counts too).
// `progress(done, total)` (tensors) is called after each tensor; returning false throws Cancelled.
QuantizedCheckpoint rtn_quantize_checkpoint(
    const Checkpoint& checkpoint, const RtnSpec& spec, const std::vector<Module>& modules,
    std::optional<at::ScalarType> dtype,
    const std::function<bool(int64_t done, int64_t total)>& progress = {});

// A checkpoint tensor as an owning CPU at::Tensor in its stored dtype.
at::Tensor checkpoint_tensor(const Checkpoint& checkpoint, const std::string& key);

}  // namespace ms
