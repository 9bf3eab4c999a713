// The selective scan, sequential in time: the reference that every faster scan (the chunked SSD
// form, our CUDA kernels) is checked against. It is sequential on purpose: the recurrence
//   s_t = exp(dt_t * A) * s_{t-1} + dt_t * B_t * x_t,    y_t = C_t . s_t + D * x_t
// is exactly what the papers define and what state quantization (DSQ) hooks into per step.
// All inputs fp32 and contiguous; the state is updated in place. Symbols: core/model/glossary.h.
#pragma once

#include <functional>

#include <ATen/core/Tensor.h>

namespace ms {

// Mamba-1. x, dt: [B, T, E] (dt after bias and softplus); A: [E, N]; Bm, Cm: [B, T, N]; D: [E];
// state: [B, E, N] (in/out). Returns y [B, T, E]. When `states` is non-null it receives every
// token's state, [B, T, E, N].
at::Tensor selective_scan_mamba1(const at::Tensor& x, const at::Tensor& dt, const at::Tensor& A,
                                 const at::Tensor& Bm, const at::Tensor& Cm, const at::Tensor& D,
                                 at::Tensor& state, at::Tensor* states);

// Mamba-2 (scalar A per head; G groups share B and C). x: [B, T, H, P]; dt: [B, T, H];
// A, D: [H]; Bm, Cm: [B, T, G, N]; state: [B, H, P, N] (in/out). Returns y [B, T, H, P];
// `states` receives [B, T, H, P, N].
at::Tensor selective_scan_mamba2(const at::Tensor& x, const at::Tensor& dt, const at::Tensor& A,
                                 const at::Tensor& Bm, const at::Tensor& Cm, const at::Tensor& D,
                                 at::Tensor& state, at::Tensor* states);

// The same scans with the state quantized inside the recurrence (Q-Mamba Eq. 10, METHODS.md
// "DSQ"): per token, h_t = exp(dt_t A) * state + dt_t B_t x_t, the output y_t = C_t . h_t + D x_t
// uses h_t as computed, and the state the next token reads is quantize(h_t). `state` (in/out)
// ends as the last quantized state, which is what a quantized cache holds; `states` receives every
// token's quantized state. `quantize` maps one token's state ([B, E, N] | [B, H, P, N], fp32) to
// a tensor of the same shape. ATen ops stepped over time, on any device: slower than the loops
// above, which is why the float path never comes here.
using StateQuantizer = std::function<at::Tensor(const at::Tensor&)>;
at::Tensor selective_scan_mamba1_quant(const at::Tensor& x, const at::Tensor& dt, const at::Tensor& A,
                                       const at::Tensor& Bm, const at::Tensor& Cm, const at::Tensor& D,
                                       at::Tensor& state, at::Tensor* states,
                                       const StateQuantizer& quantize);
at::Tensor selective_scan_mamba2_quant(const at::Tensor& x, const at::Tensor& dt, const at::Tensor& A,
                                       const at::Tensor& Bm, const at::Tensor& Cm, const at::Tensor& D,
                                       at::Tensor& state, at::Tensor* states,
                                       const StateQuantizer& quantize);

}  // namespace ms
