// Offline transforms on tiny random models (core/quant/{rotation,smoothquant,smooth_fused,outliers,
// pipeline}.h). The key property of every offline transform: the transformed model in fp32 gives
// the same logits as the original. Each is checked on tiny-mamba, tiny-mamba2 and a falcon_mamba
// variant of tiny-mamba (weightless RMSNorms on B, C, dt), with random norm weights so that the
// norm fusion matters, and each has a negative control showing the comparison can fail. Then
// what the transforms are for, measured on recalibrated statistics: smoothing divides a point's
// channel absmax by s, state smoothing divides the state by s, KLT leaves every residual channel
// with the same variance. Exact hand cases for the SmoothQuant scales, the outlier rule and the
// method-chain parser.
//
// Tolerance (kLogitTol): logits are compared as max |Δ| / max |logit|. Rotated weights are
// rounded to fp32 once (2^-24 relative) and the forward's dot products run over ≤ 128 terms in two
// layers, so the expected relative difference is ~1e-6; 2e-5 leaves a 20x margin, while every
// negative control below must move them by more than 50x that (1e-3).
#include <QtTest>

#include <algorithm>
#include <cmath>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <ATen/ATen.h>

#include "core/engine/calibration.h"
#include "core/engine/mamba_model.h"
#include "core/engine/random_init.h"
#include "core/engine/weight_set.h"
#include "core/quant/hadamard.h"
#include "core/quant/outliers.h"
#include "core/quant/pipeline.h"
#include "core/quant/rotation.h"
#include "core/quant/smooth_fused.h"
#include "core/quant/smoothquant.h"
#include "core/util/error.h"

using namespace ms;
using at::indexing::Slice;

namespace {

constexpr double kLogitTol = 2e-5;

// tiny-mamba (d 64, E 128, N 16, R 4), tiny-mamba2 (d 64, E 128, H 8 × P 16, N 32), or
// tiny-mamba with falcon_mamba's architecture; norm weights drawn from [0.5, 1.5].
WeightSet tiny(const QString& name, uint64_t seed = 3) {
  const bool falcon = name == "falcon";
  RandomModel m = random_model(find_preset(falcon ? "tiny-mamba" : name.toStdString()).config, seed, at::kFloat);
  WeightSet w{m.config, m.tensors};
  if (falcon) w.config.arch = Arch::FalconMamba;
  at::manual_seed(seed);
  for (int64_t i = 0; i < w.config.n_layer; ++i)
    w.set(layer_key(i, "norm.weight"), 0.5f + at::rand({w.config.d_model}));
  w.set("norm_f.weight", 0.5f + at::rand({w.config.d_model}));
  if (w.config.is_mamba2())
    for (int64_t i = 0; i < w.config.n_layer; ++i)
      w.set(layer_key(i, "gated_norm.weight"), 0.5f + at::rand({w.config.d_inner}));
  return w;
}

WeightSet copy(const WeightSet& w) {
  WeightSet c{w.config, {}};
  for (const auto& [k, t] : w.tensors) c.tensors.emplace_back(k, t.clone());
  return c;
}

at::Tensor ids_for(const WeightSet& w) {
  at::manual_seed(99);
  return at::randint(0, w.config.vocab_size, {2, 24}, at::kLong);
}

at::Tensor logits(const WeightSet& w) {
  return MambaModel::load(w, EngineOptions{})->forward(ids_for(w));
}

double rel_diff(const at::Tensor& a, const at::Tensor& b) {
  return (a - b).abs().max().item<double>() / b.abs().max().item<double>();
}

bool same_logits(const WeightSet& transformed, const at::Tensor& reference, const char* what) {
  const double d = rel_diff(logits(transformed), reference);
  qInfo("%s: max |Δlogit| / max |logit| = %.3g", what, d);
  if (d <= kLogitTol) return true;
  qWarning("%s: max |Δlogit| / max |logit| = %g > %g", what, d, kLogitTol);
  return false;
}

// A negative control: a half-done transform must move the logits by far more than kLogitTol.
bool control_moves(const WeightSet& broken, const at::Tensor& reference, const char* what) {
  const double d = rel_diff(logits(broken), reference);
  qInfo("control, %s: max |Δlogit| / max |logit| = %.3g", what, d);
  return d > 50 * kLogitTol;
}

CalibStats stats_of(const WeightSet& w, bool covariance) {
  auto model = MambaModel::load(w, EngineOptions{});
  at::manual_seed(5);
  std::vector<CalibText> texts;
  for (int k = 0; k < 3; ++k) {
    at::Tensor ids = at::randint(0, w.config.vocab_size, {64}, at::kInt);
    texts.push_back({"random " + std::to_string(k), "", std::vector<int32_t>(ids.data_ptr<int32_t>(), ids.data_ptr<int32_t>() + 64)});
  }
  CalibOptions o;
  o.seq_len = 32;
  o.batch = 2;
  o.covariance = covariance;
  return calibrate(*model, texts, o);
}

at::Tensor channel_variance(const CalibStats& s, const std::string& point) {
  const ActivationStats& a = s.activations.at(point);
  at::Tensor n = a.count.to(at::kDouble);
  at::Tensor mean = a.sum / n;
  return a.sumsq / n - mean * mean;
}

at::Tensor random_orthogonal(int64_t n, uint64_t seed) {
  at::manual_seed(seed);
  return std::get<0>(at::linalg_qr(at::randn({n, n}, at::kDouble)));
}

template <typename F>
QString error_of(F&& f) {
  try {
    f();
  } catch (const std::exception& e) {
    return QString::fromStdString(e.what());
  }
  return {};
}

void arch_rows() {
  QTest::addColumn<QString>("model");
  for (const char* m : {"tiny-mamba", "tiny-mamba2", "falcon"}) QTest::newRow(m) << QString(m);
}

// Captures one activation point of one forward (the engine's Observer hook).
struct Capture : Observer {
  std::map<std::string, at::Tensor> seen;
  std::vector<std::string> want;
  bool wants(const QuantPoint& p) const override {
    return std::find(want.begin(), want.end(), p.str()) != want.end();
  }
  void collect(const QuantPoint& p, const at::Tensor& v) override { seen[p.str()] = v.clone(); }
};

}  // namespace

class TestTransforms : public QObject {
  Q_OBJECT
 private Q_SLOTS:
  void fuseNorms_data() { arch_rows(); }
  void fuseNorms() {
    QFETCH(QString, model);
    WeightSet w = tiny(model);
    const at::Tensor ref = logits(w);
    WeightSet f = copy(w);
    fuse_norm_weights(f);
    QVERIFY(!f.config.tie_embeddings && f.find("lm_head.weight"));
    QVERIFY(at::equal(f.at("norm_f.weight"), at::ones({w.config.d_model})));
    QVERIFY(at::equal(f.at("layers.1.norm.weight"), at::ones({w.config.d_model})));
    QVERIFY(same_logits(f, ref, "fused norms"));
    // Control: ones for norms without the fusion.
    WeightSet bad = copy(w);
    bad.set("layers.0.norm.weight", at::ones({w.config.d_model}));
    QVERIFY(control_moves(bad, ref, "norms set to 1 without fusion"));
  }

  // One Q for the residual stream: a random orthogonal one and the Hadamard one.
  void residualRotation_data() { arch_rows(); }
  void residualRotation() {
    QFETCH(QString, model);
    WeightSet w = tiny(model);
    const at::Tensor ref = logits(w);
    for (const at::Tensor& Q : {random_orthogonal(64, 1), hadamard_rotation(64)}) {
      WeightSet r = copy(w);
      rotate_residual(r, Q);
      QVERIFY(!at::allclose(r.at("embedding.weight"), w.at("embedding.weight")));
      QVERIFY(same_logits(r, ref, "residual rotation"));
      // Control: the rotated model with its old norm weights back (the fusion undone).
      WeightSet bad = copy(r);
      for (int64_t i = 0; i < w.config.n_layer; ++i)
        bad.set(layer_key(i, "norm.weight"), w.at(layer_key(i, "norm.weight")));
      QVERIFY(control_moves(bad, ref, "rotated model with its old norm weights"));
    }
  }

  void dtRotation_data() {
    QTest::addColumn<QString>("model");
    QTest::newRow("tiny-mamba") << "tiny-mamba";
    QTest::newRow("falcon") << "falcon";
  }
  void dtRotation() {
    QFETCH(QString, model);
    WeightSet w = tiny(model);
    // Random init leaves dt_proj's product small next to its bias (the logits move 3e-4 when the
    // dt path is broken); ten times larger, a broken path moves them by 1e-2.
    for (int64_t i = 0; i < 2; ++i)
      w.set(layer_key(i, "dt_proj.weight"), w.at(layer_key(i, "dt_proj.weight")) * 10.0f);
    const at::Tensor ref = logits(w);
    WeightSet r = copy(w);
    rotate_dt_path(r, 0, random_orthogonal(4, 2));
    rotate_dt_path(r, 1, hadamard_rotation(4));
    QVERIFY(same_logits(r, ref, "dt rotation"));
    WeightSet bad = copy(w);  // control: dt_proj rotated, x_proj not
    bad.set("layers.0.dt_proj.weight", at::matmul(w.at("layers.0.dt_proj.weight"), hadamard_rotation(4).to(at::kFloat)));
    QVERIFY(control_moves(bad, ref, "dt_proj rotated without x_proj"));
    QVERIFY_THROWS_EXCEPTION(UsageError, rotate_dt_path(r, 0, hadamard_rotation(8)));
  }

  void hadamardMethod_data() { arch_rows(); }
  void hadamardMethod() {
    QFETCH(QString, model);
    WeightSet w = tiny(model);
    const at::Tensor ref = logits(w);
    std::vector<std::string> sites = apply_hadamard(w);
    QCOMPARE(sites.size(), size_t(w.config.is_mamba2() ? 1 : 1 + w.config.n_layer));
    QCOMPARE(sites[0], std::string("residual (d = 64, H 64)"));
    QVERIFY(same_logits(w, ref, "hadamard"));
  }

  // KLT: same logits, and on statistics recollected from the rotated model over the same tokens,
  // every residual channel's variance, averaged over the layers (one K serves all), equals
  // trace/d; each layer's dt input has equal variances too (a K per layer).
  void kltMethod_data() { arch_rows(); }
  void kltMethod() {
    QFETCH(QString, model);
    WeightSet w = tiny(model);
    const at::Tensor ref = logits(w);
    const CalibStats before = stats_of(w, true);
    std::vector<std::string> sites = apply_klt(w, before);
    QCOMPARE(sites[0], std::string("residual (d = 64, K H 64)"));
    QVERIFY(same_logits(w, ref, "klt"));
    const CalibStats after = stats_of(w, false);
    at::Tensor avg = at::zeros({64}, at::kDouble);
    for (int64_t i = 0; i < w.config.n_layer; ++i) avg += channel_variance(after, layer_key(i, "in_proj.input"));
    const double cv = coefficient_of_variation(avg);
    QVERIFY2(cv < 1e-4, qPrintable(QString("residual CV after KLT %1").arg(cv)));
    if (!w.config.is_mamba2()) {
      const double cv_dt = coefficient_of_variation(channel_variance(after, "layers.1.dt_proj.input"));
      QVERIFY2(cv_dt < 1e-4, qPrintable(QString("dt CV after KLT %1").arg(cv_dt)));
    }
    WeightSet no_cov = tiny(model);
    const QString e = error_of([&] { apply_klt(no_cov, stats_of(no_cov, false)); });
    QVERIFY2(e.contains("in_proj.input") && e.contains("--cov"), qPrintable(e));
  }

  // s_j = max|X_j|^α / max|W_j|^(1-α) on hand values (every one exact in fp64), with the s = 1 rule
  // for dead channels.
  void smoothScalesHandCase() {
    at::Tensor act = at::tensor({4.0, 1.0, 0.25, 0.0, 2.0}, at::kDouble);
    at::Tensor W = at::tensor({1.0, -4.0, 0.0625, 3.0, 0.0, -0.5, 2.0, -0.03125, 1.0, 0.0}, at::kDouble).view({2, 5});
    // column maxima: 1, 4, 0.0625, 3, 0
    QVERIFY(at::equal(smooth_scales(act, W, 0.5), at::tensor({2.0, 0.5, 2.0, 1.0, 1.0}, at::kDouble)));
    QVERIFY(at::equal(smooth_scales(act, W, 1.0), at::tensor({4.0, 1.0, 0.25, 1.0, 1.0}, at::kDouble)));
    QVERIFY(at::equal(smooth_scales(act, W, 0.0), at::tensor({1.0, 0.25, 16.0, 1.0, 1.0}, at::kDouble)));
    at::Tensor act3 = at::tensor({4.0, 1.0, 0.25, 9.0, 2.0}, at::kDouble);  // channel 3 alive: 1/3
    QCOMPARE(smooth_scales(act3, W, 0.0)[3].item<double>(), 1.0 / 3.0);
    QCOMPARE(smooth_scales(act, W, 0.75)[0].item<double>(), std::pow(4.0, 0.75));  // 2√2
    QVERIFY_THROWS_EXCEPTION(UsageError, smooth_scales(act, W, 1.5));
    QVERIFY_THROWS_EXCEPTION(UsageError, smooth_scales(act, W.t(), 0.5));
  }

  // Same logits; recollected absmax at each smoothed point = the old one / s (what smoothing is
  // for); the sites per architecture.
  void smoothQuantModel_data() { arch_rows(); }
  void smoothQuantModel() {
    QFETCH(QString, model);
    WeightSet w = tiny(model);
    const at::Tensor ref = logits(w);
    const CalibStats before = stats_of(w, false);
    const WeightSet original = copy(w);
    std::vector<std::string> sites = apply_smoothquant(w, before, 0.5);
    const size_t per_layer = w.config.arch == Arch::FalconMamba ? 1 : 2;
    QCOMPARE(sites.size(), per_layer * size_t(w.config.n_layer));
    QVERIFY(same_logits(w, ref, "smoothquant"));
    const CalibStats after = stats_of(w, false);
    for (const std::string& p : sites) {
      const std::string consumer = p.substr(0, p.size() - std::string("input").size()) + "weight";
      at::Tensor s = smooth_scales(before.activations.at(p).absmax, original.at(consumer), 0.5);
      at::Tensor expected = before.activations.at(p).absmax.to(at::kDouble) / s;
      at::Tensor got = after.activations.at(p).absmax.to(at::kDouble);
      QVERIFY2(((got - expected).abs() <= 1e-5 * expected.abs().max()).all().item<bool>(), p.c_str());
      QVERIFY(!at::allclose(s, at::ones_like(s)));  // something moved
    }
  }

  // The offline half of smooth-fused (Mamba-1 state smoothing into B and C rows): same logits,
  // recollected state absmax = old / s per state index n.
  void smoothFusedOffline() {
    WeightSet w = tiny("tiny-mamba");
    const at::Tensor ref = logits(w);
    const CalibStats before = stats_of(w, false);
    SmoothFusedResult r = apply_smooth_fused(w, before, 0.5, /*runtime=*/false);
    QCOMPARE(r.runtime.size(), size_t(0));
    QCOMPARE(r.dropped.size(), size_t(4));  // S-SiLU and online Hadamard, per layer
    QCOMPARE(r.sites.size(), size_t(2));
    QVERIFY(same_logits(w, ref, "state smoothing"));
    const CalibStats after = stats_of(w, false);
    for (int64_t i = 0; i < 2; ++i) {
      const StateStats& b = before.states.at(layer_key(i, "ssm.state"));
      at::Tensor s = state_smooth_scales(b, 0.5);  // [N], geometric mean 1
      QVERIFY(std::fabs(s.log().mean().item<double>()) < 1e-12);
      at::Tensor expected = b.absmax.to(at::kDouble) / s.unsqueeze(0);
      at::Tensor got = after.states.at(layer_key(i, "ssm.state")).absmax.to(at::kDouble);
      QVERIFY(((got - expected).abs() <= 1e-5 * expected.max() + 1e-30).all().item<bool>());
      // α = 1 gives every state index the same range.
      at::Tensor m1 = std::get<0>((b.absmax.to(at::kDouble) / state_smooth_scales(b, 1.0).unsqueeze(0)).max(0));
      QVERIFY(coefficient_of_variation(m1) < 1e-12);
    }
    // Mamba-2: the gated-norm fold is offline and exact.
    WeightSet w2 = tiny("tiny-mamba2");
    const at::Tensor ref2 = logits(w2);
    SmoothFusedResult r2 = apply_smooth_fused(w2, stats_of(w2, false), 0.5, false);
    QCOMPARE(r2.sites.size(), size_t(2));
    QVERIFY(same_logits(w2, ref2, "smooth-fused Mamba-2 offline"));
  }

  // The run-time halves, checked at layer 0 on the engine's own activations: with z rows / s,
  // S-SiLU(z', s) = SiLU(z)/s, and out_proj with columns · s maps y/s to the old output; the
  // online Hadamard's weight half maps y H/√E to the old output.
  void smoothFusedRuntimeIdentities() {
    WeightSet w = tiny("tiny-mamba");
    Capture cap;
    cap.want = {"layers.0.in_proj.input", "layers.0.out_proj.input"};
    MambaModel::load(w, EngineOptions{})->forward(ids_for(w), nullptr, &cap);
    const at::Tensor h = cap.seen.at("layers.0.in_proj.input"), y = cap.seen.at("layers.0.out_proj.input");
    at::manual_seed(4);
    const at::Tensor s = at::exp(at::randn({128}) * 0.5);
    WeightSet g = copy(w);
    smooth_gate(g, 0, s);
    auto z_of = [&](const WeightSet& ws) {
      return at::linear(h, ws.at("layers.0.in_proj.weight").index({Slice(128, 256)}));
    };
    const at::Tensor z = z_of(w), zs = z_of(g);
    QVERIFY(at::allclose(s_silu(zs, s), at::silu(z) / s, 1e-5, 1e-6));
    QVERIFY(!at::allclose(at::silu(zs), at::silu(z) / s, 1e-2, 1e-3));  // plain SiLU does not do it
    const at::Tensor out = at::linear(y, w.at("layers.0.out_proj.weight"));
    QVERIFY(at::allclose(at::linear(y / s, g.at("layers.0.out_proj.weight")), out, 1e-4, 1e-5));
    WeightSet r = copy(w);
    rotate_out_proj_input(r, 0, hadamard_rotation(128));
    QVERIFY(at::allclose(at::linear(hadamard_rotate(y), r.at("layers.0.out_proj.weight")), out, 1e-4, 1e-5));
    // With run-time parts on, both are recorded for the runtime.
    WeightSet full = copy(w);
    SmoothFusedResult fr = apply_smooth_fused(full, stats_of(w, false), 0.5, true);
    QCOMPARE(fr.runtime.size(), size_t(4));
    QCOMPARE(fr.runtime[0].kind, std::string("s_silu"));
    QCOMPARE(fr.runtime[0].param.sizes().vec(), (std::vector<int64_t>{128}));
    QCOMPARE(fr.runtime[1].kind, std::string("online_hadamard"));
    QVERIFY(fr.dropped.empty());
  }

  // 98 channels at 1, channel 7 at 100, channel 42 at 8: mean 2.06, population std 9.87,
  // threshold 61.3 -> channel 7 only (channel 42 is 3.9x the mean yet within 6σ). With fewer than
  // 38 channels no single channel can pass 6σ (its z-score is at most sqrt(n - 1)).
  void outlierRule() {
    at::Tensor a = at::ones({100});
    a[7] = 100.0f;
    a[42] = 8.0f;
    QCOMPARE(outlier_channels(a), (std::vector<int64_t>{7}));
    at::Tensor few = at::ones({20});
    few[3] = 1000.0f;
    QVERIFY(outlier_channels(few).empty());
    QVERIFY(outlier_channels(at::ones({64})).empty());
  }

  void zeroing() {
    WeightSet w = tiny("tiny-mamba");
    zero_input_channels(w, "layers.1.x_proj.input", {0, 5});
    QVERIFY((w.at("layers.1.x_proj.weight").select(1, 5) == 0).all().item<bool>());
    QVERIFY((w.at("layers.1.x_proj.weight").select(1, 1) != 0).any().item<bool>());
    QVERIFY_THROWS_EXCEPTION(UsageError, zero_input_channels(w, "layers.1.ssm.state", {0}));
    QVERIFY_THROWS_EXCEPTION(UsageError, zero_input_channels(w, "layers.1.x_proj.input", {128}));
    // A plan on statistics with planted outliers: as many random channels, none an outlier,
    // reproducible per seed.
    CalibStats s;
    for (const QuantPoint& p : activation_points(w.config)) {
      if (p.site != Site::Input) continue;
      const int64_t C = p.module == Module::InProj ? 64 : p.module == Module::DtProj ? 4 : 128;
      ActivationStats a;
      a.absmax = at::ones({C});
      if (C >= 64) a.absmax[C / 2] = 50.0f;
      s.activations[p.str()] = a;
    }
    ZeroingPlan plan = plan_zeroing(w.config, s, 1);
    QCOMPARE(plan.count(), int64_t(6));  // in, x, out inputs of two layers
    QCOMPARE(plan.outliers.at("layers.0.out_proj.input"), (std::vector<int64_t>{64}));
    QVERIFY(plan.outliers.at("layers.0.dt_proj.input").empty());
    for (const auto& [p, ch] : plan.random) {
      QCOMPARE(ch.size(), plan.outliers.at(p).size());
      for (int64_t c : ch) QVERIFY(c != plan.outliers.at(p).front());
    }
    QCOMPARE(plan_zeroing(w.config, s, 1).random, plan.random);
    WeightSet z = copy(w);
    apply_zeroing(z, plan.outliers);
    QVERIFY((z.at("layers.0.in_proj.weight").select(1, 32) == 0).all().item<bool>());
    // Through the chain: the control (--zero-random) zeroes the seeded random plan.
    PipelineOptions zo;
    zo.zero_random_seed = 7;
    PipelineContext zc;
    zc.stats = &s;
    WeightSet zr = copy(w);
    PipelineResult pr = apply_methods(zr, {}, zo, zc);
    QCOMPARE(pr.steps[0]["method"].get<std::string>(), std::string("zero-random"));
    const std::vector<int64_t> picked = plan_zeroing(w.config, s, 7).random.at("layers.1.x_proj.input");
    QCOMPARE(pr.steps[0]["channels"]["layers.1.x_proj.input"].get<std::vector<int64_t>>(), picked);
    QVERIFY((zr.at("layers.1.x_proj.weight").select(1, picked.at(0)) == 0).all().item<bool>());
    QVERIFY((zr.at("layers.1.x_proj.weight").select(1, 64) != 0).any().item<bool>());  // the outlier stays
  }

  void methodList() {
    QCOMPARE(parse_method_list("klt,smooth-fused,rtn"), (std::vector<std::string>{"klt", "smooth-fused", "rtn"}));
    QCOMPARE(parse_method_list("hadamard"), (std::vector<std::string>{"hadamard"}));
    const QString unknown = error_of([] { parse_method_list("hadamard,magic"); });
    QVERIFY2(unknown.contains("magic") && unknown.contains("smoothquant"), qPrintable(unknown));
    QVERIFY(error_of([] { parse_method_list("rtn,hadamard"); }).contains("last"));
    QVERIFY(error_of([] { parse_method_list("hadamard,hadamard,rtn"); }).contains("twice"));
    QVERIFY_THROWS_EXCEPTION(UsageError, parse_method_list(""));
    QVERIFY_THROWS_EXCEPTION(UsageError, parse_method_list("rtn,"));
    PipelineOptions o;
    QVERIFY(!methods_need_statistics({"hadamard", "rtn"}, o));
    QVERIFY(methods_need_statistics({"hadamard", "klt"}, o));
    o.zero_outliers = true;
    QVERIFY(methods_need_statistics({"rtn"}, o));
  }

  // Chains: statistics are used while fresh and recollected after a transform; without a way to
  // recollect, a stale chain is refused; the rounding step rounds the transformed weights exactly.
  void pipeline() {
    WeightSet w = tiny("tiny-mamba");
    const at::Tensor ref = logits(w);
    const CalibStats given = stats_of(w, false);
    int calls = 0;
    PipelineContext ctx;
    ctx.stats = &given;
    ctx.calibrate = [&](const WeightSet& now, bool cov) { ++calls; return stats_of(now, cov); };
    PipelineOptions o;
    WeightSet a = copy(w);
    PipelineResult r = apply_methods(a, parse_method_list("smoothquant,hadamard,klt,smooth-fused"), o, ctx);
    QCOMPARE(r.calibrations, 2);  // klt after hadamard, smooth-fused after klt
    QCOMPARE(calls, 2);
    QCOMPARE(r.steps.size(), size_t(4));
    QCOMPARE(r.steps[0]["statistics"].get<std::string>(), std::string("given"));
    QCOMPARE(r.steps[2]["statistics"].get<std::string>(), std::string("recalibrated"));
    QVERIFY(r.steps[2]["residual_variance_cv"]["klt"].get<double>() < 1e-8);
    QCOMPARE(r.runtime.size(), size_t(4));
    // Offline-only chain keeps the logits.
    WeightSet b = copy(w);
    o.runtime_transforms = false;
    apply_methods(b, parse_method_list("smoothquant,hadamard,klt,smooth-fused"), o, ctx);
    QVERIFY(same_logits(b, ref, "offline chain"));
    PipelineContext no_recal;
    no_recal.stats = &given;
    WeightSet c = copy(w);
    const QString e = error_of([&] { apply_methods(c, {"hadamard", "smoothquant"}, o, no_recal); });
    QVERIFY2(e.contains("smoothquant") && e.contains("earlier methods"), qPrintable(e));
    // hadamard,rtn: each Linear is RTN of its Hadamard-rotated weight, stored as asked.
    WeightSet d = copy(w), rotated = copy(w);
    apply_hadamard(rotated);
    o.rtn.bits = 4;
    o.stored_dtype = [](const std::string&, at::ScalarType) { return at::kHalf; };
    PipelineResult q = apply_methods(d, {"hadamard", "rtn"}, o, PipelineContext{});
    QCOMPARE(q.errors.size(), size_t(8));
    for (const WeightError& e : q.errors) {
      QCOMPARE(d.at(e.key).scalar_type(), at::kHalf);
      QVERIFY2(at::equal(d.at(e.key), rtn_fake_quant(rotated.at(e.key), o.rtn).to(at::kHalf)), e.key.c_str());
    }
    QCOMPARE(q.steps[1]["bits"].get<int>(), 4);
    // The exporters read checkpoints: a view of the transformed set is the same model.
    Checkpoint view = checkpoint_view(rotated, Checkpoint{});
    QVERIFY(!view.config.tie_embeddings && view.tensors.find("lm_head.weight"));
    QVERIFY(at::equal(MambaModel::load(view, EngineOptions{})->forward(ids_for(w)), logits(rotated)));
    // Statistics of another model are refused, naming the file and the point.
    const WeightSet m2 = tiny("tiny-mamba2");
    const QString mismatch = error_of([&] { check_statistics(w.config, stats_of(m2, false), "m2.safetensors"); });
    QVERIFY2(mismatch.contains("m2.safetensors") && mismatch.contains("another model"), qPrintable(mismatch));
    check_statistics(w.config, given, "ok.safetensors");
    int64_t cancelled_at = 0;
    PipelineContext cancel;
    cancel.progress = [&](int64_t done, int64_t) { cancelled_at = done; return false; };
    WeightSet f = copy(w);
    QVERIFY_THROWS_EXCEPTION(Cancelled, apply_methods(f, {"hadamard", "rtn"}, o, cancel));
    QCOMPARE(cancelled_at, int64_t(1));
  }
};

QTEST_APPLESS_MAIN(TestTransforms)
#include "tst_transforms.moc"
