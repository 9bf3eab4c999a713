// Observers see activations at quant points during a forward, ggml-imatrix style: the engine asks
// `wants(point)` once per point and layer, and only then prepares and passes the tensor to
// `collect`. With no observer, or one that wants nothing, a forward does no extra work.
#pragma once

#include <ATen/core/Tensor.h>

#include "core/model/quant_point.h"

namespace ms {

class Observer {
 public:
  virtual ~Observer() = default;
  virtual bool wants(const QuantPoint& point) const = 0;
  // `value` shapes (fp32 or the compute dtype, on the model's device; valid during the call only):
  //   *.input      [B, T, C] with C the Linear's input width
  //   ssm.state    Mamba-1 [B, T, E, N]; Mamba-2 [B, T, H, P, N]: the state after each token
  // The state is materialised only for layers whose point is wanted (the fused statistics kernels
  // of the calibration engine avoid that; see kernels/).
  virtual void collect(const QuantPoint& point, const at::Tensor& value) = 0;
};

}  // namespace ms
