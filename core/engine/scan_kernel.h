// The engine's door to kernels/scan_quant (issues 4-6: the live error preview's scans on a GPU):
// a selective scan, float or with its state quantized inside the recurrence, run by our CUDA
// kernel when the tensors are fp32 on a CUDA device and the kernel takes the shape and quantizer;
// otherwise these return an undefined tensor and the caller runs scan_ref.h's ATen path. The
// arguments and results are exactly scan_ref.h's (selective_scan_mamba{1,2}[_quant]).
//
// MAMBASCOPE_SCAN_KERNEL=0 in the environment turns the kernel off (to compare both paths on a
// GPU). Not here: the CPU path, which stays scan_ref.cpp's loops.
#pragma once

#include <ATen/core/Tensor.h>

#include "core/quant/dsq.h"
#include "kernels/scan_quant.h"

namespace ms {

// The quantizer as the kernels take it (bits 16 for a spec that quantizes nothing).
kernels::StateQuantPod state_quant_pod(const StateQuantSpec& spec);

// False when the build has no kernels or MAMBASCOPE_SCAN_KERNEL=0.
bool scan_kernel_enabled();

// Shapes as scan_ref.h. `spec` bits 16 is the float scan.
at::Tensor scan_kernel_mamba1(const at::Tensor& x, const at::Tensor& dt, const at::Tensor& A,
                              const at::Tensor& Bm, const at::Tensor& Cm, const at::Tensor& D,
                              at::Tensor& state, at::Tensor* states, const StateQuantSpec& spec);
at::Tensor scan_kernel_mamba2(const at::Tensor& x, const at::Tensor& dt, const at::Tensor& A,
                              const at::Tensor& Bm, const at::Tensor& Cm, const at::Tensor& D,
                              at::Tensor& state, at::Tensor* states, const StateQuantSpec& spec);

}  // namespace ms
