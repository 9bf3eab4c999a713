// CPU reference of kernels/scan_m2.cu: the recurrence token by token, statistics in fp64.
#include <algorithm>
#include <cmath>
#include <vector>

#include "kernels/calib_kernels.h"
#include "kernels/ref_util.h"

namespace ms::kernels {

void scan_m2_ref(const ScanM2Args& a) {
  const int64_t H = a.H, P = a.P, N = a.N, heads_per_group = a.H / a.G;
  std::vector<float> s(static_cast<size_t>(P * N));
  for (int64_t b = 0; b < a.batch; ++b)
    for (int64_t h = 0; h < H; ++h) {
      std::fill(s.begin(), s.end(), 0.0f);
      const int64_t g = h / heads_per_group;
      for (int64_t t = 0; t < a.seqlen; ++t) {
        const int64_t row = b * a.seqlen + t;
        float dt = ref::softplus(ref::load(a.dt_raw, a.dtype, row * a.lddt + h) + a.dt_bias[h]);
        dt = std::min(std::max(dt, a.dt_min), a.dt_max);
        const float decay = std::exp(dt * a.A[h]);
        for (int64_t p = 0; p < P; ++p) {
          const float x = ref::load(a.x, a.dtype, row * a.ldx + h * P + p);
          const float dtx = dt * x;
          float y = 0.0f;
          for (int64_t n = 0; n < N; ++n) {
            float& st = s[size_t(p * N + n)];
            st = decay * st + dtx * ref::load(a.Bm, a.dtype, row * a.ldbc + g * N + n);
            y += ref::load(a.Cm, a.dtype, row * a.ldbc + g * N + n) * st;
            const int64_t k = (h * P + p) * N + n;
            a.state_absmax[k] = std::max(a.state_absmax[k], std::fabs(st));
            a.state_sum_abs[k] += std::fabs(st);
          }
          a.y[row * H * P + h * P + p] = y + a.D[h] * x;
        }
      }
    }
}

}  // namespace ms::kernels
