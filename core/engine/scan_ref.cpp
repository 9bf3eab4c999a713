// Two implementations of the same sequential scan: plain loops on the CPU (parallel over
// channels, the exponentials computed chunk-wise by ATen's vectorised exp, exactly as HF computes
// them) and ATen ops stepped over time for other devices (until the CUDA kernels of kernels/).
#include "core/engine/scan_ref.h"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>

#include "core/util/error.h"

namespace ms {
namespace {

void check_shape(const at::Tensor& t, at::IntArrayRef expected, const char* name) {
  if (t.sizes() != expected)
    throw InputError(std::string("selective scan: ") + name,
                     "shape " + c10::str(t.sizes()) + ", expected " + c10::str(expected));
}

// Chunk of tokens whose exp(dt*A) fits in ~8 MB.
int64_t token_chunk(int64_t per_token) {
  return std::max<int64_t>(1, (int64_t{2} << 20) / std::max<int64_t>(1, per_token));
}

at::Tensor scan1_cpu(const at::Tensor& x, const at::Tensor& dt, const at::Tensor& A,
                     const at::Tensor& Bm, const at::Tensor& Cm, const at::Tensor& D,
                     at::Tensor& state, at::Tensor* states) {
  const int64_t B = x.size(0), T = x.size(1), E = x.size(2), N = A.size(1);
  at::Tensor y = at::empty({B, T, E}, x.options());
  const float *px = x.data_ptr<float>(), *pdt = dt.data_ptr<float>(), *pB = Bm.data_ptr<float>(),
              *pC = Cm.data_ptr<float>(), *pD = D.data_ptr<float>();
  float *py = y.data_ptr<float>(), *ps = state.data_ptr<float>();
  float* pst = states ? states->data_ptr<float>() : nullptr;
  const int64_t chunk = token_chunk(B * E * N);
  for (int64_t t0 = 0; t0 < T; t0 += chunk) {
    const int64_t tc = std::min(chunk, T - t0);
    // dA [B, tc, E, N] = exp(dt * A): the same expression, in the same order, as HF's reference.
    at::Tensor dA = at::exp(A.unsqueeze(0).unsqueeze(0) * dt.narrow(1, t0, tc).unsqueeze(-1))
                        .contiguous();
    const float* pdA = dA.data_ptr<float>();
    at::parallel_for(0, B * E, 16, [&](int64_t begin, int64_t end) {
      for (int64_t be = begin; be < end; ++be) {
        const int64_t b = be / E, e = be % E;
        float* s = ps + be * N;
        for (int64_t t = t0; t < t0 + tc; ++t) {
          const int64_t bt = b * T + t;
          const float xv = px[bt * E + e], d = pdt[bt * E + e];
          const float* a = pdA + ((b * tc + (t - t0)) * E + e) * N;
          const float *bn = pB + bt * N, *cn = pC + bt * N;
          float acc = 0.f;
          for (int64_t n = 0; n < N; ++n) {
            s[n] = a[n] * s[n] + (d * bn[n]) * xv;
            acc += s[n] * cn[n];
          }
          py[bt * E + e] = acc + pD[e] * xv;
          if (pst) std::copy(s, s + N, pst + (bt * E + e) * N);
        }
      }
    });
  }
  return y;
}

at::Tensor scan2_cpu(const at::Tensor& x, const at::Tensor& dt, const at::Tensor& A,
                     const at::Tensor& Bm, const at::Tensor& Cm, const at::Tensor& D,
                     at::Tensor& state, at::Tensor* states) {
  const int64_t B = x.size(0), T = x.size(1), H = x.size(2), P = x.size(3);
  const int64_t G = Bm.size(2), N = Bm.size(3), heads_per_group = H / G;
  at::Tensor y = at::empty({B, T, H, P}, x.options());
  at::Tensor dA = at::exp(dt * A).contiguous();  // [B, T, H]
  const float *px = x.data_ptr<float>(), *pdt = dt.data_ptr<float>(), *pdA = dA.data_ptr<float>(),
              *pB = Bm.data_ptr<float>(), *pC = Cm.data_ptr<float>(), *pD = D.data_ptr<float>();
  float *py = y.data_ptr<float>(), *ps = state.data_ptr<float>();
  float* pst = states ? states->data_ptr<float>() : nullptr;
  at::parallel_for(0, B * H * P, 4, [&](int64_t begin, int64_t end) {
    for (int64_t bhp = begin; bhp < end; ++bhp) {
      const int64_t b = bhp / (H * P), h = (bhp / P) % H, p = bhp % P, g = h / heads_per_group;
      float* s = ps + bhp * N;
      for (int64_t t = 0; t < T; ++t) {
        const int64_t bth = (b * T + t) * H + h;
        const float xv = px[bth * P + p], a = pdA[bth], dx = pdt[bth] * xv;
        const float *bn = pB + ((b * T + t) * G + g) * N, *cn = pC + ((b * T + t) * G + g) * N;
        float acc = 0.f;
        for (int64_t n = 0; n < N; ++n) {
          s[n] = a * s[n] + dx * bn[n];
          acc += s[n] * cn[n];
        }
        py[bth * P + p] = acc + pD[h] * xv;
        if (pst) std::copy(s, s + N, pst + (bth * P + p) * N);
      }
    }
  });
  return y;
}

// Device-generic: ATen ops stepped over time.
at::Tensor scan1_ops(const at::Tensor& x, const at::Tensor& dt, const at::Tensor& A,
                     const at::Tensor& Bm, const at::Tensor& Cm, const at::Tensor& D,
                     at::Tensor& state, at::Tensor* states) {
  const int64_t T = x.size(1);
  at::Tensor dA = at::exp(A.unsqueeze(0).unsqueeze(0) * dt.unsqueeze(-1));   // [B,T,E,N]
  at::Tensor dBx = (dt.unsqueeze(-1) * Bm.unsqueeze(2)) * x.unsqueeze(-1);   // [B,T,E,N]
  std::vector<at::Tensor> ys;
  ys.reserve(T);
  for (int64_t t = 0; t < T; ++t) {
    state.mul_(dA.select(1, t)).add_(dBx.select(1, t));
    ys.push_back(at::matmul(state, Cm.select(1, t).unsqueeze(-1)).squeeze(-1));
    if (states) states->select(1, t).copy_(state);
  }
  return at::stack(ys, 1) + x * D;
}

at::Tensor scan2_ops(const at::Tensor& x, const at::Tensor& dt, const at::Tensor& A,
                     const at::Tensor& Bm, const at::Tensor& Cm, const at::Tensor& D,
                     at::Tensor& state, at::Tensor* states) {
  const int64_t T = x.size(1), H = x.size(2), G = Bm.size(2);
  at::Tensor Bh = Bm.repeat_interleave(H / G, 2), Ch = Cm.repeat_interleave(H / G, 2);  // [B,T,H,N]
  at::Tensor dA = at::exp(dt * A);  // [B,T,H]
  std::vector<at::Tensor> ys;
  ys.reserve(T);
  for (int64_t t = 0; t < T; ++t) {
    at::Tensor dx = (dt.select(1, t).unsqueeze(-1) * x.select(1, t)).unsqueeze(-1);  // [B,H,P,1]
    state.mul_(dA.select(1, t).unsqueeze(-1).unsqueeze(-1)).add_(dx * Bh.select(1, t).unsqueeze(2));
    ys.push_back(at::matmul(state, Ch.select(1, t).unsqueeze(-1)).squeeze(-1));
    if (states) states->select(1, t).copy_(state);
  }
  return at::stack(ys, 1) + x * D.unsqueeze(-1);
}

}  // namespace

at::Tensor selective_scan_mamba1(const at::Tensor& x, const at::Tensor& dt, const at::Tensor& A,
                                 const at::Tensor& Bm, const at::Tensor& Cm, const at::Tensor& D,
                                 at::Tensor& state, at::Tensor* states) {
  const int64_t B = x.size(0), T = x.size(1), E = x.size(2), N = A.size(1);
  check_shape(dt, {B, T, E}, "dt");
  check_shape(A, {E, N}, "A");
  check_shape(Bm, {B, T, N}, "B");
  check_shape(Cm, {B, T, N}, "C");
  check_shape(D, {E}, "D");
  check_shape(state, {B, E, N}, "state");
  if (states) *states = at::empty({B, T, E, N}, x.options());
  if (x.is_cpu())
    return scan1_cpu(x.contiguous(), dt.contiguous(), A.contiguous(), Bm.contiguous(),
                     Cm.contiguous(), D.contiguous(), state, states);
  return scan1_ops(x, dt, A, Bm, Cm, D, state, states);
}

at::Tensor selective_scan_mamba2(const at::Tensor& x, const at::Tensor& dt, const at::Tensor& A,
                                 const at::Tensor& Bm, const at::Tensor& Cm, const at::Tensor& D,
                                 at::Tensor& state, at::Tensor* states) {
  const int64_t B = x.size(0), T = x.size(1), H = x.size(2), P = x.size(3);
  const int64_t G = Bm.size(2), N = Bm.size(3);
  check_shape(dt, {B, T, H}, "dt");
  check_shape(A, {H}, "A");
  check_shape(Bm, {B, T, G, N}, "B");
  check_shape(Cm, {B, T, G, N}, "C");
  check_shape(D, {H}, "D");
  check_shape(state, {B, H, P, N}, "state");
  if (H % G != 0) throw InputError("selective scan", "heads not a multiple of groups");
  if (states) *states = at::empty({B, T, H, P, N}, x.options());
  if (x.is_cpu())
    return scan2_cpu(x.contiguous(), dt.contiguous(), A.contiguous(), Bm.contiguous(),
                     Cm.contiguous(), D.contiguous(), state, states);
  return scan2_ops(x, dt, A, Bm, Cm, D, state, states);
}

// The quantized scans: the same expressions as the loops above (exp(A * dt) * s + (dt * B) * x,
// in that order), one token at a time, so that the quantizer sees each whole state.
at::Tensor selective_scan_mamba1_quant(const at::Tensor& x, const at::Tensor& dt, const at::Tensor& A,
                                       const at::Tensor& Bm, const at::Tensor& Cm, const at::Tensor& D,
                                       at::Tensor& state, at::Tensor* states,
                                       const StateQuantizer& quantize) {
  const int64_t B = x.size(0), T = x.size(1), E = x.size(2), N = A.size(1);
  check_shape(dt, {B, T, E}, "dt");
  check_shape(A, {E, N}, "A");
  check_shape(Bm, {B, T, N}, "B");
  check_shape(Cm, {B, T, N}, "C");
  check_shape(D, {E}, "D");
  check_shape(state, {B, E, N}, "state");
  if (states) *states = at::empty({B, T, E, N}, x.options());
  at::Tensor s = state;
  std::vector<at::Tensor> ys;
  ys.reserve(size_t(T));
  for (int64_t t = 0; t < T; ++t) {
    const at::Tensor dt_t = dt.select(1, t).unsqueeze(-1);                          // [B, E, 1]
    const at::Tensor dA = at::exp(A.unsqueeze(0) * dt_t);                           // [B, E, N]
    const at::Tensor dBx = (dt_t * Bm.select(1, t).unsqueeze(1)) * x.select(1, t).unsqueeze(-1);
    const at::Tensor h = dA * s + dBx;                                              // [B, E, N]
    ys.push_back(at::matmul(h, Cm.select(1, t).unsqueeze(-1)).squeeze(-1));         // [B, E]
    s = quantize(h);
    check_shape(s, {B, E, N}, "quantized state");
    if (states) states->select(1, t).copy_(s);
  }
  state.copy_(s);
  if (T == 0) return at::empty({B, 0, E}, x.options());
  return at::stack(ys, 1) + x * D;
}

at::Tensor selective_scan_mamba2_quant(const at::Tensor& x, const at::Tensor& dt, const at::Tensor& A,
                                       const at::Tensor& Bm, const at::Tensor& Cm, const at::Tensor& D,
                                       at::Tensor& state, at::Tensor* states,
                                       const StateQuantizer& quantize) {
  const int64_t B = x.size(0), T = x.size(1), H = x.size(2), P = x.size(3);
  const int64_t G = Bm.size(2), N = Bm.size(3);
  check_shape(dt, {B, T, H}, "dt");
  check_shape(A, {H}, "A");
  check_shape(Bm, {B, T, G, N}, "B");
  check_shape(Cm, {B, T, G, N}, "C");
  check_shape(D, {H}, "D");
  check_shape(state, {B, H, P, N}, "state");
  if (H % G != 0) throw InputError("selective scan", "heads not a multiple of groups");
  if (states) *states = at::empty({B, T, H, P, N}, x.options());
  const at::Tensor Bh = Bm.repeat_interleave(H / G, 2), Ch = Cm.repeat_interleave(H / G, 2);  // [B,T,H,N]
  const at::Tensor dA = at::exp(dt * A);                                            // [B, T, H]
  at::Tensor s = state;
  std::vector<at::Tensor> ys;
  ys.reserve(size_t(T));
  for (int64_t t = 0; t < T; ++t) {
    const at::Tensor dx = (dt.select(1, t).unsqueeze(-1) * x.select(1, t)).unsqueeze(-1);  // [B,H,P,1]
    const at::Tensor h = dA.select(1, t).unsqueeze(-1).unsqueeze(-1) * s +
                         dx * Bh.select(1, t).unsqueeze(2);                          // [B, H, P, N]
    ys.push_back(at::matmul(h, Ch.select(1, t).unsqueeze(-1)).squeeze(-1));         // [B, H, P]
    s = quantize(h);
    check_shape(s, {B, H, P, N}, "quantized state");
    if (states) states->select(1, t).copy_(s);
  }
  state.copy_(s);
  if (T == 0) return at::empty({B, 0, H, P}, x.options());
  return at::stack(ys, 1) + x * D.unsqueeze(-1);
}

}  // namespace ms
