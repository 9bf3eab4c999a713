// CPU reference of kernels/scan_m1.cu: the recurrence token by token, statistics in fp64.
#include <algorithm>
#include <cmath>
#include <vector>

#include "kernels/calib_kernels.h"
#include "kernels/ref_util.h"

namespace ms::kernels {

void scan_m1_ref(const ScanM1Args& a) {
  const int64_t E = a.E, N = a.N;
  std::vector<float> s(static_cast<size_t>(N));
  std::vector<double> y_batch(static_cast<size_t>(a.seqlen));
  for (int64_t b = 0; b < a.batch; ++b)
    for (int64_t e = 0; e < E; ++e) {
      std::fill(s.begin(), s.end(), 0.0f);
      for (int64_t t = 0; t < a.seqlen; ++t) {
        const int64_t row = b * a.seqlen + t;
        const float x = ref::load(a.x, a.dtype, row * a.ldx + e);
        const float dt = ref::softplus(ref::load(a.dt_raw, a.dtype, row * a.lddt + e) + a.dt_bias[e]);
        float y = 0.0f;
        for (int64_t n = 0; n < N; ++n) {
          const float decay = std::exp(dt * a.A[e * N + n]);
          const float bx = dt * ref::load(a.Bm, a.dtype, row * a.ldbc + n) * x;
          s[size_t(n)] = decay * s[size_t(n)] + bx;
          y += ref::load(a.Cm, a.dtype, row * a.ldbc + n) * s[size_t(n)];
          const float m = std::fabs(s[size_t(n)]);
          a.state_absmax[e * N + n] = std::max(a.state_absmax[e * N + n], m);
          a.state_sum_abs[e * N + n] += m;
        }
        const float gate = ref::round_to(a.dtype, ref::silu(ref::load(a.z, a.dtype, row * a.ldz + e)));
        const float g = (y + a.D[e] * x) * gate;
        ref::store(a.y, a.dtype, row * E + e, g);
        ref::add_stat(a.y_stats, e, g);
      }
    }
}

}  // namespace ms::kernels
