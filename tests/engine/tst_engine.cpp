// The engine against independent references: the sequential scan against fp64 loops written here
// at odd sizes; whole-sequence vs token-by-token recurrent forwards; observers (shapes, and no
// calls for points nobody wants); the CUDA forward against the CPU one (skipped loudly without a
// GPU). HF parity on real checkpoints lives in tests/cli/ (fixtures made with transformers).
#include <QtTest>

#include <ATen/ATen.h>

#include "core/engine/device.h"
#include "core/engine/mamba_model.h"
#include "core/engine/observer.h"
#include "core/engine/random_init.h"
#include "core/engine/scan_ref.h"

using namespace ms;

namespace {

// fp32 scan arithmetic vs an fp64 reference: relative error a few ulps times the sequence length.
constexpr double kScanTolerance = 2e-5;
// fp32 forward of the same weights in two ways (whole sequence vs recurrent steps).
constexpr double kRecurrentTolerance = 1e-5;
// CUDA vs CPU, both fp32 (TF32 off by default in LibTorch for matmuls): summation order only.
constexpr double kCudaTolerance = 1e-4;

double max_rel(const at::Tensor& a, const at::Tensor& b) {
  at::Tensor bd = b.to(at::kDouble).cpu(), ad = a.to(at::kDouble).cpu();
  return ((ad - bd).abs() / bd.abs().clamp_min(1.0)).max().item<double>();
}

struct CountingObserver : Observer {
  std::vector<QuantPoint> wanted;
  std::map<std::string, std::vector<int64_t>> seen;
  mutable int asked = 0;
  bool wants(const QuantPoint& p) const override {
    ++asked;
    return std::find(wanted.begin(), wanted.end(), p) != wanted.end();
  }
  void collect(const QuantPoint& p, const at::Tensor& v) override {
    seen[p.str()] = std::vector<int64_t>(v.sizes().begin(), v.sizes().end());
  }
};

ModelConfig tiny(Arch arch, int64_t groups = 1) {
  ModelConfig c = find_preset(arch == Arch::Mamba2 ? "tiny-mamba2" : "tiny-mamba").config;
  c.arch = arch;
  c.n_groups = groups;
  c.derive();
  return c;
}

}  // namespace

class TestEngine : public QObject {
  Q_OBJECT
 private Q_SLOTS:
  void scan_mamba1_against_fp64() {
    at::manual_seed(1);
    const int64_t B = 2, T = 7, E = 33, N = 5;
    at::Tensor x = at::randn({B, T, E}), dt = at::rand({B, T, E}) * 0.2 + 0.01;
    at::Tensor A = -at::rand({E, N}) * 4, Bm = at::randn({B, T, N}), Cm = at::randn({B, T, N});
    at::Tensor D = at::randn({E}), s0 = at::randn({B, E, N});
    at::Tensor state = s0.clone(), states;
    at::Tensor y = selective_scan_mamba1(x, dt, A, Bm, Cm, D, state, &states);
    // Independent fp64 loops.
    auto xd = x.to(at::kDouble), dtd = dt.to(at::kDouble), Ad = A.to(at::kDouble);
    auto Bd = Bm.to(at::kDouble), Cd = Cm.to(at::kDouble), Dd = D.to(at::kDouble);
    at::Tensor s = s0.to(at::kDouble), yref = at::zeros({B, T, E}, at::kDouble);
    at::Tensor sref = at::zeros({B, T, E, N}, at::kDouble);
    for (int64_t t = 0; t < T; ++t) {
      at::Tensor d = dtd.select(1, t).unsqueeze(-1);                       // [B, E, 1]
      s = at::exp(d * Ad) * s + d * Bd.select(1, t).unsqueeze(1) * xd.select(1, t).unsqueeze(-1);
      sref.select(1, t).copy_(s);
      yref.select(1, t).copy_((s * Cd.select(1, t).unsqueeze(1)).sum(-1) + Dd * xd.select(1, t));
    }
    QVERIFY2(max_rel(y, yref) < kScanTolerance, qPrintable(QString::number(max_rel(y, yref))));
    QVERIFY(max_rel(states, sref) < kScanTolerance);
    QVERIFY(max_rel(state, s) < kScanTolerance);
  }

  void scan_mamba2_against_fp64() {
    at::manual_seed(2);
    const int64_t B = 1, T = 13, H = 6, P = 3, G = 2, N = 7;
    at::Tensor x = at::randn({B, T, H, P}), dt = at::rand({B, T, H}) * 0.3 + 0.01;
    at::Tensor A = -at::rand({H}) * 3, Bm = at::randn({B, T, G, N}), Cm = at::randn({B, T, G, N});
    at::Tensor D = at::randn({H}), s0 = at::randn({B, H, P, N});
    at::Tensor state = s0.clone(), states;
    at::Tensor y = selective_scan_mamba2(x, dt, A, Bm, Cm, D, state, &states);
    at::Tensor s = s0.to(at::kDouble), yref = at::zeros({B, T, H, P}, at::kDouble);
    for (int64_t t = 0; t < T; ++t)
      for (int64_t h = 0; h < H; ++h) {
        const int64_t g = h / (H / G);
        double d = dt[0][t][h].item<double>(), a = A[h].item<double>();
        at::Tensor sh = s[0][h];                                            // [P, N]
        at::Tensor bx = x[0][t][h].to(at::kDouble).unsqueeze(-1) * Bm[0][t][g].to(at::kDouble);
        sh.copy_(std::exp(d * a) * sh + d * bx);
        yref[0][t][h].copy_((sh * Cm[0][t][g].to(at::kDouble)).sum(-1) +
                            D[h].item<double>() * x[0][t][h].to(at::kDouble));
      }
    QVERIFY2(max_rel(y, yref) < kScanTolerance, qPrintable(QString::number(max_rel(y, yref))));
    QVERIFY(max_rel(state, s) < kScanTolerance);
    QCOMPARE(states.sizes().vec(), (std::vector<int64_t>{B, T, H, P, N}));
  }

  void recurrent_equals_whole_data() {
    QTest::addColumn<int>("arch");
    QTest::addColumn<int>("groups");
    QTest::newRow("mamba1") << int(Arch::Mamba1) << 1;
    QTest::newRow("falcon") << int(Arch::FalconMamba) << 1;
    QTest::newRow("mamba2") << int(Arch::Mamba2) << 1;
    QTest::newRow("mamba2-g2") << int(Arch::Mamba2) << 2;
  }
  void recurrent_equals_whole() {
    QFETCH(int, arch);
    QFETCH(int, groups);
    RandomModel rm = random_model(tiny(Arch(arch), groups), 7, at::kFloat);
    Checkpoint ck = rm.as_checkpoint();
    auto model = MambaModel::load(ck, EngineOptions{});
    at::Tensor ids = at::randint(rm.config.padded_vocab, {2, 11}, at::kLong);
    at::Tensor whole = model->forward(ids);
    RecurrentState st = model->initial_state(2);
    std::vector<at::Tensor> parts{model->forward(ids.narrow(1, 0, 4), &st)};
    for (int64_t t = 4; t < 11; ++t) parts.push_back(model->forward(ids.narrow(1, t, 1), &st));
    at::Tensor stepped = at::cat(parts, 1);
    QCOMPARE(st.tokens_seen, int64_t(11));
    QVERIFY2(max_rel(stepped, whole) < kRecurrentTolerance,
             qPrintable(QString::number(max_rel(stepped, whole))));
  }

  void observers_see_what_they_ask() {
    RandomModel rm = random_model(tiny(Arch::Mamba1), 3, at::kFloat);
    Checkpoint ck = rm.as_checkpoint();
    auto model = MambaModel::load(ck, EngineOptions{});
    const ModelConfig& c = rm.config;
    at::Tensor ids = at::randint(c.padded_vocab, {1, 9}, at::kLong);
    at::Tensor plain = model->forward(ids);
    CountingObserver obs;
    obs.wanted = {{1, Module::XProj, Site::Input}, {0, Module::Ssm, Site::State},
                  {1, Module::DtProj, Site::Input}, {0, Module::OutProj, Site::Input}};
    at::Tensor observed = model->forward(ids, nullptr, &obs);
    QVERIFY(at::equal(plain, observed));  // observing changes nothing
    QCOMPARE(obs.seen.size(), size_t(4));
    QCOMPARE(obs.seen["layers.1.x_proj.input"], (std::vector<int64_t>{1, 9, c.d_inner}));
    QCOMPARE(obs.seen["layers.1.dt_proj.input"], (std::vector<int64_t>{1, 9, c.dt_rank}));
    QCOMPARE(obs.seen["layers.0.out_proj.input"], (std::vector<int64_t>{1, 9, c.d_inner}));
    QCOMPARE(obs.seen["layers.0.ssm.state"], (std::vector<int64_t>{1, 9, c.d_inner, c.d_state}));
    QCOMPARE(obs.seen.count("layers.0.in_proj.input"), size_t(0));
    // One question per activation point per layer, no more.
    QCOMPARE(obs.asked, int(activation_points(c).size()));
    QCOMPARE(model->weight({1, Module::XProj, Site::Weight}).sizes().vec(),
             (std::vector<int64_t>{c.x_proj_rows(), c.d_inner}));
  }

  void out_of_vocabulary_ids_refused() {
    RandomModel rm = random_model(tiny(Arch::Mamba2), 3, at::kFloat);
    Checkpoint ck = rm.as_checkpoint();
    auto model = MambaModel::load(ck, EngineOptions{});
    at::Tensor ids = at::full({1, 3}, rm.config.padded_vocab, at::kLong);
    QVERIFY_THROWS_EXCEPTION(std::exception, model->forward(ids));
  }

  void cuda_matches_cpu() {
    std::string why;
    if (!cuda_available(&why)) QSKIP(qPrintable("NO GPU: CUDA forward not tested here (" +
                                                QString::fromStdString(why) + ")"));
    for (const char* preset : {"tiny-mamba", "tiny-mamba2"}) {
      RandomModel rm = random_model(find_preset(preset).config, 5, at::kFloat);
      Checkpoint ck = rm.as_checkpoint();
      EngineOptions gpu;
      gpu.device = c10::Device(c10::kCUDA, 0);
      auto cpu_model = MambaModel::load(ck, EngineOptions{});
      auto gpu_model = MambaModel::load(ck, gpu);
      at::Tensor ids = at::randint(rm.config.padded_vocab, {2, 37}, at::kLong);
      double err = max_rel(gpu_model->forward(ids), cpu_model->forward(ids));
      QVERIFY2(err < kCudaTolerance, qPrintable(QString("%1: %2").arg(preset).arg(err)));
    }
  }
};

QTEST_APPLESS_MAIN(TestEngine)
#include "tst_engine.moc"
