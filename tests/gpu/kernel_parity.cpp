// Parity of every CUDA kernel in kernels/ with its CPU reference (STYLE.md rule 9, llm.c style):
// random inputs at awkward sizes (odd channel counts, sequence lengths that are not a multiple of
// the chunk, d_state not a multiple of the lanes, several groups), both dtypes, then
// |gpu - ref| <= atol + rtol·|ref| per element, the first mismatches printed. Histograms must
// match bin for bin. Exit 0 on success, 1 on a mismatch, 77 (CTest's skip) without a GPU.
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include <cuda_runtime.h>

#include "kernels/calib_kernels.h"
#include "kernels/fwht.h"
#include "kernels/hist_bins.h"
#include "kernels/ref_util.h"
#include "kernels/scan_quant.h"

namespace k = ms::kernels;

namespace {

int g_failures = 0;

// A host buffer and its device twin.
template <typename T>
struct Buf {
  std::vector<T> host;
  T* dev = nullptr;
  explicit Buf(size_t n, T init = T()) : host(n, init) {
    cudaMalloc(&dev, n * sizeof(T) + 16);
    upload();
  }
  ~Buf() { cudaFree(dev); }
  void upload() { cudaMemcpy(dev, host.data(), host.size() * sizeof(T), cudaMemcpyHostToDevice); }
  std::vector<T> download() const {
    std::vector<T> out(host.size());
    cudaMemcpy(out.data(), dev, host.size() * sizeof(T), cudaMemcpyDeviceToHost);
    return out;
  }
};

// Activations in a dtype: fp32 floats, or bf16 bit patterns.
struct Act {
  k::DataType dtype;
  Buf<uint16_t> b16;
  Buf<float> f32;
  Act(k::DataType t, size_t n, std::mt19937& rng, float scale)
      : dtype(t), b16(t == k::DataType::BF16 ? n : 1), f32(t == k::DataType::F32 ? n : 1) {
    std::normal_distribution<float> d(0.0f, scale);
    for (size_t i = 0; i < n; ++i) {
      float v = d(rng);
      if (t == k::DataType::F32) f32.host[i] = v;
      else b16.host[i] = k::ref::float_to_bf16(v);
    }
    b16.upload();
    f32.upload();
  }
  const void* host() const { return dtype == k::DataType::F32 ? (const void*)f32.host.data() : (const void*)b16.host.data(); }
  const void* dev() const { return dtype == k::DataType::F32 ? (const void*)f32.dev : (const void*)b16.dev; }
};

template <typename T>
void compare(const std::string& what, const std::vector<T>& gpu, const std::vector<T>& ref,
             double atol, double rtol) {
  int shown = 0, bad = 0;
  double worst = 0;
  for (size_t i = 0; i < ref.size(); ++i) {
    const double r = double(ref[i]), g = double(gpu[i]);
    if (!std::isfinite(r)) continue;
    const double err = std::fabs(g - r);
    worst = std::max(worst, err / (atol + rtol * std::fabs(r)));
    if (!(err <= atol + rtol * std::fabs(r))) {
      ++bad;
      if (shown++ < 5) std::printf("  %s[%zu]: gpu %.9g ref %.9g\n", what.c_str(), i, g, r);
    }
  }
  std::printf("%-44s %s (%zu values, worst %.3f of the tolerance)\n", what.c_str(),
              bad ? "MISMATCH" : "ok", ref.size(), worst);
  if (bad) ++g_failures;
}

std::vector<float> as_float(const Buf<uint16_t>& b, k::DataType t, const std::vector<float>& f) {
  if (t == k::DataType::F32) return f;
  std::vector<float> out;
  for (uint16_t v : b.host) out.push_back(k::ref::bf16_to_float(v));
  return out;
}

// Per-dtype budgets: fp32 differs only by summation order and expf's last bits; bf16 outputs may
// land one bf16 ulp (2^-8 relative) apart when the fp32 value sits near a rounding boundary.
double rtol_of(k::DataType t) { return t == k::DataType::F32 ? 2e-5 : 8e-3; }

struct StatBufs {
  Buf<float> absmax, mn, mx;
  Buf<double> sum, sumsq;
  Buf<unsigned long long> hist;
  explicit StatBufs(int64_t C)
      : absmax(C, 0.0f), mn(C, INFINITY), mx(C, -INFINITY), sum(C, 0.0), sumsq(C, 0.0), hist(k::kHistBins, 0) {}
  k::ChannelStats host() { return {absmax.host.data(), mn.host.data(), mx.host.data(), sum.host.data(), sumsq.host.data(), hist.host.data()}; }
  k::ChannelStats dev() { return {absmax.dev, mn.dev, mx.dev, sum.dev, sumsq.dev, hist.dev}; }
  void check(const std::string& name, double sum_atol) {
    compare(name + " absmax", absmax.download(), absmax.host, 0, 1e-6);
    compare(name + " min", mn.download(), mn.host, 0, 1e-6);
    compare(name + " max", mx.download(), mx.host, 0, 1e-6);
    compare(name + " sum", sum.download(), sum.host, sum_atol, 1e-9);
    compare(name + " sumsq", sumsq.download(), sumsq.host, sum_atol, 1e-9);
    compare(name + " hist", hist.download(), hist.host, 0, 0);
  }
};

void test_channel_stats(k::DataType t, int64_t rows, int64_t C, int64_t ld, std::mt19937& rng) {
  Act x(t, size_t(rows * ld), rng, 3.0f);
  StatBufs s(C);
  k::channel_stats_ref(x.host(), t, rows, C, ld, s.host());
  k::channel_stats_cuda(x.dev(), t, rows, C, ld, s.dev(), nullptr);
  // Twice: the second call must accumulate onto the first.
  k::channel_stats_ref(x.host(), t, rows, C, ld, s.host());
  k::channel_stats_cuda(x.dev(), t, rows, C, ld, s.dev(), nullptr);
  s.check("channel_stats " + std::string(t == k::DataType::F32 ? "f32 " : "bf16 ") +
              std::to_string(rows) + "x" + std::to_string(C), 1e-9 * rows);
}

void test_conv(k::DataType t, int64_t B, int64_t T, int64_t C, int64_t K, int64_t ld, std::mt19937& rng) {
  Act x(t, size_t(B * T * ld), rng, 1.0f);
  Buf<float> w{size_t(C * K)}, bias{size_t(C)};
  std::normal_distribution<float> d(0.0f, 0.5f);
  for (auto& v : w.host) v = d(rng);
  for (auto& v : bias.host) v = d(rng);
  w.upload();
  bias.upload();
  Act y(t, size_t(B * T * C), rng, 0.0f);
  k::ConvArgs a{B, T, C, K, t, x.host(), ld, w.host.data(), bias.host.data(), const_cast<void*>(y.host())};
  k::conv1d_silu_ref(a);
  k::ConvArgs g{B, T, C, K, t, x.dev(), ld, w.dev, bias.dev, const_cast<void*>(y.dev())};
  k::conv1d_silu_cuda(g, nullptr);
  std::vector<float> ref = as_float(y.b16, t, y.f32.host);
  std::vector<float> gpu;
  if (t == k::DataType::F32) gpu = y.f32.download();
  else for (uint16_t v : y.b16.download()) gpu.push_back(k::ref::bf16_to_float(v));
  compare("conv1d_silu " + std::string(t == k::DataType::F32 ? "f32 " : "bf16 ") + std::to_string(C) + "ch K" + std::to_string(K),
          gpu, ref, 1e-6, rtol_of(t));
}

void test_scan_m1(k::DataType t, int64_t B, int64_t T, int64_t E, int64_t N, int64_t R, std::mt19937& rng) {
  const int64_t rows = B * T, ldbc = R + 2 * N;
  Act x(t, size_t(rows * E), rng, 1.0f), dt_raw(t, size_t(rows * E), rng, 1.0f);
  Act dbc(t, size_t(rows * ldbc), rng, 1.0f), z(t, size_t(rows * 2 * E), rng, 1.0f), y(t, size_t(rows * E), rng, 0.0f);
  Buf<float> A{size_t(E * N)}, D{size_t(E)}, bias{size_t(E)};
  std::uniform_real_distribution<float> u(0.1f, 4.0f);
  for (auto& v : A.host) v = -u(rng);
  for (auto& v : D.host) v = u(rng) - 2.0f;
  for (auto& v : bias.host) v = u(rng) - 3.0f;
  A.upload(); D.upload(); bias.upload();
  Buf<float> sabs_max(size_t(E * N), 0.0f);
  Buf<double> ssum(size_t(E * N), 0.0);
  StatBufs ys(E);
  auto args = [&](bool dev) {
    k::ScanM1Args a;
    a.batch = B; a.seqlen = T; a.E = E; a.N = N; a.dtype = t;
    a.x = dev ? x.dev() : x.host(); a.ldx = E;
    a.dt_raw = dev ? dt_raw.dev() : dt_raw.host(); a.lddt = E;
    a.dt_bias = dev ? bias.dev : bias.host.data();
    a.A = dev ? A.dev : A.host.data();
    const size_t es = t == k::DataType::F32 ? 4 : 2;
    const char* base = static_cast<const char*>(dev ? dbc.dev() : dbc.host());
    a.Bm = base + R * es; a.Cm = base + (R + N) * es; a.ldbc = ldbc;
    a.D = dev ? D.dev : D.host.data();
    a.z = static_cast<const char*>(dev ? z.dev() : z.host()) + E * es; a.ldz = 2 * E;
    a.y = const_cast<void*>(dev ? y.dev() : y.host());
    a.state_absmax = dev ? sabs_max.dev : sabs_max.host.data();
    a.state_sum_abs = dev ? ssum.dev : ssum.host.data();
    a.y_stats = dev ? ys.dev() : ys.host();
    return a;
  };
  k::scan_m1_ref(args(false));
  k::scan_m1_cuda(args(true), nullptr);
  const std::string name = "scan_m1 " + std::string(t == k::DataType::F32 ? "f32 " : "bf16 ") +
                           "B" + std::to_string(B) + " T" + std::to_string(T) + " E" + std::to_string(E) + " N" + std::to_string(N);
  compare(name + " state absmax", sabs_max.download(), sabs_max.host, 1e-6, 1e-4);
  compare(name + " state sum|s|", ssum.download(), ssum.host, 1e-6 * T, 1e-4);
  std::vector<float> ref = as_float(y.b16, t, y.f32.host), gpu;
  if (t == k::DataType::F32) gpu = y.f32.download();
  else for (uint16_t v : y.b16.download()) gpu.push_back(k::ref::bf16_to_float(v));
  compare(name + " y", gpu, ref, 1e-5, t == k::DataType::F32 ? 1e-4 : 1e-2);
  // The statistics of y: the GPU adds the fp32 values it computed, which differ from the
  // reference's in the last bits, so sums compare with a tolerance and the histogram may move a
  // value across a bin edge: compare its total and most of its mass.
  compare(name + " y absmax", ys.absmax.download(), ys.absmax.host, 1e-5, 1e-4);
  compare(name + " y sum", ys.sum.download(), ys.sum.host, 1e-3 * std::sqrt(double(rows)), 1e-4);
  auto gh = ys.hist.download();
  long long tg = 0, tr = 0, moved = 0;
  for (int i = 0; i < k::kHistBins; ++i) {
    tg += (long long)gh[size_t(i)];
    tr += (long long)ys.hist.host[size_t(i)];
    moved += std::llabs((long long)gh[size_t(i)] - (long long)ys.hist.host[size_t(i)]);
  }
  const bool hist_ok = tg == tr && tg == rows * E && moved <= std::max<long long>(4, tr / 1000);
  std::printf("%-44s %s (total %lld of %lld, %lld moved)\n", (name + " y hist").c_str(), hist_ok ? "ok" : "MISMATCH", tg, tr, moved);
  if (!hist_ok) ++g_failures;
}

void test_scan_m2(k::DataType t, int64_t B, int64_t T, int64_t H, int64_t P, int64_t N, int64_t G, std::mt19937& rng) {
  const int64_t rows = B * T, ldx = H * P + 2 * G * N + 3, ldbc = ldx, lddt = H + 1;
  Act xbc(t, size_t(rows * ldx), rng, 1.0f), dt_raw(t, size_t(rows * lddt), rng, 1.0f);
  Buf<float> A{size_t(H)}, D{size_t(H)}, bias{size_t(H)}, y{size_t(rows * H * P), 0.0f};
  std::uniform_real_distribution<float> u(0.1f, 4.0f);
  for (auto& v : A.host) v = -u(rng);
  for (auto& v : D.host) v = u(rng) - 2.0f;
  for (auto& v : bias.host) v = u(rng) - 3.0f;
  A.upload(); D.upload(); bias.upload();
  Buf<float> sabs_max(size_t(H * P * N), 0.0f);
  Buf<double> ssum(size_t(H * P * N), 0.0);
  auto args = [&](bool dev) {
    k::ScanM2Args a;
    a.batch = B; a.seqlen = T; a.H = H; a.P = P; a.N = N; a.G = G; a.dtype = t;
    const size_t es = t == k::DataType::F32 ? 4 : 2;
    const char* base = static_cast<const char*>(dev ? xbc.dev() : xbc.host());
    a.x = base; a.ldx = ldx;
    a.dt_raw = dev ? dt_raw.dev() : dt_raw.host(); a.lddt = lddt;
    a.dt_bias = dev ? bias.dev : bias.host.data();
    a.dt_min = 0.001f; a.dt_max = 5.0f;
    a.A = dev ? A.dev : A.host.data();
    a.Bm = base + H * P * es; a.Cm = base + (H * P + G * N) * es; a.ldbc = ldbc;
    a.D = dev ? D.dev : D.host.data();
    a.y = dev ? y.dev : y.host.data();
    a.state_absmax = dev ? sabs_max.dev : sabs_max.host.data();
    a.state_sum_abs = dev ? ssum.dev : ssum.host.data();
    return a;
  };
  k::scan_m2_ref(args(false));
  k::scan_m2_cuda(args(true), nullptr);
  const std::string name = "scan_m2 " + std::string(t == k::DataType::F32 ? "f32 " : "bf16 ") + "B" + std::to_string(B) +
                           " T" + std::to_string(T) + " H" + std::to_string(H) + " P" + std::to_string(P) +
                           " N" + std::to_string(N) + " G" + std::to_string(G);
  compare(name + " state absmax", sabs_max.download(), sabs_max.host, 1e-6, 1e-4);
  compare(name + " state sum|s|", ssum.download(), ssum.host, 1e-6 * T, 1e-4);
  compare(name + " y", y.download(), y.host, 1e-5, 1e-4);
}

void test_norm(k::DataType t, k::DataType residual, bool add, int64_t rows, int64_t d, std::mt19937& rng) {
  Act r(residual, size_t(rows * d), rng, 2.0f), out(t, size_t(rows * d), rng, 1.0f), w(t, size_t(d), rng, 1.0f);
  Act h(t, size_t(rows * d), rng, 0.0f);
  // The residual is updated in place; the device copy still holds the starting values.
  StatBufs s(d);
  auto args = [&](bool dev) {
    k::NormArgs a;
    a.rows = rows; a.d = d; a.dtype = t; a.residual = residual;
    a.r = const_cast<void*>(dev ? r.dev() : r.host());
    a.out = add ? (dev ? out.dev() : out.host()) : nullptr;
    a.weight = dev ? w.dev() : w.host();
    a.eps = 1e-5;
    a.h = const_cast<void*>(dev ? h.dev() : h.host());
    a.h_stats = dev ? s.dev() : s.host();
    return a;
  };
  k::residual_rmsnorm_ref(args(false));
  k::residual_rmsnorm_cuda(args(true), nullptr);
  const std::string name = std::string("residual_rmsnorm ") + (t == k::DataType::F32 ? "f32" : "bf16") +
                           (residual == k::DataType::F32 ? " r32" : " r16") + (add ? " +out " : " ") +
                           std::to_string(rows) + "x" + std::to_string(d);
  auto read = [&](const Act& x) {
    std::vector<float> v;
    if (x.dtype == k::DataType::F32) return x.f32.download();
    for (uint16_t b : x.b16.download()) v.push_back(k::ref::bf16_to_float(b));
    return v;
  };
  // The row's mean of squares sums in another order on the GPU; in bf16 that may move the
  // normalised value, then its product with the weight, by one bf16 step each (up to 2^-7
  // relative apiece): 2^-6 in all.
  const double h_rtol = t == k::DataType::F32 ? 1e-5 : 1.0 / 64;
  const std::vector<float> h_ref = as_float(h.b16, t, h.f32.host);
  compare(name + " h", read(h), h_ref, 1e-6, h_rtol);
  compare(name + " r", read(r), as_float(r.b16, residual, r.f32.host), 1e-6, 1e-6);
  compare(name + " absmax", s.absmax.download(), s.absmax.host, 1e-6, h_rtol);
  // A channel's sum may move by h_rtol of each |h| it adds: the budget is h_rtol·Σ|h| per channel.
  std::vector<double> budget(size_t(d), 0.0);
  for (int64_t i = 0; i < rows * d; ++i) budget[size_t(i % d)] += std::fabs(h_ref[size_t(i)]) * h_rtol;
  const std::vector<double> gsum = s.sum.download();
  int bad = 0;
  for (int64_t c = 0; c < d; ++c)
    if (!(std::fabs(gsum[size_t(c)] - s.sum.host[size_t(c)]) <= budget[size_t(c)] + 1e-9 * rows)) ++bad;
  std::printf("%-44s %s (%lld channels, %d over the budget)\n", (name + " sum").c_str(), bad ? "MISMATCH" : "ok", (long long)d, bad);
  if (bad) ++g_failures;
}

// The k-point base as core/quant/hadamard builds it is not visible here (core links LibTorch);
// any ±1 matrix exercises the kernel's mixing step the same way, so a seeded one is used.
void test_fwht(int64_t rows, int64_t k, int64_t p, std::mt19937& rng) {
  const int64_t n = k * p;
  Buf<float> x{size_t(rows * n)}, y{size_t(rows * n), 0.0f}, hk{size_t(k * k)};
  std::normal_distribution<float> d(0.0f, 1.0f);
  for (auto& v : x.host) v = d(rng);
  for (auto& v : hk.host) v = (rng() & 1) ? 1.0f : -1.0f;
  x.upload();
  hk.upload();
  const float scale = 1.0f / std::sqrt(float(n));
  k::FwhtArgs a{rows, n, k, x.host.data(), y.host.data(), k > 1 ? hk.host.data() : nullptr, scale};
  k::fwht_ref(a);
  k::FwhtArgs g{rows, n, k, x.dev, y.dev, k > 1 ? hk.dev : nullptr, scale};
  k::fwht_cuda(g, nullptr);
  compare("fwht " + std::to_string(rows) + "x" + std::to_string(n) + " (k" + std::to_string(k) + ")",
          y.download(), y.host, 1e-5, 1e-5);
}

// The quantized scans (kernels/scan_quant.h). One shape holds both architectures: Mamba-1 is
// H = 1 head of R = E rows with A [E, N] and dt per row; Mamba-2 R = P rows per head.
struct ScanQuantCase {
  bool m1 = true;
  int64_t B = 1, T = 1, H = 1, R = 1, N = 1, G = 1;
  int64_t state_size() const { return B * H * R * N; }
};

void run_scan_quant(const ScanQuantCase& c, const k::StateQuantPod& q, bool gpu, int64_t t0, int64_t T,
                    const Buf<float>& x, const Buf<float>& dt, const Buf<float>& A, const Buf<float>& Bm,
                    const Buf<float>& Cm, const Buf<float>& D, Buf<float>& state, Buf<float>& y,
                    Buf<float>* states) {
  // Tokens t0 .. t0+T-1 of the inputs, which are [B, c.T, ...]: only B = 1 is sliced (T < c.T).
  auto at = [&](const Buf<float>& b, int64_t per_token) {
    return (gpu ? b.dev : b.host.data()) + t0 * per_token;
  };
  const int64_t xw = c.H * c.R, dtw = c.m1 ? c.R : c.H, bcw = c.G * c.N;
  float* yp = (gpu ? y.dev : y.host.data()) + t0 * xw;
  float* sp = gpu ? state.dev : state.host.data();
  float* stp = states ? (gpu ? states->dev : states->host.data()) + t0 * c.H * c.R * c.N : nullptr;
  if (c.m1) {
    k::ScanQuantM1Args a;
    a.batch = c.B; a.seqlen = T; a.E = c.R; a.N = c.N;
    a.x = at(x, xw); a.dt = at(dt, dtw); a.A = gpu ? A.dev : A.host.data();
    a.Bm = at(Bm, bcw); a.Cm = at(Cm, bcw); a.D = gpu ? D.dev : D.host.data();
    a.state = sp; a.y = yp; a.states = stp; a.quant = q;
    gpu ? k::scan_quant_m1_cuda(a, nullptr) : k::scan_quant_m1_ref(a);
  } else {
    k::ScanQuantM2Args a;
    a.batch = c.B; a.seqlen = T; a.H = c.H; a.P = c.R; a.N = c.N; a.G = c.G;
    a.x = at(x, xw); a.dt = at(dt, dtw); a.A = gpu ? A.dev : A.host.data();
    a.Bm = at(Bm, bcw); a.Cm = at(Cm, bcw); a.D = gpu ? D.dev : D.host.data();
    a.state = sp; a.y = yp; a.states = stp; a.quant = q;
    gpu ? k::scan_quant_m2_cuda(a, nullptr) : k::scan_quant_m2_ref(a);
  }
}

std::string quant_name(const k::StateQuantPod& q) {
  if (!q.enabled()) return "H16";
  static const char* methods[] = {"tensor", "channel", "state", "dsq"};
  static const char* variants[] = {"abs.max", "abs.max.sqrt", "abs.mean", "abs.mean.sqrt"};
  std::string s = "H" + std::to_string(q.bits) + " " + methods[int(q.method)];
  if (q.method == k::StateQuantMethod::Dsq) s += std::string(" ") + variants[int(q.variant)];
  return s;
}

// Whole-sequence parity. Float (H16): every output to rtol_of(F32). Quantized: the kernel's
// expf may differ from glibc's in the last bit, which moves a value sitting on a rounding tie by
// one step and, through the recurrence, every later token a little. So the quantized check is
// token by token from the reference's state (teacher forcing, B = 1): y to the float tolerance;
// the quantized state equal to it except at most one value in 10^4 exactly one step
// (M_ij / qmax) apart, and only where qmax·h/M sits on a tie. The whole sequence in one launch
// (any B): y within 2/qmax of its RMS.
void test_scan_quant(const ScanQuantCase& c, const k::StateQuantPod& q, std::mt19937& rng) {
  const int64_t xs = c.B * c.T * c.H * c.R, dts = c.B * c.T * (c.m1 ? c.R : c.H);
  const int64_t bcs = c.B * c.T * c.G * c.N, As = c.m1 ? c.R * c.N : c.H, Ds = c.m1 ? c.R : c.H;
  std::normal_distribution<float> nd(0.0f, 1.0f);
  Buf<float> x(xs), dt(dts), A(As), Bm(bcs), Cm(bcs), D(Ds), state0(c.state_size());
  for (float& v : x.host) v = nd(rng);
  for (float& v : dt.host) v = k::ref::softplus(nd(rng) - 1.0f);
  for (float& v : A.host) v = -std::exp(0.5f * nd(rng));
  for (float& v : Bm.host) v = nd(rng);
  for (float& v : Cm.host) v = nd(rng);
  for (float& v : D.host) v = nd(rng);
  for (float& v : state0.host) v = nd(rng);
  for (auto* b : {&x, &dt, &A, &Bm, &Cm, &D, &state0}) b->upload();
  const std::string name = std::string(c.m1 ? "scan_quant_m1" : "scan_quant_m2") + " B" +
                           std::to_string(c.B) + " T" + std::to_string(c.T) + " H" + std::to_string(c.H) +
                           " R" + std::to_string(c.R) + " N" + std::to_string(c.N) + " G" +
                           std::to_string(c.G) + " " + quant_name(q);
  const double rtol = rtol_of(k::DataType::F32);
  // The whole sequence on both.
  Buf<float> sg(c.state_size()), sr(c.state_size()), yg(xs), yr(xs);
  Buf<float> stg(size_t(c.state_size() * c.T)), str(size_t(c.state_size() * c.T));
  sg.host = sr.host = state0.host;
  sg.upload();
  run_scan_quant(c, q, false, 0, c.T, x, dt, A, Bm, Cm, D, sr, yr, &str);
  run_scan_quant(c, q, true, 0, c.T, x, dt, A, Bm, Cm, D, sg, yg, &stg);
  // y_t = C_t·h_t + D x_t sums N products: where they cancel, fp32 rounding of the largest terms
  // (≈ ε·Σ|C h|) shows in a small result, whatever the summation order. So y's absolute tolerance
  // grows with the output's scale (a norm-wise 1e-6, about ε·N at N = 128); a wrong recurrence
  // is off by O(1) of that scale. (First run on an NVIDIA H200: the float Mamba-2 scan at
  // mamba2-130m's sizes agreed to 1.1e-5 absolute on outputs up to tens; the states to 0.1 of rtol.)
  double y_scale = 0;
  for (float v : yr.host) y_scale = std::max(y_scale, double(std::fabs(v)));
  const double y_atol = 1e-5 + 1e-6 * y_scale;
  if (!q.enabled()) {
    compare(name + " y", yg.download(), yr.host, y_atol, rtol);
    compare(name + " state", sg.download(), sr.host, 1e-5, rtol);
    compare(name + " states", stg.download(), str.host, 1e-5, rtol);
    return;
  }
  {
    const std::vector<float> g = yg.download();
    double se = 0, sref = 0;
    for (size_t i = 0; i < g.size(); ++i) {
      se += (double(g[i]) - yr.host[i]) * (double(g[i]) - yr.host[i]);
      sref += double(yr.host[i]) * yr.host[i];
    }
    // Once a tie has gone the other way the two runs round independently near ties: about one
    // step per element at worst, 1/qmax of the scale. A broken recurrence costs O(1).
    const double rel = std::sqrt(se / std::max(1e-30, sref)), budget = 2.0 / ((1 << (q.bits - 1)) - 1);
    std::printf("%-44s %s (whole sequence: y relative RMS difference %.2e, budget %.2e)\n",
                (name + " y").c_str(), rel <= budget ? "ok" : "MISMATCH", rel, budget);
    if (!(rel <= budget)) ++g_failures;
  }
  if (c.B != 1) return;  // the token-by-token check slices one sequence
  const float qmax = float((1 << (q.bits - 1)) - 1);
  const int64_t S = c.state_size(), RN = c.R * c.N, xw = c.H * c.R;
  std::vector<float> s = state0.host, ch(size_t(c.R)), stv(size_t(c.N));
  int64_t bad_y = 0, bad_state = 0, flips = 0;
  double worst_y = 0;
  Buf<float> one_g(S), one_r(S), h(S), ty_g(xs), ty_r(xs), ty_h(xs);
  for (int64_t t = 0; t < c.T; ++t) {
    one_r.host = s;
    one_g.host = s;
    one_g.upload();
    h.host = s;
    run_scan_quant(c, q, false, t, 1, x, dt, A, Bm, Cm, D, one_r, ty_r, nullptr);
    run_scan_quant(c, q, true, t, 1, x, dt, A, Bm, Cm, D, one_g, ty_g, nullptr);
    run_scan_quant(c, k::StateQuantPod{}, false, t, 1, x, dt, A, Bm, Cm, D, h, ty_h, nullptr);  // h_t
    const std::vector<float> gs = one_g.download(), gy = ty_g.download();
    for (int64_t i = t * xw; i < (t + 1) * xw; ++i) {
      const double err = std::fabs(double(gy[i]) - ty_r.host[i]);
      const double tol = y_atol + rtol * std::fabs(ty_r.host[i]);
      worst_y = std::max(worst_y, err / tol);
      if (!(err <= tol)) ++bad_y;
    }
    for (int64_t m = 0; m < S / RN; ++m) {
      k::state_quant_scales_ref(h.host.data() + m * RN, c.R, c.N, q, ch.data(), stv.data());
      for (int64_t i = 0; i < RN; ++i) {
        const int64_t e = m * RN + i;
        const double r = one_r.host[e], g = gs[e], err = std::fabs(g - r);
        if (err <= 1e-6 * std::fabs(r) + 1e-30) continue;
        // Allowed only as one step (M/qmax) where qmax·h/M sits on a rounding tie.
        const double M = double(ch[size_t(i / c.N)]) * stv[size_t(i % c.N)];
        const double step = M / qmax, v = double(h.host[e]) * qmax / M;
        const bool on_tie = std::fabs((v - std::floor(v)) - 0.5) <= 1e-4 * std::max(1.0, std::fabs(v));
        // The scales themselves come from reductions whose order differs (a few ulps of M), which
        // moves a code q by |q|·ΔM/qmax = |r|·ΔM/M: hence the |r| term.
        if (std::fabs(err - step) <= 1e-5 * step + 5e-7 * std::fabs(r) && on_tie) ++flips;
        else ++bad_state;
      }
    }
    s = one_r.host;
  }
  const bool ok = bad_y == 0 && bad_state == 0 && flips <= std::max<int64_t>(1, S * c.T / 10000);
  std::printf("%-44s %s (token by token: worst y %.3f of the tolerance, %lld one-step flips, %lld others)\n",
              (name + " t-by-t").c_str(), ok ? "ok" : "MISMATCH", worst_y, (long long)flips,
              (long long)bad_state);
  if (!ok) ++g_failures;
}

void test_scan_quants(const ScanQuantCase& c, std::mt19937& rng, bool all_methods) {
  test_scan_quant(c, k::StateQuantPod{}, rng);
  for (int bits : {4, 8, 12}) {  // 12: a width past int8 codes (the sliders reach 2..16)
    for (k::StateQuantMethod m : {k::StateQuantMethod::Tensor, k::StateQuantMethod::Channel,
                                  k::StateQuantMethod::State, k::StateQuantMethod::Dsq}) {
      if (!all_methods && m != k::StateQuantMethod::Dsq) continue;
      k::StateQuantPod q;
      q.bits = bits;
      q.method = m;
      if (m != k::StateQuantMethod::Dsq) { test_scan_quant(c, q, rng); continue; }
      for (k::StateQuantVariant v : {k::StateQuantVariant::AbsMax, k::StateQuantVariant::AbsMaxSqrt,
                                     k::StateQuantVariant::AbsMean, k::StateQuantVariant::AbsMeanSqrt}) {
        if (!all_methods && v != k::StateQuantVariant::AbsMeanSqrt) continue;
        q.variant = v;
        test_scan_quant(c, q, rng);
      }
    }
  }
}

}  // namespace

int main() {
  int devices = 0;
  if (cudaGetDeviceCount(&devices) != cudaSuccess || devices == 0) {
    std::printf("kernel_parity: no CUDA device; skipped\n");
    return 77;
  }
  cudaDeviceProp prop{};
  cudaGetDeviceProperties(&prop, 0);
  std::printf("kernel_parity on %s\n", prop.name);
  std::mt19937 rng(1234);
  for (k::DataType t : {k::DataType::F32, k::DataType::BF16}) {
    test_channel_stats(t, 1, 1, 1, rng);
    test_channel_stats(t, 1037, 37, 53, rng);
    test_channel_stats(t, 4099, 768, 768, rng);
    test_conv(t, 3, 1, 5, 4, 11, rng);
    test_conv(t, 2, 77, 131, 4, 262, rng);
    test_conv(t, 1, 33, 7, 3, 7, rng);
    test_scan_m1(t, 1, 1, 1, 1, 1, rng);
    test_scan_m1(t, 2, 77, 37, 16, 5, rng);
    test_scan_m1(t, 3, 131, 65, 5, 3, rng);
    test_scan_m1(t, 1, 40, 33, 64, 4, rng);
    test_scan_m2(t, 1, 1, 1, 1, 1, 1, rng);
    test_scan_m2(t, 2, 77, 4, 64, 128, 2, rng);
    test_scan_m2(t, 1, 45, 3, 5, 7, 1, rng);
    test_scan_m2(t, 1, 20, 2, 17, 256, 1, rng);
    test_norm(t, t, false, 1, 1, rng);
    test_norm(t, k::DataType::F32, true, 77, 768, rng);
    test_norm(t, t, true, 300, 1000, rng);
    test_norm(t, k::DataType::F32, true, 33, 4096, rng);
    test_norm(t, k::DataType::F32, false, 5, 8191, rng);
  }
  for (auto [k, p] : {std::pair<int64_t, int64_t>{1, 1}, {1, 16}, {40, 1}, {40, 4}, {12, 64}, {40, 64},
                      {40, 128}, {40, 256}})
    test_fwht(33, k, p, rng);
  // The quantized scans: odd sizes with every method, then the sizes of mamba-130m (E 1536,
  // N 16) and mamba2-130m (H 24, P 64, N 128) at 512 tokens.
  for (ScanQuantCase c : {ScanQuantCase{true, 1, 1, 1, 1, 1, 1}, ScanQuantCase{true, 2, 13, 1, 37, 5, 1},
                          ScanQuantCase{true, 1, 29, 1, 37, 5, 1}, ScanQuantCase{true, 1, 17, 1, 300, 16, 1},
                          ScanQuantCase{false, 2, 13, 3, 7, 5, 1}, ScanQuantCase{false, 1, 13, 3, 7, 5, 3},
                          ScanQuantCase{false, 1, 9, 2, 17, 200, 2}})
    test_scan_quants(c, rng, true);
  test_scan_quants(ScanQuantCase{true, 1, 512, 1, 1536, 16, 1}, rng, false);
  test_scan_quants(ScanQuantCase{true, 2, 512, 1, 1536, 16, 1}, rng, false);
  test_scan_quants(ScanQuantCase{false, 1, 512, 24, 64, 128, 1}, rng, false);
  test_scan_quants(ScanQuantCase{true, 1, 64, 1, 2048, 16, 1}, rng, false);  // mamba-370m: 16 rows a thread
  // mamba-2.8b's E 5120 is beyond one block: only a cluster holds it (sm_90 only).
  if (k::scan_quant_cluster_limit() > 1) test_scan_quants(ScanQuantCase{true, 1, 64, 1, 5120, 16, 1}, rng, false);
  // On sm_90 the cases above with few sequences × heads split each matrix over a thread-block
  // cluster; the same shapes again on one block per matrix.
  setenv("MAMBASCOPE_SCAN_CLUSTER", "0", 1);
  test_scan_quants(ScanQuantCase{true, 1, 17, 1, 300, 16, 1}, rng, true);
  test_scan_quants(ScanQuantCase{true, 1, 512, 1, 1536, 16, 1}, rng, false);
  test_scan_quants(ScanQuantCase{false, 1, 512, 24, 64, 128, 1}, rng, false);
  unsetenv("MAMBASCOPE_SCAN_CLUSTER");
  if (cudaDeviceSynchronize() != cudaSuccess) {
    std::printf("kernel_parity: CUDA error %s\n", cudaGetErrorString(cudaGetLastError()));
    return 1;
  }
  std::printf("kernel_parity: %s\n", g_failures ? "FAILED" : "all kernels match their references");
  return g_failures ? 1 : 0;
}
