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
// PointFakeQuant is the concrete one: one activation spec and one state spec (core/quant/), on a
// chosen set of points (all, one layer, one point: what `eval` and `sweep` need), static
// activation scales from calibration statistics.
#pragma once

#include <map>
#include <set>
#include <string>

#include <ATen/core/Tensor.h>

#include "core/model/quant_point.h"
#include "core/quant/act_quant.h"
#include "core/quant/dsq.h"

namespace ms {

class CalibStats;

class FakeQuant {
 public:
  virtual ~FakeQuant() = default;
  virtual bool quantizes(const QuantPoint& point) const = 0;
  // x [B, T, C] in the compute dtype -> the same shape and dtype.
  virtual at::Tensor quantize_activation(const QuantPoint& point, const at::Tensor& x) const = 0;
  // state fp32 [B, E, N] (Mamba-1) or [B, H, P, N] (Mamba-2), one token's -> the same.
  virtual at::Tensor quantize_state(const QuantPoint& point, const at::Tensor& state) const = 0;
};

class PointFakeQuant : public FakeQuant {
 public:
  // `points`: the activation (*.input) and state points to quantize; a point whose spec is not
  // enabled (bits 16) is not quantized. Static activation scales need `stats` holding every
  // chosen *.input point (throws InputError naming the first one missing).
  PointFakeQuant(ActQuantSpec act, StateQuantSpec state, std::set<QuantPoint> points,
                 const CalibStats* stats = nullptr);

  bool quantizes(const QuantPoint& point) const override;
  at::Tensor quantize_activation(const QuantPoint& point, const at::Tensor& x) const override;
  at::Tensor quantize_state(const QuantPoint& point, const at::Tensor& state) const override;

  bool empty() const;  // quantizes no point at all

 private:
  ActQuantSpec act_;
  StateQuantSpec state_;
  std::set<QuantPoint> points_;
  std::map<QuantPoint, double> static_absmax_;
};

}  // namespace ms
