// The damage a quantization scheme does, measured (shared/METHODS.md section 4): per layer and
// point, MSE, SQNR, cosine and max error of activations and states (the float run vs the quantized
// run on the same tokens, through observers); end to end, perplexity of both runs, Δ perplexity,
// the KL divergence KL(P_float ‖ P_quant) of next-token distributions per predicted token (mean,
// p50, p90, p99, max) and top-1 agreement.
//
// Protocol: the perplexity windows of core/engine/evaluation.h (windows of ctx tokens every
// stride, the state reset per window, every predicted token of each window counted, the last short
// window kept); KL and top-1 are taken at exactly the predicted positions, so all end-to-end
// numbers count the same tokens. Sums in fp64.
//
// Not here: weight errors (core/quant/weight_quant.h), zero-shot accuracy.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <ATen/core/Tensor.h>

#include "core/engine/evaluation.h"
#include "core/engine/mamba_model.h"

namespace ms {

class FakeQuant;

struct ErrorStats {
  int64_t count = 0;    // elements compared
  double mse = 0;
  double sqnr_db = 0;   // 10·log10(‖x‖²/‖x−x̂‖²); +inf when x̂ == x
  double cosine = 1;    // <x, x̂>/(‖x‖‖x̂‖); 1 when both are zero, 0 when only one is
  double max_abs = 0;
};

// Streams (x, x̂) pairs of equal shape, summing in fp64, so a point's error covers every window.
class ErrorAccumulator {
 public:
  void add(const at::Tensor& reference, const at::Tensor& quantized);  // throws InputError on shape mismatch
  ErrorStats result() const;

 private:
  int64_t n_ = 0;
  double err2_ = 0, ref2_ = 0, hat2_ = 0, dot_ = 0, max_abs_ = 0;
};
ErrorStats tensor_error(const at::Tensor& reference, const at::Tensor& quantized);

// numpy's default percentile ("linear"): position q·(n−1) in the sorted values, interpolated.
// q in [0, 1]; throws UsageError on an empty list.
double percentile(std::vector<double> values, double q);

// KL(P_ref ‖ P_q) per row, P = softmax(logits) in fp64: logits [..., V] -> [...] fp64 (CPU).
at::Tensor kl_per_token(const at::Tensor& reference_logits, const at::Tensor& quantized_logits);

struct EndToEndMetrics {
  int64_t tokens = 0, windows = 0;
  double ppl_float = 0, ppl_quant = 0, delta_ppl = 0;  // delta = quant − float
  double kl_mean = 0, kl_p50 = 0, kl_p90 = 0, kl_p99 = 0, kl_max = 0;
  double top1 = 0;  // fraction of predicted positions whose argmax agrees (lowest id on ties)
};

struct PointError {
  std::string point;  // `layers.3.out_proj.input`, `layers.3.ssm.state`
  ErrorStats error;
};

struct QuantEvalResult {
  EndToEndMetrics end_to_end;
  std::vector<PointError> points;  // forward order; empty without point metrics
};

struct QuantEvalOptions {
  int64_t ctx = 2048, stride = 0;  // stride 0: ctx
  bool point_metrics = true;       // costs one window's activations (and states) kept in memory
  // Point metrics against this model run with this hook instead of `reference` (logits still come
  // from `reference`): a transformed float model, whose activations live in the quantized model's
  // coordinates (rotated, smoothed) where the original's do not. Costs one more forward a window.
  const MambaModel* point_reference = nullptr;
  const FakeQuant* point_reference_fake_quant = nullptr;
};

// Runs `reference` (float) and `quantized` (with `fake_quant`, may be null) over the same windows
// of `ids`. The two models must share config. `reference_logits`, when given, caches the float
// run's logits per window (filled when empty, reused when not: `sweep` runs the float model once);
// point metrics always run the float model.
QuantEvalResult evaluate_quantized(const MambaModel& reference, const MambaModel& quantized,
                                   const FakeQuant* fake_quant, const std::vector<int32_t>& ids,
                                   const QuantEvalOptions& options, const ProgressFn& progress = {},
                                   std::vector<at::Tensor>* reference_logits = nullptr);

}  // namespace ms
