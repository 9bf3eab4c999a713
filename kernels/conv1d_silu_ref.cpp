// CPU reference of kernels/conv1d_silu.cu.
#include "kernels/calib_kernels.h"
#include "kernels/ref_util.h"

namespace ms::kernels {

void conv1d_silu_ref(const ConvArgs& a) {
  const int64_t K = a.width;
  for (int64_t b = 0; b < a.batch; ++b)
    for (int64_t t = 0; t < a.seqlen; ++t)
      for (int64_t c = 0; c < a.channels; ++c) {
        float acc = a.bias ? a.bias[c] : 0.0f;
        // Tap k sees token t - (K-1) + k; taps before the sequence read the zero state.
        for (int64_t k = 0; k < K; ++k) {
          const int64_t src = t - (K - 1) + k;
          if (src < 0) continue;
          acc += a.weight[c * K + k] * ref::load(a.x, a.dtype, (b * a.seqlen + src) * a.ldx + c);
        }
        const float conv = ref::round_to(a.dtype, acc);
        ref::store(a.y, a.dtype, (b * a.seqlen + t) * a.channels + c, ref::silu(conv));
      }
}

}  // namespace ms::kernels
