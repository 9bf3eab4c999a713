// Hadamard constructions and the fast rotation. See hadamard.h.
#include "core/quant/hadamard.h"

#include <cmath>
#include <string>
#include <vector>

#include <ATen/ATen.h>

#include "core/util/error.h"

namespace ms {
namespace {

bool is_pow2(int64_t v) { return v > 0 && (v & (v - 1)) == 0; }

// Quadratic character of GF(q), q an odd prime: 0 for 0, +1 for squares, -1 otherwise.
int chi(int64_t a, int64_t q) {
  a = ((a % q) + q) % q;
  if (a == 0) return 0;
  int64_t r = 1, b = a, e = (q - 1) / 2;  // Euler's criterion: a^((q-1)/2) mod q
  while (e > 0) {
    if (e & 1) r = r * b % q;
    b = b * b % q;
    e >>= 1;
  }
  return r == 1 ? 1 : -1;
}

// Jacobsthal matrix Q_ij = χ(j - i), fp64 [q, q].
at::Tensor jacobsthal(int64_t q) {
  at::Tensor Q = at::empty({q, q}, at::kDouble);
  auto a = Q.accessor<double, 2>();
  for (int64_t i = 0; i < q; ++i)
    for (int64_t j = 0; j < q; ++j) a[i][j] = chi(j - i, q);
  return Q;
}

// Paley I, q ≡ 3 (mod 4): Q is skew, S = [[0, 1ᵀ], [-1, Q]] is a skew conference matrix
// (S Sᵀ = q I), and H = I + S gives H Hᵀ = I - S² = (q + 1) I.
at::Tensor paley1(int64_t q) {
  at::Tensor S = at::zeros({q + 1, q + 1}, at::kDouble);
  S.index_put_({0, at::indexing::Slice(1)}, 1.0);
  S.index_put_({at::indexing::Slice(1), 0}, -1.0);
  S.index_put_({at::indexing::Slice(1), at::indexing::Slice(1)}, jacobsthal(q));
  return at::eye(q + 1, at::kDouble) + S;
}

// Paley II, q ≡ 1 (mod 4): Q is symmetric, C = [[0, 1ᵀ], [1, Q]] a symmetric conference matrix;
// replacing each 0 of C by [[1, -1], [-1, -1]] and each ±1 by ±[[1, 1], [1, -1]] gives 2(q + 1).
at::Tensor paley2(int64_t q) {
  at::Tensor C = at::zeros({q + 1, q + 1}, at::kDouble);
  C.index_put_({0, at::indexing::Slice(1)}, 1.0);
  C.index_put_({at::indexing::Slice(1), 0}, 1.0);
  C.index_put_({at::indexing::Slice(1), at::indexing::Slice(1)}, jacobsthal(q));
  at::Tensor zero_block = at::tensor({1.0, -1.0, -1.0, -1.0}, at::kDouble).view({2, 2});
  at::Tensor pm_block = at::tensor({1.0, 1.0, 1.0, -1.0}, at::kDouble).view({2, 2});
  return at::kron(C, pm_block) + at::kron(at::eye(q + 1, at::kDouble), zero_block);
}

at::Tensor sylvester(int64_t n) {
  at::Tensor H = at::ones({1, 1}, at::kDouble);
  at::Tensor h2 = at::tensor({1.0, 1.0, 1.0, -1.0}, at::kDouble).view({2, 2});
  while (H.size(0) < n) H = at::kron(h2, H);
  return H;
}

const char* kSizes = "k·2^m with k in 1, 12, 20, 28, 40";

}  // namespace

HadamardSize hadamard_size(int64_t n) {
  if (is_pow2(n)) return {1, n};
  for (int64_t k : {40, 28, 20, 12})
    if (n % k == 0 && is_pow2(n / k)) return {k, n / k};
  throw UsageError("no Hadamard matrix of size " + std::to_string(n) + " here (sizes are " +
                   kSizes + ")");
}

bool hadamard_supported(int64_t n) {
  if (is_pow2(n)) return true;
  for (int64_t k : {40, 28, 20, 12})
    if (n % k == 0 && is_pow2(n / k)) return true;
  return false;
}

at::Tensor hadamard_base(int64_t k) {
  switch (k) {
    case 1: return at::ones({1, 1}, at::kDouble);
    case 2: return sylvester(2);
    case 12: return paley1(11);
    case 20: return paley1(19);
    case 28: return paley2(13);
    case 40: return at::kron(sylvester(2), paley1(19));
    default:
      throw UsageError("no Hadamard base of size " + std::to_string(k) + " (1, 2, 12, 20, 28, 40)");
  }
}

at::Tensor hadamard_matrix(int64_t n) {
  const HadamardSize s = hadamard_size(n);
  return at::kron(hadamard_base(s.k), sylvester(s.pow2));
}

at::Tensor fwht(const at::Tensor& x) {
  const int64_t n = x.dim() ? x.size(-1) : 0;
  if (!is_pow2(n))
    throw UsageError("fwht: the last axis must be a power of two, got " + std::to_string(n));
  const bool narrow = x.scalar_type() == at::kHalf || x.scalar_type() == at::kBFloat16;
  at::Tensor y = (narrow ? x.to(at::kFloat) : x).reshape({-1, n});
  const int64_t rows = y.size(0);
  // Butterfly stage h pairs element i with i + h inside blocks of 2h: (a, b) -> (a + b, a - b).
  // Each stage is one out-of-place pass; log2(n) passes in all.
  for (int64_t h = 1; h < n; h *= 2) {
    at::Tensor v = y.view({rows, n / (2 * h), 2, h});
    at::Tensor a = v.select(2, 0), b = v.select(2, 1);
    y = at::stack({a + b, a - b}, 2).view({rows, n});
  }
  y = y.view(x.sizes());
  return narrow ? y.to(x.scalar_type()) : y;
}

at::Tensor fwht_ref(const at::Tensor& x) {
  const int64_t n = x.dim() ? x.size(-1) : 0;
  if (!is_pow2(n))
    throw UsageError("fwht_ref: the last axis must be a power of two, got " + std::to_string(n));
  at::Tensor y = x.to(at::kCPU, at::kDouble).reshape({-1, n}).clone();
  const int64_t rows = y.size(0);
  auto a = y.accessor<double, 2>();
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t h = 1; h < n; h *= 2)
      for (int64_t i = 0; i < n; i += 2 * h)
        for (int64_t j = i; j < i + h; ++j) {
          const double u = a[r][j], v = a[r][j + h];
          a[r][j] = u + v;
          a[r][j + h] = u - v;
        }
  return y.view(x.sizes());
}

at::Tensor hadamard_rotate(const at::Tensor& x) {
  const int64_t n = x.dim() ? x.size(-1) : 0;
  const HadamardSize s = hadamard_size(n);
  const bool narrow = x.scalar_type() == at::kHalf || x.scalar_type() == at::kBFloat16;
  at::Tensor xf = narrow ? x.to(at::kFloat) : x;
  // Index i = a·2^m + b: (x (H_k ⊗ H_p))_(c,d) = Σ_a H_k[a, c] (x_a H_p)_d, so a butterfly over b,
  // then H_kᵀ on the a axis.
  at::Tensor y = fwht(xf.reshape({-1, s.k, s.pow2}));  // [rows, k, p]
  if (s.k > 1) {
    at::Tensor hk = hadamard_base(s.k).to(y.options());
    y = at::matmul(hk.t(), y);
  }
  y = (y * (1.0 / std::sqrt(double(n)))).reshape(x.sizes());
  return narrow ? y.to(x.scalar_type()) : y;
}

at::Tensor hadamard_rotate_ref(const at::Tensor& x) {
  const int64_t n = x.dim() ? x.size(-1) : 0;
  at::Tensor H = hadamard_matrix(n);
  return at::matmul(x.to(at::kCPU, at::kDouble), H) / std::sqrt(double(n));
}

}  // namespace ms
