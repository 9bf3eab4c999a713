// One layer's SSM state token by token, float and with the state quantized inside the recurrence,
// for the state heatmap's sequence mode (`mambascope-cli states`). Two forwards of one sequence from
// a zero state: the float model, and the same model with only `layers.{layer}.ssm.state`
// quantized (PointFakeQuant, as eval quantizes it), so every layer before it sees the same
// inputs in both runs. The quantizer's scales are those of each token's h_t in the quantized run,
// the very matrix it quantizes (core/quant/dsq.h, state_scales).
#pragma once

#include <cstdint>

#include <ATen/core/Tensor.h>

#include "core/quant/dsq.h"

namespace ms {

class MambaModel;

// Shapes with R = E (Mamba-1) or H·P (Mamba-2, heads outer), G = 1 (Mamba-1) or H (Mamba-2: DSQ
// scales each head's [P, N] matrix on its own). All fp32 on the CPU, contiguous.
struct StateSequence {
  at::Tensor float_states;    // [T, R, N]: h_t of the float run
  at::Tensor quant_states;    // [T, R, N]: Q(h_t) of the quantized run (= float_states at H16)
  at::Tensor channel_scales;  // [T, R]: S_ch of the quantized run's h_t
  at::Tensor state_scales;    // [T, G, N]: S_st of the quantized run's h_t
  int64_t heads = 1;          // G
};

// ids [1, T] int64. Throws UsageError when `layer` is out of range or ids is not one sequence.
StateSequence state_sequence(const MambaModel& model, const at::Tensor& ids, int64_t layer,
                             const StateQuantSpec& spec);

}  // namespace ms
