// CPU reference of kernels/channel_stats.cu: one pass over the rows, fp64 sums.
#include <algorithm>
#include <cmath>
#include <vector>

#include "kernels/calib_kernels.h"
#include "kernels/hist_bins.h"
#include "kernels/ref_util.h"

namespace ms::kernels {

const double* hist_edges() {
  static const std::vector<double> edges = [] {
    std::vector<double> e{0.0};
    for (int i = 0; i < kHistBins; ++i) e.push_back(std::pow(10.0, -8.0 + i / 16.0));
    return e;
  }();
  return edges.data();
}

const float* hist_thresholds() {
  static const std::vector<float> thr = [] {
    std::vector<float> t;
    for (int i = 0; i <= kHistBins; ++i) {
      const double e = hist_edges()[i];
      float f = static_cast<float>(e);
      if (static_cast<double>(f) < e) f = std::nextafter(f, INFINITY);
      t.push_back(f);
    }
    return t;
  }();
  return thr.data();
}

void channel_stats_ref(const void* x, DataType dtype, int64_t rows, int64_t C, int64_t ld,
                       const ChannelStats& out) {
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < C; ++c) {
      ref::add_stat(out, c, ref::load(x, dtype, r * ld + c));
    }
}

}  // namespace ms::kernels
