// CPU reference of kernels/scan_quant.cu: the recurrence token by token in plain loops, each
// product rounded as scan_ref's ATen ops round it, and the quantizer state_quant_matrix_ref in
// state_fake_quant's fp32 order (core/quant/dsq.cpp). Also where the kernel's size limits live,
// so that a build without CUDA answers the same question.
#include <algorithm>
#include <cmath>
#include <vector>

#include "kernels/scan_quant.h"

namespace ms::kernels {
namespace {

// Mirrors scan_quant.cu's launch geometry (kThreads = 512; 16 or 6 rows per thread at most).
int lanes_for(int64_t N, int spt) {
  int64_t need = (N + spt - 1) / spt, L = 1;
  while (L < need) L *= 2;
  return int(L);
}

// One token's h for a matrix from its state, and its output. Mamba-1 passes per-row dt and the
// row's A; Mamba-2 the head's.
float one_out(const float* h, const float* c, int64_t N, float x, float d) {
  float acc = 0.0f;
  for (int64_t n = 0; n < N; ++n) acc += c[n] * h[n];
  return acc + x * d;
}

}  // namespace

int64_t scan_quant_max_rows(int64_t N) {
  if (N < 1 || N > kMaxScanQuantStates) return 0;
  const int spt = N <= 128 ? 4 : 8, per_thread = N <= 128 ? 16 : 6;
  return int64_t(512 / lanes_for(N, spt)) * per_thread;
}

bool scan_quant_cuda_supports(int64_t R, int64_t N, const StateQuantPod& q, int cluster_limit) {
  if (N < 1 || N > kMaxScanQuantStates || R < 1) return false;
  if (!q.enabled() || q.method == StateQuantMethod::Channel) return true;  // rows split freely
  return R <= scan_quant_max_rows(N) * std::max(1, cluster_limit);
}

void state_quant_scales_ref(const float* h, int64_t R, int64_t N, const StateQuantPod& q,
                            float* ch, float* st) {
  std::fill(ch, ch + R, 1.0f);
  std::fill(st, st + N, 1.0f);
  if (!q.enabled()) return;
  if (q.method == StateQuantMethod::Channel || q.method == StateQuantMethod::Dsq) {
    for (int64_t i = 0; i < R; ++i) {
      float mx = 0.0f;
      double sum = 0.0;
      for (int64_t j = 0; j < N; ++j) {
        mx = std::max(mx, std::fabs(h[i * N + j]));
        sum += std::fabs(h[i * N + j]);
      }
      float v = mx;
      if (q.method == StateQuantMethod::Dsq) {
        const float mean = float(sum) / float(N);
        switch (q.variant) {
          case StateQuantVariant::AbsMax: v = mx; break;
          case StateQuantVariant::AbsMaxSqrt: v = std::sqrt(mx); break;
          case StateQuantVariant::AbsMean: v = mean; break;
          case StateQuantVariant::AbsMeanSqrt: v = std::sqrt(mean); break;
        }
      }
      ch[i] = v == 0.0f ? 1.0f : v;
    }
  }
  if (q.method != StateQuantMethod::Channel) {
    for (int64_t j = 0; j < N; ++j) {
      float mx = 0.0f;
      for (int64_t i = 0; i < R; ++i) mx = std::max(mx, std::fabs(h[i * N + j]) / ch[i]);
      st[j] = mx;
    }
    if (q.method == StateQuantMethod::Tensor) std::fill(st, st + N, *std::max_element(st, st + N));
    for (int64_t j = 0; j < N; ++j) st[j] = st[j] == 0.0f ? 1.0f : st[j];
  }
}

void state_quant_matrix_ref(float* h, int64_t R, int64_t N, const StateQuantPod& q) {
  if (!q.enabled()) return;
  const float qmax = float((1 << (q.bits - 1)) - 1);
  std::vector<float> ch(static_cast<size_t>(R)), st(static_cast<size_t>(N));
  state_quant_scales_ref(h, R, N, q, ch.data(), st.data());
  for (int64_t i = 0; i < R; ++i)
    for (int64_t j = 0; j < N; ++j) {
      const float m = ch[size_t(i)] * st[size_t(j)];
      float v = std::nearbyint(h[i * N + j] * qmax / m);
      v = std::min(std::max(v, -qmax), qmax);
      h[i * N + j] = v * m / qmax;
    }
}

void scan_quant_m1_ref(const ScanQuantM1Args& a) {
  const int64_t E = a.E, N = a.N, T = a.seqlen;
  std::vector<float> h(size_t(E * N));
  for (int64_t b = 0; b < a.batch; ++b) {
    float* s = a.state + b * E * N;
    for (int64_t t = 0; t < T; ++t) {
      const int64_t bt = b * T + t;
      const float *bn = a.Bm + bt * N, *cn = a.Cm + bt * N;
      for (int64_t e = 0; e < E; ++e) {
        const float xv = a.x[bt * E + e], dt = a.dt[bt * E + e];
        float* he = h.data() + e * N;
        for (int64_t n = 0; n < N; ++n) {
          const float decay = std::exp(a.A[e * N + n] * dt);
          const float dbx = (dt * bn[n]) * xv;
          const float kept = decay * s[e * N + n];
          he[n] = kept + dbx;
        }
        a.y[bt * E + e] = one_out(he, cn, N, xv, a.D[e]);
      }
      state_quant_matrix_ref(h.data(), E, N, a.quant);
      std::copy(h.begin(), h.end(), s);
      if (a.states) std::copy(h.begin(), h.end(), a.states + bt * E * N);
    }
  }
}

void scan_quant_m2_ref(const ScanQuantM2Args& a) {
  const int64_t H = a.H, P = a.P, N = a.N, T = a.seqlen, per_group = a.H / a.G;
  std::vector<float> hm(size_t(P * N));
  for (int64_t b = 0; b < a.batch; ++b)
    for (int64_t hd = 0; hd < H; ++hd) {
      float* s = a.state + (b * H + hd) * P * N;
      const int64_t g = hd / per_group;
      for (int64_t t = 0; t < T; ++t) {
        const int64_t bt = b * T + t;
        const float dt = a.dt[bt * H + hd], decay = std::exp(dt * a.A[hd]);
        const float *bn = a.Bm + (bt * a.G + g) * N, *cn = a.Cm + (bt * a.G + g) * N;
        const float* x = a.x + (bt * H + hd) * P;
        for (int64_t p = 0; p < P; ++p) {
          const float dx = dt * x[p];
          float* hp = hm.data() + p * N;
          for (int64_t n = 0; n < N; ++n) {
            const float kept = decay * s[p * N + n];
            hp[n] = kept + dx * bn[n];
          }
          a.y[(bt * H + hd) * P + p] = one_out(hp, cn, N, x[p], a.D[hd]);
        }
        state_quant_matrix_ref(hm.data(), P, N, a.quant);
        std::copy(hm.begin(), hm.end(), s);
        if (a.states) std::copy(hm.begin(), hm.end(), a.states + (bt * H + hd) * P * N);
      }
    }
}

}  // namespace ms::kernels
