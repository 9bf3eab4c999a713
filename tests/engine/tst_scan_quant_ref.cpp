// kernels/scan_quant_ref.cpp (the CPU reference the CUDA scan_quant kernels are checked against
// on the GPU host, tests/gpu/kernel_parity.cpp) against the definitions it stands for:
// scan_ref.h's selective_scan_mamba{1,2}_quant with state_fake_quant as the quantizer, every
// state method and DSQ variant, and the float scans at bits 16. So: kernel == reference ==
// definition.
//
// Tolerances: y and unquantized values 1e-6 relative (the exponentials are glibc's here and
// ATen's vectorised ones there: last-bit differences). A quantized state element may land one
// step (M_ij / qmax) away only where qmax·h/M sits within 1e-4 of a rounding tie; elsewhere it
// must agree to 1e-6. Quantized scans are compared token by token from the same state (teacher
// forcing), so one such tie cannot spread to later tokens; the reference's own whole-sequence run
// must then equal its token-by-token run exactly.
#include <QtTest>

#include <cmath>

#include <ATen/ATen.h>

#include "core/engine/fake_quant.h"
#include "core/engine/scan_kernel.h"
#include "core/engine/scan_ref.h"
#include "core/quant/dsq.h"
#include "kernels/scan_quant.h"

namespace k = ms::kernels;

namespace {

constexpr double kRtol = 1e-6;
constexpr double kTieBand = 1e-4;

double worst(const at::Tensor& a, const at::Tensor& b, double rtol) {
  at::Tensor ad = a.to(at::kDouble), bd = b.to(at::kDouble);
  const double atol = rtol * std::max(1e-30, bd.abs().max().item<double>());
  return ((ad - bd).abs() / (atol + rtol * bd.abs())).max().item<double>();
}

struct Quantizer {
  ms::StateQuantSpec spec;
  k::StateQuantPod pod;
  std::string name;
};

std::vector<Quantizer> quantizers(int bits) {
  std::vector<Quantizer> out;
  const std::pair<ms::StateMethod, k::StateQuantMethod> methods[] = {
      {ms::StateMethod::Tensor, k::StateQuantMethod::Tensor},
      {ms::StateMethod::Channel, k::StateQuantMethod::Channel},
      {ms::StateMethod::State, k::StateQuantMethod::State}};
  for (auto [m, km] : methods) {
    Quantizer q;
    q.spec.bits = q.pod.bits = bits;
    q.spec.method = m;
    q.pod.method = km;
    q.name = q.spec.describe();
    out.push_back(q);
  }
  const std::pair<ms::DsqVariant, k::StateQuantVariant> variants[] = {
      {ms::DsqVariant::AbsMax, k::StateQuantVariant::AbsMax},
      {ms::DsqVariant::AbsMaxSqrt, k::StateQuantVariant::AbsMaxSqrt},
      {ms::DsqVariant::AbsMean, k::StateQuantVariant::AbsMean},
      {ms::DsqVariant::AbsMeanSqrt, k::StateQuantVariant::AbsMeanSqrt}};
  for (auto [v, kv] : variants) {
    Quantizer q;
    q.spec.bits = q.pod.bits = bits;
    q.spec.method = ms::StateMethod::Dsq;
    q.pod.method = k::StateQuantMethod::Dsq;
    q.spec.variant = v;
    q.pod.variant = kv;
    q.name = q.spec.describe();
    out.push_back(q);
  }
  return out;
}

// Random scan inputs of scan_ref's shapes; M2 when H > 0.
struct Inputs {
  at::Tensor x, dt, A, Bm, Cm, D, state;
};

Inputs mamba1_inputs(int64_t B, int64_t T, int64_t E, int64_t N) {
  Inputs in;
  in.x = at::randn({B, T, E});
  in.dt = at::softplus(at::randn({B, T, E}) - 1.0);
  in.A = -at::exp(at::randn({E, N}) * 0.5);
  in.Bm = at::randn({B, T, N});
  in.Cm = at::randn({B, T, N});
  in.D = at::randn({E});
  in.state = at::randn({B, E, N});
  return in;
}

Inputs mamba2_inputs(int64_t B, int64_t T, int64_t H, int64_t P, int64_t N, int64_t G) {
  Inputs in;
  in.x = at::randn({B, T, H, P});
  in.dt = at::softplus(at::randn({B, T, H}) - 1.0);
  in.A = -at::exp(at::randn({H}) * 0.5);
  in.Bm = at::randn({B, T, G, N});
  in.Cm = at::randn({B, T, G, N});
  in.D = at::randn({H});
  in.state = at::randn({B, H, P, N});
  return in;
}

bool is_m2(const Inputs& in) { return in.x.dim() == 4; }

// The reference's scan over `in` (state copied), filling y, the final state and every state.
void run_ref(const Inputs& in, const k::StateQuantPod& q, at::Tensor& y, at::Tensor& state,
             at::Tensor& states) {
  state = in.state.clone();
  y = at::empty_like(in.x);
  std::vector<int64_t> shape = state.sizes().vec();
  shape.insert(shape.begin() + 1, in.x.size(1));
  states = at::empty(shape);
  if (is_m2(in)) {
    k::ScanQuantM2Args a;
    a.batch = in.x.size(0); a.seqlen = in.x.size(1); a.H = in.x.size(2); a.P = in.x.size(3);
    a.N = in.Bm.size(3); a.G = in.Bm.size(2);
    a.x = in.x.data_ptr<float>(); a.dt = in.dt.data_ptr<float>(); a.A = in.A.data_ptr<float>();
    a.Bm = in.Bm.data_ptr<float>(); a.Cm = in.Cm.data_ptr<float>(); a.D = in.D.data_ptr<float>();
    a.state = state.data_ptr<float>(); a.y = y.data_ptr<float>(); a.states = states.data_ptr<float>();
    a.quant = q;
    k::scan_quant_m2_ref(a);
  } else {
    k::ScanQuantM1Args a;
    a.batch = in.x.size(0); a.seqlen = in.x.size(1); a.E = in.x.size(2); a.N = in.A.size(1);
    a.x = in.x.data_ptr<float>(); a.dt = in.dt.data_ptr<float>(); a.A = in.A.data_ptr<float>();
    a.Bm = in.Bm.data_ptr<float>(); a.Cm = in.Cm.data_ptr<float>(); a.D = in.D.data_ptr<float>();
    a.state = state.data_ptr<float>(); a.y = y.data_ptr<float>(); a.states = states.data_ptr<float>();
    a.quant = q;
    k::scan_quant_m1_ref(a);
  }
}

// The definition: scan_ref's quantized scan with state_fake_quant (or the float scan at 16 bits).
at::Tensor run_definition(const Inputs& in, const ms::StateQuantSpec& spec, at::Tensor& state,
                          at::Tensor& states, bool quantized_path = true) {
  state = in.state.clone();
  auto q = [spec](const at::Tensor& s) { return ms::state_fake_quant(s, spec); };
  if (is_m2(in))
    return quantized_path
        ? ms::selective_scan_mamba2_quant(in.x, in.dt, in.A, in.Bm, in.Cm, in.D, state, &states, q)
        : ms::selective_scan_mamba2(in.x, in.dt, in.A, in.Bm, in.Cm, in.D, state, &states);
  return quantized_path
      ? ms::selective_scan_mamba1_quant(in.x, in.dt, in.A, in.Bm, in.Cm, in.D, state, &states, q)
      : ms::selective_scan_mamba1(in.x, in.dt, in.A, in.Bm, in.Cm, in.D, state, &states);
}

// Token t alone, starting from `state`.
Inputs one_token(const Inputs& in, int64_t t, const at::Tensor& state) {
  Inputs o;
  o.x = in.x.narrow(1, t, 1).contiguous();
  o.dt = in.dt.narrow(1, t, 1).contiguous();
  o.Bm = in.Bm.narrow(1, t, 1).contiguous();
  o.Cm = in.Cm.narrow(1, t, 1).contiguous();
  o.A = in.A;
  o.D = in.D;
  o.state = state.clone();
  return o;
}

// Quantized states `got` vs `want` (both Q(h) of nearly the same h [..., R, N]): equal to kRtol,
// or exactly one step apart where h sits on a tie. Returns the number of tie flips; a failure
// anywhere else is reported through `bad`.
int64_t compare_quantized(const at::Tensor& got, const at::Tensor& want, const at::Tensor& h,
                          const Quantizer& q, int64_t* bad) {
  const ms::StateScales sc = ms::state_scales(h, q.spec);
  const double qmax = double((1 << (q.spec.bits - 1)) - 1);
  const at::Tensor m = (sc.channel * sc.state).to(at::kDouble);
  const at::Tensor diff = (got.to(at::kDouble) - want.to(at::kDouble)).abs();
  const at::Tensor step = m / qmax;
  const at::Tensor v = h.to(at::kDouble) * qmax / m;
  const at::Tensor tie_dist = ((v - v.floor()) - 0.5).abs();
  const at::Tensor close = diff <= kRtol * want.to(at::kDouble).abs() + 1e-30;
  const at::Tensor one_step = (diff - step).abs() <= 1e-5 * step;
  const at::Tensor on_tie = tie_dist <= kTieBand * at::clamp_min(v.abs(), 1.0);
  const at::Tensor flip = at::logical_not(close) & one_step & on_tie;
  *bad += (at::logical_not(close) & at::logical_not(flip)).sum().item<int64_t>();
  return flip.sum().item<int64_t>();
}

void check_quantized(const Inputs& in, const Quantizer& q, const char* label) {
  int64_t bad = 0, flips = 0;
  const int64_t T = in.x.size(1);
  at::Tensor s = in.state.clone();
  std::vector<at::Tensor> ys, sts;
  double worst_y = 0;
  for (int64_t t = 0; t < T; ++t) {
    const Inputs o = one_token(in, t, s);
    at::Tensor y_ref, st_ref, sts_ref, st_def, sts_def, st_h, sts_h;
    run_ref(o, q.pod, y_ref, st_ref, sts_ref);
    const at::Tensor y_def = run_definition(o, q.spec, st_def, sts_def);
    run_definition(o, q.spec, st_h, sts_h, /*quantized_path=*/false);  // h_t unquantized
    worst_y = std::max(worst_y, worst(y_ref, y_def, kRtol));
    flips += compare_quantized(st_ref, st_def, st_h, q, &bad);
    ys.push_back(y_ref);
    sts.push_back(sts_ref);
    s = st_ref;  // teacher forcing: both go on from the reference's state
  }
  const std::string what = std::string(label) + " " + q.name;
  qInfo("%s: worst y %.3f of 1e-6, %lld tie flips, %lld mismatches", what.c_str(), worst_y,
        (long long)flips, (long long)bad);
  QVERIFY2(worst_y <= 1.0, what.c_str());
  QVERIFY2(bad == 0, what.c_str());
  QVERIFY2(flips <= std::max<int64_t>(1, s.numel() * T / 1000), what.c_str());
  // The whole sequence at once equals the token-by-token chain exactly (same code, same order).
  at::Tensor y_all, st_all, sts_all;
  run_ref(in, q.pod, y_all, st_all, sts_all);
  QVERIFY2(at::equal(y_all, at::cat(ys, 1)), what.c_str());
  QVERIFY2(at::equal(sts_all, at::cat(sts, 1)), what.c_str());
  QVERIFY2(at::equal(st_all, s), what.c_str());
}

}  // namespace

class TestScanQuantRef : public QObject {
  Q_OBJECT

 private Q_SLOTS:
  void initTestCase() { at::manual_seed(11); }

  void matrix_quantizer_equals_state_fake_quant() {
    // [3 matrices, R 37, N 5] spread over decades, with an all-zero row and column (scale 1).
    at::Tensor s = at::randn({3, 37, 5}) * at::pow(10.0, at::randint(-3, 3, {3, 37, 5}).to(at::kFloat));
    s.select(1, 4).zero_();
    s.select(2, 2).zero_();
    for (int bits : {2, 4, 8, 12, 15})
      for (const Quantizer& q : quantizers(bits)) {
        at::Tensor got = s.clone();
        for (int64_t m = 0; m < 3; ++m)
          k::state_quant_matrix_ref(got.data_ptr<float>() + m * 37 * 5, 37, 5, q.pod);
        const at::Tensor want = ms::state_fake_quant(s, q.spec);
        int64_t bad = 0;
        const int64_t flips = compare_quantized(got, want, s, q, &bad);
        QVERIFY2(bad == 0, q.name.c_str());
        QVERIFY2(flips <= 1, q.name.c_str());
        QVERIFY2(!at::equal(got, s), q.name.c_str());  // it did quantize
      }
  }

  void bits16_equals_the_float_scans() {
    k::StateQuantPod none;  // bits 16
    for (const Inputs& in : {mamba1_inputs(2, 13, 37, 5), mamba1_inputs(1, 1, 1, 1),
                             mamba2_inputs(2, 13, 3, 7, 5, 1), mamba2_inputs(2, 13, 3, 7, 5, 3)}) {
      at::Tensor y, st, sts, st_def, sts_def;
      run_ref(in, none, y, st, sts);
      const at::Tensor y_def = run_definition(in, ms::StateQuantSpec{}, st_def, sts_def, false);
      QVERIFY(worst(y, y_def, kRtol) <= 1.0);
      QVERIFY(worst(st, st_def, kRtol) <= 1.0);
      QVERIFY(worst(sts, sts_def, kRtol) <= 1.0);
    }
  }

  void mamba1_quantized_equals_scan_ref() {
    const Inputs in = mamba1_inputs(2, 13, 37, 5);
    for (int bits : {4, 8, 12})
      for (const Quantizer& q : quantizers(bits)) check_quantized(in, q, "mamba1 E37 N5");
    const Inputs wide = mamba1_inputs(1, 9, 33, 16);
    for (const Quantizer& q : quantizers(8)) check_quantized(wide, q, "mamba1 E33 N16");
  }

  void mamba2_quantized_equals_scan_ref() {
    for (int64_t G : {1, 3}) {
      const Inputs in = mamba2_inputs(2, 13, 3, 7, 5, G);
      for (int bits : {4, 8, 12})
        for (const Quantizer& q : quantizers(bits))
          check_quantized(in, q, G == 1 ? "mamba2 H3 P7 N5 G1" : "mamba2 H3 P7 N5 G3");
    }
  }

  // The engine's door (scan_kernel.h): the spec reaches the kernel as the same quantizer, and a
  // CPU scan never takes the kernel (the CPU path stays scan_ref's).
  void engine_hands_the_quantizer_over() {
    for (int bits : {4, 8})
      for (const Quantizer& q : quantizers(bits)) {
        const k::StateQuantPod pod = ms::state_quant_pod(q.spec);
        QCOMPARE(pod.bits, q.pod.bits);
        QVERIFY(pod.method == q.pod.method);
        if (q.spec.method == ms::StateMethod::Dsq) QVERIFY(pod.variant == q.pod.variant);
        const ms::QuantPoint state{2, ms::Module::Ssm, ms::Site::State};
        const ms::QuantPoint input{2, ms::Module::InProj, ms::Site::Input};
        ms::PointFakeQuant fq(ms::ActQuantSpec{}, q.spec, {state});
        QVERIFY(fq.state_spec(state).has_value());
        QCOMPARE(fq.state_spec(state)->bits, bits);
        QVERIFY(!fq.state_spec(input).has_value());
        QVERIFY(!fq.state_spec(ms::QuantPoint{3, ms::Module::Ssm, ms::Site::State}).has_value());
      }
    QCOMPARE(ms::state_quant_pod(ms::StateQuantSpec{}).bits, 16);
    Inputs in = mamba1_inputs(1, 3, 7, 5);
    at::Tensor st = in.state.clone();
    QVERIFY(!ms::scan_kernel_mamba1(in.x, in.dt, in.A, in.Bm, in.Cm, in.D, st, nullptr, ms::StateQuantSpec{}).defined());
    QVERIFY(at::equal(st, in.state));
  }

  void support_limits() {
    k::StateQuantPod dsq;
    dsq.bits = 8;
    QVERIFY(k::scan_quant_cuda_supports(1536, 16, dsq));   // mamba-130m
    QVERIFY(k::scan_quant_cuda_supports(2048, 16, dsq));   // mamba-370m
    QVERIFY(!k::scan_quant_cuda_supports(2049, 16, dsq));
    QVERIFY(k::scan_quant_cuda_supports(64, 128, dsq));    // mamba2-130m
    QVERIFY(!k::scan_quant_cuda_supports(5120, 16, dsq));  // one block cannot hold mamba-2.8b's
    QVERIFY(k::scan_quant_cuda_supports(5120, 16, dsq, 8));  // a cluster of 8 blocks can (sm_90)
    QVERIFY(k::scan_quant_cuda_supports(16384, 16, dsq, 8));
    QVERIFY(!k::scan_quant_cuda_supports(16385, 16, dsq, 8));
    QVERIFY(!k::scan_quant_cuda_supports(5120, 16, dsq, 2));
    k::StateQuantPod channel = dsq;
    channel.method = k::StateQuantMethod::Channel;
    QVERIFY(k::scan_quant_cuda_supports(5120, 16, channel));  // rows independent
    QVERIFY(k::scan_quant_cuda_supports(5120, 16, k::StateQuantPod{}));
    QVERIFY(!k::scan_quant_cuda_supports(64, 257, k::StateQuantPod{}));
  }
};

QTEST_GUILESS_MAIN(TestScanQuantRef)
#include "tst_scan_quant_ref.moc"
