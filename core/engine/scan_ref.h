// The selective scan, sequential in time: the reference that every faster scan (the chunked SSD
// form, our CUDA kernels) is checked against. It is sequential on purpose: the recurrence
//   s_t = exp(dt_t * A) * s_{t-1} + dt_t * B_t * x_t,    y_t = C_t . s_t + D * x_t
// is exactly what the papers define and what state quantization (DSQ) hooks into per step.
// All inputs fp32 and contiguous; the state is updated in place. Symbols: core/model/glossary.h.
#pragma once

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

}  // namespace ms
