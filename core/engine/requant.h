// RequantSession: the live error preview behind the bit-width sliders (issue 6). Built once from a
// model and a cached calibration batch (ids [B, T]: B windows of T tokens, each from a zero
// state), it runs the float model once and keeps its logits and every quant point's value; then
// evaluate(setting) answers "what would this setting do" with one quantized forward:
//   - per activation/state point: MSE, SQNR, cosine, max error (ErrorStats of metrics.h, from
//     per-token sums: the same numbers as ErrorAccumulator, one pass);
//   - per quantized weight: the same, weight vs its RTN rounding;
//   - end to end: KL(P_float ‖ P_quant) per predicted token, its mean/percentiles, top-1
//     agreement, perplexity of both (EndToEndMetrics, the perplexity protocol per window);
//   - optionally per token and point: the SQNR of that token's row (which layers hurt a token).
//
// Each window is one row of the batch, so with B = 1 the numbers are those of
// evaluate_quantized() on the same T ids with ctx = T (tests/engine/tst_requant.cpp checks it).
//
// What is cached between settings, and why: the float run (never changes); each weight's rounding
// keyed by its RtnSpec (a per-layer slider re-rounds one layer's weights, not the model's); the
// quantized model itself while no weight's rounding changed (A/H-only moves skip the reload).
// Static activation scales come from `stats` when given, else from the batch's own float run
// (max |x| of the point over the batch: it is the calibration batch).
//
// Not here: threading and "latest wins" (the serve command and the app), GPTQ or transforms
// (sliders preview RTN weights only), skipping the unchanged first layers (the engine's forward
// starts at the embedding).
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <ATen/core/Tensor.h>

#include "core/engine/mamba_model.h"
#include "core/engine/weight_set.h"
#include "core/quant/metrics.h"
#include "core/quant/requant_setting.h"

namespace ms {

class CalibStats;

struct RequantResult {
  int64_t id = 0;
  EndToEndMetrics end_to_end;
  std::vector<PointError> points;   // activations and states, forward order
  std::vector<PointError> weights;  // quantized weights (layers.{i}.{module}.weight), forward order
  // KL per predicted token, window-major: window w's positions 0..T-2 (predicting tokens 1..T-1).
  std::vector<double> kl;
  // With token_detail: token_sqnr[p * B·T + w·T + t] = SQNR (dB) of point p's row at token t of
  // window w (+inf where exact, -inf where the float row is zero and the quantized is not).
  std::vector<float> token_sqnr;
  int64_t weights_rounded = 0;  // weights re-rounded for this setting (the rest came from the cache)
  bool model_reloaded = false;
};

// The five fp64 sums the error metrics of one token (row) are made of, for x = `reference` and
// x̂ = `quantized` of equal shape [B, T, ...]: rows ‖x−x̂‖², ‖x‖², ‖x̂‖², <x, x̂>, max |x−x̂|, as
// [5, B·T] fp64 on the inputs' device. On the CPU a one-pass loop; elsewhere error_row_sums_ref.
at::Tensor error_row_sums(const at::Tensor& reference, const at::Tensor& quantized);
// The same with ATen ops (any device): the reference the loop is tested against.
at::Tensor error_row_sums_ref(const at::Tensor& reference, const at::Tensor& quantized);

class RequantSession {
 public:
  // `ids` [B, T] int64 (CPU), T >= 2. `stats` may be null. The model's options (device, dtype)
  // are the session's. Throws InputError on ids outside the vocabulary.
  RequantSession(const Checkpoint& checkpoint, const EngineOptions& options, at::Tensor ids,
                 const CalibStats* stats = nullptr);
  // The same from weights in memory (a random-init preset for `bench requant`).
  RequantSession(const WeightSet& weights, const EngineOptions& options, at::Tensor ids,
                 const CalibStats* stats = nullptr);
  ~RequantSession();

  RequantResult evaluate(const RequantSetting& setting);

  const ModelConfig& config() const { return weights_.config; }
  const at::Tensor& ids() const { return ids_; }                 // [B, T] CPU
  const std::vector<QuantPoint>& points() const { return points_; }  // result order
  int64_t windows() const { return ids_.size(0); }
  int64_t window_length() const { return ids_.size(1); }

 private:
  struct CachedWeight {
    std::string spec;  // RtnSpec text; empty: float
    at::Tensor value;  // on the device, fp32
    ErrorStats error;
  };
  void init(const CalibStats* stats);

  WeightSet weights_;  // fp32 on the session's device
  EngineOptions options_;
  at::Tensor ids_;
  std::unique_ptr<MambaModel> float_model_, quant_model_;
  at::Tensor float_logits_;  // [B, T, V]
  std::map<QuantPoint, at::Tensor> float_values_;
  std::map<QuantPoint, double> static_absmax_;
  std::vector<QuantPoint> points_;
  std::map<std::string, CachedWeight> weight_cache_;  // key: tensor key
};

}  // namespace ms
