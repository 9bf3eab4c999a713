// Hadamard matrices and the Walsh–Hadamard rotation (METHODS.md section 3, "Hadamard rotation").
//
// Sizes: n = k · 2^m with k in {1, 12, 20, 28, 40}; H_n = H_k ⊗ H_(2^m) (Kronecker product, H_k
// the outer factor). That covers every size of the released models: d_model 768 = 12·64,
// 1024, 1536 = 12·128, 2048, 2560 = 40·64, 5120 = 40·128; d_inner twice those; dt ranks
// 48 = 12·4, 64, 96 = 12·8, 128, 160 = 40·4; N = 16 and 128. Any other size is refused with a
// UsageError that says which sizes exist.
//   H_(2^m): Sylvester, H_2m = [[H, H], [H, -H]] (natural order, symmetric).
//   H_12, H_20: Paley I from GF(11), GF(19) (q ≡ 3 mod 4): I + [[0, 1ᵀ], [-1, Q]], Q the
//               Jacobsthal matrix Q_ij = χ(j - i) with χ the quadratic character.
//   H_28:       Paley II from GF(13) (q ≡ 1 mod 4): C ⊗ [[1, -1], [-1, -1]] + I ⊗ [[1, 1], [1, -1]]
//               with C = [[0, 1ᵀ], [1, Q]] the symmetric conference matrix.
//   H_40:       H_2 ⊗ H_20 (Sylvester doubling; 39 is no prime power, and 19 ≡ 3 mod 4 rules out
//               Paley II).
// When several k fit (2560 = 20·128 = 40·64) the largest k is used, as QuaRot's tables do for
// 40·64; any choice is orthogonal, so this only fixes which rotation a size gets.
//
// The rotation is the orthonormal H_n / sqrt(n) applied along the last axis of x: y = x H / √n.
// hadamard_rotate is the fast path (an in-place-style butterfly over the 2^m factor, then a dense
// k × k product), hadamard_rotate_ref the dense fp64 product it is tested against. The GPU kernel
// (kernels/fwht.cu) has fwht's signature.
//
// Not here: which tensors get rotated (core/quant/rotation.h), online rotation at run time.
#pragma once

#include <cstdint>

#include <ATen/core/Tensor.h>

namespace ms {

struct HadamardSize {
  int64_t k = 1;     // dense factor: 1, 12, 20, 28 or 40
  int64_t pow2 = 1;  // 2^m
};
// nullopt-free: throws UsageError for sizes that are not k · 2^m.
HadamardSize hadamard_size(int64_t n);
bool hadamard_supported(int64_t n);

// ±1 entries, fp64 [n, n], H Hᵀ = n I.
at::Tensor hadamard_matrix(int64_t n);
// The dense factors alone (k in 1, 2, 12, 20, 28, 40; fp64 [k, k]); UsageError for other k.
at::Tensor hadamard_base(int64_t k);

// Unnormalised Walsh–Hadamard transform along the last axis (size a power of two): x H_(2^m).
// Float dtypes; computed in x's dtype (fp32 for fp16/bf16, cast back).
at::Tensor fwht(const at::Tensor& x);
// Plain-loop reference of fwht in fp64 on the CPU (returns fp64).
at::Tensor fwht_ref(const at::Tensor& x);

// x [..., n] -> x H_n / √n, in x's dtype (fp16/bf16 computed in fp32). Orthonormal: applying it to
// the rows of both operands of a product X Wᵀ leaves the product unchanged.
at::Tensor hadamard_rotate(const at::Tensor& x);
// The dense reference: x (as fp64, CPU) @ hadamard_matrix(n) / √n, returned fp64.
at::Tensor hadamard_rotate_ref(const at::Tensor& x);

}  // namespace ms
