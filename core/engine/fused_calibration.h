// The calibration forward on CUDA with our kernels (kernels/calib_kernels.h). It computes the same
// statistics as MambaModel::forward with a CalibObserver, from the same arithmetic (the Linears
// and norms are the same ATen calls), but:
//   - conv1d + SiLU and the selective scan are our kernels; the scan advances every state in
//     registers and folds max |s| and Σ|s| in as it goes, so the [B, T, E, N] / [B, T, H, P, N]
//     states never exist in memory;
//   - statistics accumulate on the GPU across batches (one copy to the host at the end);
//   - there is no LM head: calibration needs none of the logits.
// The reference path (the observer) stays the definition; tests/gpu/ compares the two.
#pragma once

#include <map>
#include <string>

#include <ATen/core/Tensor.h>

#include "core/engine/calib_stats.h"
#include "core/engine/mamba_model.h"

namespace ms {

class FusedCalibrator {
 public:
  // Whether the fused path can run this model (CUDA device, kernels built, shapes in range).
  static bool supported(const MambaModel& model, std::string* why_not = nullptr);

  FusedCalibrator(const MambaModel& model, bool covariance);
  ~FusedCalibrator();
  FusedCalibrator(const FusedCalibrator&) = delete;
  FusedCalibrator& operator=(const FusedCalibrator&) = delete;

  // One batch of equal-length sequences, ids [B, T], from a zero state.
  void run(const at::Tensor& ids);
  // Adds the statistics accumulated so far to `stats` (a copy to the host) and resets; the
  // token count is the caller's (calibrate() counts what it feeds).
  void finish(CalibStats& stats);

 private:
  // GPU accumulators of one activation point (initial values as kernels/calib_kernels.h asks).
  struct PointAcc {
    at::Tensor absmax, min, max, sum, sumsq, hist, cov;
    int64_t rows = 0;
  };
  struct StateAcc {
    at::Tensor absmax, sum_abs;
    int64_t count = 0;
  };
  PointAcc& point(int64_t layer, Module m, int64_t channels);
  void observe(int64_t layer, Module m, const at::Tensor& value2d, int64_t ld);
  // h: [B·T, d] -> the block's output [B·T, d]
  at::Tensor mamba1_layer(int64_t i, const at::Tensor& h);
  at::Tensor mamba2_layer(int64_t i, const at::Tensor& h);

  const MambaModel& model_;
  bool covariance_;
  std::vector<at::Tensor> conv_w_, conv_b_;  // fp32 copies per layer (the kernel's operands)
  std::map<std::string, PointAcc> points_;
  std::map<std::string, StateAcc> states_;
  int64_t batch_ = 1;  // of the batch being run (the layers see [B·T, ·] rows)
};

}  // namespace ms
