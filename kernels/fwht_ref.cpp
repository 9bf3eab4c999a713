// CPU reference of the Walsh–Hadamard rotation (kernels/fwht.h): per row, the butterfly over the
// power-of-two factor in fp64, then the dense k-point mix, then the scale.
#include "kernels/fwht.h"

#include <stdexcept>
#include <vector>

namespace ms::kernels {

void fwht_ref(const FwhtArgs& a) {
  if (a.k < 1 || a.n % a.k != 0) throw std::runtime_error("fwht_ref: n must be a multiple of k");
  const int64_t p = a.n / a.k;
  if ((p & (p - 1)) != 0) throw std::runtime_error("fwht_ref: n / k must be a power of two");
  if (a.k > 1 && !a.hk) throw std::runtime_error("fwht_ref: k > 1 needs the base matrix");
  std::vector<double> s(static_cast<size_t>(a.n));
  for (int64_t r = 0; r < a.rows; ++r) {
    const float* x = a.x + r * a.n;
    for (int64_t i = 0; i < a.n; ++i) s[size_t(i)] = x[i];
    for (int64_t seg = 0; seg < a.k; ++seg)  // butterfly inside each block of p
      for (int64_t h = 1; h < p; h *= 2)
        for (int64_t i = 0; i < p; i += 2 * h)
          for (int64_t j = i; j < i + h; ++j) {
            double& u = s[size_t(seg * p + j)];
            double& v = s[size_t(seg * p + j + h)];
            const double t = u;
            u = t + v;
            v = t - v;
          }
    float* y = a.y + r * a.n;
    for (int64_t c = 0; c < a.k; ++c)
      for (int64_t d = 0; d < p; ++d) {
        double acc = 0;
        if (a.k == 1) acc = s[size_t(d)];
        else
          for (int64_t q = 0; q < a.k; ++q) acc += double(a.hk[q * a.k + c]) * s[size_t(q * p + d)];
        y[c * p + d] = float(acc * a.scale);
      }
  }
}

}  // namespace ms::kernels
