// The calibration forward on CUDA with our kernels (kernels/calib_kernels.h). It computes the same
// statistics as MambaModel::forward with a CalibObserver, from the same arithmetic (the Linears
// and norms are the same ATen calls), but:
//   - conv1d + SiLU and the selective scan are our kernels; the scan advances every state in
//     registers and folds max |s| and Σ|s| in as it goes, so the [B, T, E, N] / [B, T, H, P, N]
//     states never exist in memory;
//   - statistics accumulate on the GPU across batches (one copy to the host at the end);
//   - there is no LM head: calibration needs none of the logits.
// Where the weights come from is the only thing that varies: resident (the model on the GPU) or
// streamed (the model on the host, each layer copied in just before it runs: layer_streamer.h).
// Both feed the same per-layer functions, so both compute the same statistics.
// The reference path (the observer) stays the definition; tests/gpu/ compares the two.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include <ATen/core/Tensor.h>

#include "core/engine/calib_stats.h"
#include "core/engine/layer_streamer.h"
#include "core/engine/mamba_model.h"

namespace ms {

class FusedCalibrator {
 public:
  // Whether the fused path can run this model (CUDA device, kernels built, shapes in range).
  static bool supported(const MambaModel& model, std::string* why_not = nullptr);
  // The same for a model whose layers stream to `device` (the model itself on the host).
  static bool supported_on(const MambaModel& model, c10::Device device, std::string* why_not = nullptr);

  // Resident: every weight already on the model's GPU.
  FusedCalibrator(const MambaModel& model, bool covariance);
  // Streaming: `model` on the host, `layers` its pinned blocks; runs on `device`.
  FusedCalibrator(const MambaModel& model, bool covariance, c10::Device device,
                  std::shared_ptr<const PinnedLayers> layers);
  ~FusedCalibrator();
  FusedCalibrator(const FusedCalibrator&) = delete;
  FusedCalibrator& operator=(const FusedCalibrator&) = delete;

  // One batch of equal-length sequences, ids [B, T], from a zero state.
  void run(const at::Tensor& ids);
  // Adds the statistics accumulated so far to `stats` (a copy to the host) and resets; the
  // token count is the caller's (calibrate() counts what it feeds).
  void finish(CalibStats& stats);

  // For merging several GPUs' accumulators (nccl_merge.h): every device tensor with how it
  // combines, in one order that is the same on every calibrator of the same model.
  enum class Combine { Sum, Max, Min };
  struct Accumulator {
    std::string name;  // `layers.3.x_proj.input.sum`
    at::Tensor* tensor;
    Combine combine;
  };
  std::vector<Accumulator> accumulators();
  // After `other`'s device accumulators were reduced into this one's: take its row counts too,
  // and drop its accumulators.
  void absorb_counts(FusedCalibrator& other);
  int64_t batches_run() const { return batches_run_; }
  c10::Device device() const { return device_; }
  const LayerStreamer* streamer() const { return streamer_.get(); }

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
  // The one place weights come from: the model's (resident) or the streamer's (streaming).
  const LayerOperands& operands(int64_t i);
  // h: [B·T, d] -> the block's output [B·T, d]. The same functions for both placements.
  at::Tensor mamba1_layer(int64_t i, const LayerOperands& w, const at::Tensor& h);
  at::Tensor mamba2_layer(int64_t i, const LayerOperands& w, const at::Tensor& h);

  const MambaModel& model_;
  bool covariance_;
  c10::Device device_;
  std::vector<LayerOperands> resident_;      // per layer: the model's weights + fp32 conv copies
  std::unique_ptr<LayerStreamer> streamer_;  // streaming only
  int64_t batches_run_ = 0;
  std::map<std::string, PointAcc> points_;
  std::map<std::string, StateAcc> states_;
  int64_t batch_ = 1;  // of the batch being run (the layers see [B·T, ·] rows)
};

}  // namespace ms
