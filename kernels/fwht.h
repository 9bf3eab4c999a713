// The Walsh–Hadamard rotation of core/quant/hadamard.h on raw pointers, for a GPU runtime that
// applies online Hadamard rotations (smooth-fused's out_proj input, METHODS.md section 3):
//   y[r] = scale · x[r] · (H_k ⊗ H_p),   n = k·p, p = 2^m, k in {1, 12, 20, 28, 40},
// index i = a·p + b, H_p Sylvester in natural order, H_k the dense ±1 base (row-major k×k, as
// hadamard_base(k) builds it; null when k = 1). With scale = 1/√n it is orthonormal.
// fwht_cuda has fwht_ref's signature (STYLE.md rule 9): one block per row, the row in shared
// memory (n ≤ 12288 floats), log2(p) butterfly stages, then the k-point mix while storing.
// Checked against fwht_ref by tests/gpu/kernel_parity.cpp (on the GPU host).
#pragma once

#include <cstdint>

namespace ms::kernels {

struct FwhtArgs {
  int64_t rows = 0, n = 0, k = 1;  // n = k · 2^m
  const float* x = nullptr;        // [rows, n] contiguous
  float* y = nullptr;              // [rows, n] contiguous; may equal x (in place)
  const float* hk = nullptr;       // [k, k] ±1, or null when k == 1
  float scale = 1.0f;
};

// Plain loops, fp64 accumulation (the reference).
void fwht_ref(const FwhtArgs& a);
// `stream`: a cudaStream_t (null: the legacy default stream). Throws std::runtime_error on a
// size it cannot take or a CUDA error.
void fwht_cuda(const FwhtArgs& a, void* stream);

}  // namespace ms::kernels
