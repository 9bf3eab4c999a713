// CPU reference of kernels/residual_rmsnorm.cu: row by row, the roundings of mamba_model.cpp.
#include <algorithm>
#include <cmath>
#include <vector>

#include "kernels/calib_kernels.h"
#include "kernels/ref_util.h"

namespace ms::kernels {

void residual_rmsnorm_ref(const NormArgs& a) {
  std::vector<float> xf(static_cast<size_t>(a.d));
  for (int64_t r = 0; r < a.rows; ++r) {
    float ss = 0.0f;
    for (int64_t c = 0; c < a.d; ++c) {
      const int64_t i = r * a.d + c;
      float v = ref::load(a.r, a.residual, i);
      if (a.out) {
        v = ref::round_to(a.residual, v + ref::load(a.out, a.dtype, i));
        ref::store(a.r, a.residual, i, v);
      }
      xf[size_t(c)] = ref::round_to(a.dtype, v);
      ss += xf[size_t(c)] * xf[size_t(c)];
    }
    const float scale = 1.0f / std::sqrt(ss / float(a.d) + float(a.eps));
    for (int64_t c = 0; c < a.d; ++c) {
      const float normed = ref::round_to(a.dtype, xf[size_t(c)] * scale);
      const float h = ref::round_to(a.dtype, ref::load(a.weight, a.dtype, c) * normed);
      ref::store(a.h, a.dtype, r * a.d + c, h);
      ref::add_stat(a.h_stats, c, h);
    }
  }
}

}  // namespace ms::kernels
