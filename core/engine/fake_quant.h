// The fake-quant hook of a forward, next to the Observer (observer.h): the engine asks
// `quantizes(point)` once per point and layer, and only then hands over the tensor.
//   *.input    the engine replaces the tensor the Linear consumes with quantize_activation(x);
//              an Observer of the same forward sees the replaced (quantized) value.
//   ssm.state  the scan runs its quantized form (scan_ref.h, selective_scan_*_quant): y_t uses the
//              unquantized h_t, and the state the next step reads (and the RecurrentState left
//              behind) is quantize_state(h_t) (Q-Mamba Eq. 10). An Observer of ssm.state then
//              sees the quantized states.
// With no FakeQuant, or one that quantizes nothing, a forward runs exactly the float path.
//
// Run-time transforms (smooth-fused, METHODS.md section 3) ride on the same hook: `gate` computes
// Mamba-1's gate of out_proj's input (y · gate(z); SiLU unless a layer's gate is smoothed, then
// S-SiLU(z, s) = z·σ(s·z)), and an online rotation of a Linear input happens in
// quantize_activation, before the rounding (so the rounding sees the rotated values, as a runtime
// would). They apply at every layer they name, whatever points are quantized.
//
// PointFakeQuant is the concrete one: one activation spec and one state spec (core/quant/), on a
// chosen set of points (all, one layer, one point: what `eval` and `sweep` need), static
// activation scales from calibration statistics, and optionally smooth-fused's run-time parts.
#pragma once

#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <ATen/core/Tensor.h>

#include "core/model/quant_point.h"
#include "core/quant/act_quant.h"
#include "core/quant/dsq.h"
#include "core/quant/smooth_fused.h"

namespace ms {

class CalibStats;

// Static activation scales as plain data: each *.input point's absmax (over tokens and channels;
// act_quant.h turns it into the scale), and whether it was measured after the run-time transforms,
// on the transformed model (core/cli/static_scales.h). Only such scales may meet an online
// rotation: an absmax of the unrotated values says nothing about the rotated ones.
struct StaticActAbsmax {
  std::map<std::string, double> absmax;  // key: quant point text
  bool after_runtime_transforms = false;
  // Per point, the largest channel absmax of the statistics (measured before any transform).
  static StaticActAbsmax of(const CalibStats& stats);
};

class FakeQuant {
 public:
  virtual ~FakeQuant() = default;
  virtual bool quantizes(const QuantPoint& point) const = 0;
  // x [B, T, C] in the compute dtype -> the same shape and dtype.
  virtual at::Tensor quantize_activation(const QuantPoint& point, const at::Tensor& x) const = 0;
  // state fp32 [B, E, N] (Mamba-1) or [B, H, P, N] (Mamba-2), one token's -> the same.
  virtual at::Tensor quantize_state(const QuantPoint& point, const at::Tensor& state) const = 0;
  // The quantizer of an ssm.state point as plain data, when quantize_state is exactly
  // state_fake_quant with it (the CUDA scan then runs it inside the kernel: scan_kernel.h);
  // nullopt (the default) keeps the per-token quantize_state calls.
  virtual std::optional<StateQuantSpec> state_spec(const QuantPoint& point) const;
  // z [B, T, E] in the compute dtype -> the gate SiLU(z) (the default), same shape and dtype.
  virtual at::Tensor gate(int layer, const at::Tensor& z) const;
};

class PointFakeQuant : public FakeQuant {
 public:
  // `points`: the activation (*.input) and state points to quantize; a point whose spec is not
  // enabled (bits 16) is not quantized. Static activation scales need `stats` holding every
  // chosen *.input point (throws InputError naming the first one missing).
  PointFakeQuant(ActQuantSpec act, StateQuantSpec state, std::set<QuantPoint> points,
                 const CalibStats* stats = nullptr);
  // The same with the scales given directly (InputError names the first chosen point missing).
  PointFakeQuant(ActQuantSpec act, StateQuantSpec state, std::set<QuantPoint> points,
                 const StaticActAbsmax& scales);

  bool quantizes(const QuantPoint& point) const override;
  at::Tensor quantize_activation(const QuantPoint& point, const at::Tensor& x) const override;
  at::Tensor quantize_state(const QuantPoint& point, const at::Tensor& state) const override;
  std::optional<StateQuantSpec> state_spec(const QuantPoint& point) const override;
  at::Tensor gate(int layer, const at::Tensor& z) const override;

  // smooth-fused's run-time parts (PipelineResult::runtime): "s_silu" at `layers.i.out_proj.input`
  // (param s [E]) and "online_hadamard" at a Linear input (y -> y H/√n). UsageError on another kind
  // or point, and on any run-time part when static scales were not measured after them.
  void set_runtime_transforms(const std::vector<RuntimeTransform>& runtime);

  bool empty() const;  // quantizes no point at all (run-time transforms aside)

 private:
  ActQuantSpec act_;
  StateQuantSpec state_;
  std::set<QuantPoint> points_;
  std::map<QuantPoint, double> static_absmax_;
  bool static_after_runtime_ = false;  // static_absmax_ is of the rotated values
  std::map<int, at::Tensor> gate_scales_;  // layer -> S-SiLU's s [E] fp32, CPU
  std::set<QuantPoint> rotated_;           // inputs rotated online
};

}  // namespace ms
