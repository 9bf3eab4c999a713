// The |x| histogram bins of the statistics file (core/engine/calib_stats.h): bin 0 is
// [0, 1e-8), bin i >= 1 is [10^(-8 + (i-1)/16), 10^(-8 + i/16)), the last bin also takes anything
// larger (NaN too, as at::bucketize leaves it). The bin is found from log10 and then corrected
// against the fp64 edges, which every caller takes from one host-computed table (the GPU gets a
// copy), so the CUDA kernels, the CPU references and at::bucketize in the observer path agree bin
// for bin.
#pragma once

#include <cmath>

#ifdef __CUDACC__
#define MS_HD __host__ __device__ __forceinline__
#else
#define MS_HD inline
#endif

namespace ms::kernels {

constexpr int kHistBins = 1 + 14 * 16;

// The kHistBins + 1 edges: 0, then 10^(-8 + (i-1)/16) (std::pow, host). Defined in
// channel_stats_ref.cpp; core's histogram_edges() returns the same numbers.
const double* hist_edges();

// `edges`: hist_edges(), or its copy in the GPU's constant memory.
MS_HD int hist_bin(float value, const double* edges) {
  const double a = fabs(static_cast<double>(value));
  if (a != a) return kHistBins - 1;
  if (!(a >= edges[1])) return 0;
  // A float log10 guesses (cheap on the GPU); the exact fp64 comparisons below settle it.
  int k = static_cast<int>(floorf((log10f(fabsf(value)) + 8.0f) * 16.0f)) + 1;
  k = k < 1 ? 1 : (k > kHistBins - 1 ? kHistBins - 1 : k);
  while (k < kHistBins - 1 && a >= edges[k + 1]) ++k;
  while (k > 1 && a < edges[k]) --k;
  return k;
}

// The same bins for a float value, decided with float comparisons only (cheap on the GPU):
// thresholds[k] is the smallest float >= edges[k], so for a float |x|, |x| >= edges[k] exactly
// when |x| >= thresholds[k]. Defined beside hist_edges().
const float* hist_thresholds();

MS_HD int hist_bin_f(float value, const float* thr) {
  const float a = fabsf(value);
  if (a != a) return kHistBins - 1;
  if (!(a >= thr[1])) return 0;
#ifdef __CUDA_ARCH__
  const float lg = __log2f(a);  // one MUFU instruction; the comparisons below settle the bin
#else
  const float lg = log2f(a);
#endif
  int k = static_cast<int>(floorf((lg * 0.30102999566f + 8.0f) * 16.0f)) + 1;
  k = k < 1 ? 1 : (k > kHistBins - 1 ? kHistBins - 1 : k);
  while (k < kHistBins - 1 && a >= thr[k + 1]) ++k;
  while (k > 1 && a < thr[k]) --k;
  return k;
}

}  // namespace ms::kernels
