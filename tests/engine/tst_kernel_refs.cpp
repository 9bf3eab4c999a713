// The CPU references of kernels/ (which the CUDA kernels are checked against on the GPU host,
// tests/gpu/kernel_parity.cpp) checked here against the definitions they stand for: the
// observer path's statistics (CalibObserver), at::conv1d + SiLU, and the sequential scans of
// core/engine/scan_ref.h with every state materialised. So: kernel == reference == definition.
#include <QtTest>

#include <ATen/ATen.h>

#include "core/engine/calib_stats.h"
#include "core/engine/scan_ref.h"
#include "kernels/calib_kernels.h"
#include "kernels/hist_bins.h"

namespace k = ms::kernels;

namespace {

// Largest |a - b| / (atol + rtol |b|) over the elements: <= 1 passes.
double worst(const at::Tensor& a, const at::Tensor& b, double atol, double rtol) {
  at::Tensor ad = a.to(at::kDouble), bd = b.to(at::kDouble);
  return ((ad - bd).abs() / (atol + rtol * bd.abs())).max().item<double>();
}

struct HostStats {
  at::Tensor absmax, min, max, sum, sumsq, hist;
  explicit HostStats(int64_t C)
      : absmax(at::zeros({C})), min(at::full({C}, INFINITY)), max(at::full({C}, -INFINITY)),
        sum(at::zeros({C}, at::kDouble)), sumsq(at::zeros({C}, at::kDouble)),
        hist(at::zeros({k::kHistBins}, at::kLong)) {}
  k::ChannelStats view() {
    return {absmax.data_ptr<float>(), min.data_ptr<float>(), max.data_ptr<float>(), sum.data_ptr<double>(),
            sumsq.data_ptr<double>(), reinterpret_cast<unsigned long long*>(hist.data_ptr<int64_t>())};
  }
};

}  // namespace

class TestKernelRefs : public QObject {
  Q_OBJECT

 private Q_SLOTS:
  void initTestCase() { at::manual_seed(7); }

  void channel_stats_equal_the_observer() {
    // Values spread over many decades (and exact zeros) so that most histogram bins are hit.
    at::Tensor x = at::randn({517, 37}) * at::pow(10.0, at::randint(-9, 7, {517, 37}).to(at::kFloat));
    x.index_put_({at::indexing::Slice(0, 3)}, 0.0f);
    HostStats s(37);
    k::channel_stats_ref(x.data_ptr<float>(), k::DataType::F32, 517, 37, 37, s.view());
    ms::CalibStats cs;
    ms::CalibObserver obs(cs, false);
    ms::QuantPoint p{0, ms::Module::XProj, ms::Site::Input};
    obs.collect(p, x.unsqueeze(0));
    const ms::ActivationStats& a = cs.activations.at(p.str());
    QVERIFY(at::equal(s.absmax, a.absmax));
    QVERIFY(at::equal(s.min, a.min));
    QVERIFY(at::equal(s.max, a.max));
    QVERIFY(worst(s.sum, a.sum, 1e-300, 1e-12) <= 1.0);
    QVERIFY(worst(s.sumsq, a.sumsq, 1e-300, 1e-12) <= 1.0);
    QVERIFY(at::equal(s.hist, a.hist));                 // bin for bin
    QVERIFY(a.hist.gt(0).sum().item<int64_t>() > 100);  // the spread reached most bins
  }

  void channel_stats_read_a_column_slice_in_bf16() {
    // [rows, 2C] bf16, the stats of the second half (as the kernels read z or B/C slices).
    at::Tensor wide = at::randn({29, 10}).to(at::kBFloat16);
    HostStats s(5);
    k::channel_stats_ref(wide.data_ptr<at::BFloat16>() + 5, k::DataType::BF16, 29, 5, 10, s.view());
    at::Tensor half = wide.narrow(1, 5, 5).to(at::kFloat);
    QVERIFY(at::equal(s.absmax, half.abs().amax(0)));
    QVERIFY(worst(s.sum, half.to(at::kDouble).sum(0), 1e-12, 1e-12) <= 1.0);
  }

  void conv1d_silu_equals_aten() {
    const int64_t B = 2, T = 9, C = 7, K = 4, ld = 11;
    at::Tensor x = at::randn({B, T, ld}), w = at::randn({C, K}), bias = at::randn({C});
    at::Tensor y = at::empty({B, T, C});
    k::ConvArgs a{B, T, C, K, k::DataType::F32, x.data_ptr<float>(), ld, w.data_ptr<float>(),
                  bias.data_ptr<float>(), y.data_ptr<float>()};
    k::conv1d_silu_ref(a);
    at::Tensor xin = at::constant_pad_nd(x.narrow(2, 0, C).transpose(1, 2), {K - 1, 0});  // [B, C, K-1+T]
    at::Tensor ref = at::silu(at::conv1d(xin, w.unsqueeze(1), bias, at::IntArrayRef{1}, at::IntArrayRef{0},
                                         at::IntArrayRef{1}, C)).transpose(1, 2);
    QVERIFY2(worst(y, ref, 1e-6, 1e-5) <= 1.0, "conv1d_silu_ref differs from at::conv1d + silu");
  }

  void scan_m1_equals_the_sequential_scan() {
    const int64_t B = 2, T = 13, E = 5, N = 3;
    at::Tensor x = at::randn({B, T, E}), dt_raw = at::randn({B, T, E}), bias = at::randn({E});
    at::Tensor A = -at::rand({E, N}) * 3 - 0.1, D = at::randn({E});
    at::Tensor Bm = at::randn({B, T, N}), Cm = at::randn({B, T, N}), z = at::randn({B, T, E});
    at::Tensor y = at::empty({B, T, E});
    at::Tensor sabs = at::zeros({E, N}), ssum = at::zeros({E, N}, at::kDouble);
    HostStats ys(E);
    k::ScanM1Args a;
    a.batch = B; a.seqlen = T; a.E = E; a.N = N; a.dtype = k::DataType::F32;
    a.x = x.data_ptr(); a.ldx = E; a.dt_raw = dt_raw.data_ptr(); a.lddt = E;
    a.dt_bias = bias.data_ptr<float>(); a.A = A.data_ptr<float>();
    a.Bm = Bm.data_ptr(); a.Cm = Cm.data_ptr(); a.ldbc = N; a.D = D.data_ptr<float>();
    a.z = z.data_ptr(); a.ldz = E; a.y = y.data_ptr();
    a.state_absmax = sabs.data_ptr<float>(); a.state_sum_abs = ssum.data_ptr<double>();
    a.y_stats = ys.view();
    k::scan_m1_ref(a);

    at::Tensor dt = at::softplus(dt_raw + bias, 1, 20);
    at::Tensor state = at::zeros({B, E, N}), states;
    at::Tensor yr = ms::selective_scan_mamba1(x, dt, A, Bm, Cm, D, state, &states) * at::silu(z);
    QVERIFY2(worst(y, yr, 1e-6, 1e-5) <= 1.0, "gated y");
    at::Tensor s_abs = states.abs().flatten(0, 1);  // [B*T, E, N]
    QVERIFY(worst(sabs, s_abs.amax(0), 1e-7, 1e-5) <= 1.0);
    QVERIFY(worst(ssum, s_abs.to(at::kDouble).sum(0), 1e-7, 1e-5) <= 1.0);
    QVERIFY(worst(ys.absmax, yr.abs().flatten(0, 1).amax(0), 1e-6, 1e-5) <= 1.0);
    QCOMPARE(ys.hist.sum().item<int64_t>(), B * T * E);
  }

  void scan_m2_equals_the_sequential_scan() {
    const int64_t B = 2, T = 11, H = 4, P = 3, N = 5, G = 2;
    at::Tensor x = at::randn({B, T, H, P}), dt_raw = at::randn({B, T, H}), bias = at::randn({H});
    at::Tensor A = -at::rand({H}) * 3 - 0.1, D = at::randn({H});
    at::Tensor Bm = at::randn({B, T, G, N}), Cm = at::randn({B, T, G, N});
    at::Tensor y = at::empty({B, T, H, P});
    at::Tensor sabs = at::zeros({H, P, N}), ssum = at::zeros({H, P, N}, at::kDouble);
    k::ScanM2Args a;
    a.batch = B; a.seqlen = T; a.H = H; a.P = P; a.N = N; a.G = G; a.dtype = k::DataType::F32;
    a.x = x.data_ptr(); a.ldx = H * P; a.dt_raw = dt_raw.data_ptr(); a.lddt = H;
    a.dt_bias = bias.data_ptr<float>(); a.dt_min = 0.0f; a.dt_max = INFINITY;
    a.A = A.data_ptr<float>(); a.Bm = Bm.data_ptr(); a.Cm = Cm.data_ptr(); a.ldbc = G * N;
    a.D = D.data_ptr<float>(); a.y = y.data_ptr<float>();
    a.state_absmax = sabs.data_ptr<float>(); a.state_sum_abs = ssum.data_ptr<double>();
    k::scan_m2_ref(a);

    at::Tensor dt = at::softplus(dt_raw + bias, 1, 20);
    at::Tensor state = at::zeros({B, H, P, N}), states;
    at::Tensor yr = ms::selective_scan_mamba2(x, dt, A, Bm, Cm, D, state, &states);
    QVERIFY2(worst(y, yr, 1e-6, 1e-5) <= 1.0, "y");
    at::Tensor s_abs = states.abs().flatten(0, 1);  // [B*T, H, P, N]
    QVERIFY(worst(sabs, s_abs.amax(0), 1e-7, 1e-5) <= 1.0);
    QVERIFY(worst(ssum, s_abs.to(at::kDouble).sum(0), 1e-7, 1e-5) <= 1.0);
  }

  void residual_rmsnorm_equals_the_engine_norm() {
    // bf16 compute with an fp32 residual (residual_in_fp32): r += out, then the engine's
    // rms_norm(r.to(bf16), weight) (mamba_model.cpp), op for op in ATen.
    const int64_t rows = 6, d = 37;
    at::Tensor r = at::randn({rows, d}) * 3, out = at::randn({rows, d}).to(at::kBFloat16);
    at::Tensor w = at::randn({d}).to(at::kBFloat16), h = at::empty({rows, d}, at::kBFloat16);
    at::Tensor r_expected = r + out.to(at::kFloat);
    HostStats s(d);
    k::NormArgs a;
    a.rows = rows; a.d = d; a.dtype = k::DataType::BF16; a.residual = k::DataType::F32;
    a.r = r.data_ptr(); a.out = out.data_ptr(); a.weight = w.data_ptr(); a.eps = 1e-5;
    a.h = h.data_ptr(); a.h_stats = s.view();
    k::residual_rmsnorm_ref(a);
    QVERIFY(at::equal(r, r_expected));
    at::Tensor x = r_expected.to(at::kBFloat16), xf = x.to(at::kFloat);
    at::Tensor ref = w * (xf * at::rsqrt(xf.pow(2).mean(-1, true) + 1e-5)).to(at::kBFloat16);
    // Summation order of the mean may move a value by one bf16 step (2^-8 relative), no more.
    QVERIFY2(worst(h.to(at::kFloat), ref.to(at::kFloat), 1e-6, 1.0 / 128) <= 1.0, "h");
    QVERIFY(at::equal(s.absmax, h.to(at::kFloat).abs().amax(0)));
    QCOMPARE(s.hist.sum().item<int64_t>(), rows * d);
  }

  void histogram_bins_agree_with_the_edges_at_the_edges() {
    // Values just below, at and above a few edges: the log10 guess is corrected exactly.
    const double* e = k::hist_edges();
    for (int i : {1, 2, 17, 100, 224}) {
      const float at_edge = std::nextafter(float(e[i]), INFINITY);  // first float >= edge (up to rounding)
      const int b = k::hist_bin(at_edge, e);
      QVERIFY(double(at_edge) >= e[b] && (b == k::kHistBins - 1 || double(at_edge) < e[b + 1]));
      const float below = std::nextafter(float(e[i]), 0.0f);
      const int c = k::hist_bin(below, e);
      QVERIFY(double(below) >= e[c] && double(below) < e[c + 1]);
    }
    // The float-threshold form the kernels use decides exactly as the fp64 edges do.
    at::Tensor v = at::randn({200000}) * at::pow(10.0, at::randint(-10, 8, {200000}).to(at::kFloat));
    const float* pv = v.data_ptr<float>();
    for (int64_t i = 0; i < v.numel(); ++i)
      QCOMPARE(k::hist_bin_f(pv[i], k::hist_thresholds()), k::hist_bin(pv[i], e));
    for (int i = 1; i < k::kHistBins; ++i) {
      const float t = k::hist_thresholds()[i];
      QCOMPARE(k::hist_bin_f(t, k::hist_thresholds()), k::hist_bin(t, e));
      const float below = std::nextafter(t, 0.0f);
      QCOMPARE(k::hist_bin_f(below, k::hist_thresholds()), k::hist_bin(below, e));
    }
    QCOMPARE(k::hist_bin(0.0f, e), 0);
    QCOMPARE(k::hist_bin(1e30f, e), k::kHistBins - 1);
    QCOMPARE(k::hist_bin(NAN, e), k::kHistBins - 1);
  }
};

QTEST_APPLESS_MAIN(TestKernelRefs)
#include "tst_kernel_refs.moc"
