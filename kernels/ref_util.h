// Host helpers of the CPU references: reading and rounding the two activation dtypes exactly as
// the GPU does (bf16 is the top half of an fp32; rounding is to nearest, ties to even).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>

#include "kernels/calib_kernels.h"
#include "kernels/hist_bins.h"

namespace ms::kernels::ref {

inline float bf16_to_float(uint16_t b) {
  uint32_t u = static_cast<uint32_t>(b) << 16;
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

inline uint16_t float_to_bf16(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  if (std::isnan(f)) return 0x7fc0;
  u += 0x7fffu + ((u >> 16) & 1u);
  return static_cast<uint16_t>(u >> 16);
}

inline float load(const void* p, DataType t, int64_t i) {
  return t == DataType::F32 ? static_cast<const float*>(p)[i]
                            : bf16_to_float(static_cast<const uint16_t*>(p)[i]);
}

inline void store(void* p, DataType t, int64_t i, float v) {
  if (t == DataType::F32) static_cast<float*>(p)[i] = v;
  else static_cast<uint16_t*>(p)[i] = float_to_bf16(v);
}

// The value `v` takes when stored in `t` and read back.
inline float round_to(DataType t, float v) {
  return t == DataType::F32 ? v : bf16_to_float(float_to_bf16(v));
}

inline float silu(float v) { return v / (1.0f + std::exp(-v)); }
inline float softplus(float v) { return v > 20.0f ? v : std::log1p(std::exp(v)); }

inline int hist_bin_host(float v) { return hist_bin_f(v, hist_thresholds()); }

// One value of channel c into the statistics (a no-op when none are asked for: absmax null).
inline void add_stat(const ChannelStats& o, int64_t c, float v) {
  if (!o.absmax) return;
  o.absmax[c] = std::max(o.absmax[c], std::fabs(v));
  o.min[c] = std::min(o.min[c], v);
  o.max[c] = std::max(o.max[c], v);
  o.sum[c] += v;
  o.sumsq[c] += static_cast<double>(v) * v;
  if (o.hist) ++o.hist[hist_bin_host(v)];
}

}  // namespace ms::kernels::ref
