// Calibration statistics at every quant point, mergeable exactly across batches, files and GPUs
// (shared/CLI-CONTRACT.md, "Statistics file"). Per activation point (`layers.3.x_proj.input`):
// per-channel absmax, min, max (fp32), count (int64), sum and sumsq (fp64), a histogram of |x| on
// fixed log-spaced bins (int64 counts, so merging is addition), and with --cov the fp64 X^T X plus
// the per-channel sums that centre it. Per state point (`layers.3.ssm.state`): absmax over every
// token's state and the mean |s| ([E, N] or [H, P, N]), kept as sum_abs + count so files merge.
// Everything lives on the CPU in double where sums are concerned; accumulation happens on the
// device where the activations are, one reduction per batch.
#pragma once

#include <filesystem>
#include <map>
#include <string>

#include <ATen/core/Tensor.h>

#include "core/engine/observer.h"

namespace ms {

// |x| histogram bins shared by every point and every file: 0, then 10^-8 .. 10^6 with
// 16 bins per decade; the last bin also takes anything larger. Fixed, so histograms merge.
at::Tensor histogram_edges();  // [kHistBins + 1] fp64
constexpr int64_t kHistBins = 1 + 14 * 16;

struct ActivationStats {
  at::Tensor absmax, min, max;  // [C] fp32
  at::Tensor count;             // [C] int64 (the same for every channel; per channel for merging)
  at::Tensor sum, sumsq;        // [C] fp64
  at::Tensor hist;              // [kHistBins] int64 counts of |x|
  at::Tensor cov;               // [C, C] fp64 X^T X (only with covariance), undefined otherwise

  void merge(const ActivationStats& other);
};

struct StateStats {
  at::Tensor absmax;   // [E, N] | [H, P, N] fp32
  at::Tensor sum_abs;  // same shape, fp64
  int64_t count = 0;   // token states seen

  at::Tensor mean_abs() const;  // sum_abs / count, fp32
  void merge(const StateStats& other);
};

struct CalibMetadata {
  std::map<std::string, std::string> fields;  // model, texts (JSON), tokens, dtype, device, seq_len, version
};

class CalibStats {
 public:
  std::map<std::string, ActivationStats> activations;  // key: quant point text
  std::map<std::string, StateStats> states;
  CalibMetadata metadata;
  int64_t tokens = 0;

  // Exact merge (max/min of extrema, sums of counts, fp64 sums and histograms).
  void merge(const CalibStats& other);
  // safetensors per the contract: `layers.{i}.{module}.{site}.{stat}`; written atomically.
  void save(const std::filesystem::path& file) const;
  static CalibStats load(const std::filesystem::path& file);
};

// The observer that fills a CalibStats during forwards (every activation and state point).
class CalibObserver : public Observer {
 public:
  CalibObserver(CalibStats& stats, bool covariance) : stats_(stats), covariance_(covariance) {}
  bool wants(const QuantPoint& point) const override;
  void collect(const QuantPoint& point, const at::Tensor& value) override;

 private:
  CalibStats& stats_;
  bool covariance_;
};

}  // namespace ms
