// smooth-fused's run-time parts in the fake-quant forward (core/engine/fake_quant.h: S-SiLU at
// Mamba-1's gate, the online Hadamard at out_proj's input), on tiny random Mamba-1 and Mamba-2:
//   - in float, the smooth-fused weights run with their run-time parts give the original logits;
//     the controls (the same weights with a plain SiLU gate, or without the rotation) do not;
//   - at A8 (dynamic per token, at every Linear input) the hook's forward on the transformed
//     weights equals a direct computation on the original weights: at out_proj's input u, the
//     direct hook computes Q((u / s) H) Hᵀ · s with a dense fp64 H, i.e. what the transformed
//     out_proj consumes, mapped back through its folded s and H. At the other inputs both quantize
//     the same values (smooth-fused leaves them alone).
#include <QtTest>

#include <cmath>
#include <map>
#include <set>
#include <string>
#include <vector>

#include <ATen/ATen.h>

#include "core/engine/calibration.h"
#include "core/engine/fake_quant.h"
#include "core/engine/mamba_model.h"
#include "core/engine/random_init.h"
#include "core/engine/weight_set.h"
#include "core/quant/act_quant.h"
#include "core/quant/hadamard.h"
#include "core/quant/smooth_fused.h"
#include "core/util/error.h"

using namespace ms;

namespace {

// Transforms computed in fp64 and stored in fp32: logits move by ~1e-6 of their range (as in
// tst_transforms' kLogitTol).
constexpr double kFloatTol = 2e-5;
// At A8 the two paths round values that differ by fp32 noise; an element within that noise of a
// rounding tie would land one step (absmax/127) apart and move the logits by well under 1e-4 of
// their range (measured without such a flip: ~6e-7); the controls move them by > 1e-2.
constexpr double kA8Tol = 1e-4;

WeightSet tiny(const std::string& preset, uint64_t seed) {
  RandomModel m = random_model(find_preset(preset).config, seed, at::kFloat);
  WeightSet w{m.config, m.tensors};
  at::manual_seed(seed);
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

CalibStats stats_of(const WeightSet& w) {
  auto model = MambaModel::load(w, EngineOptions{});
  at::manual_seed(5);
  std::vector<CalibText> texts;
  for (int k = 0; k < 2; ++k) {
    at::Tensor ids = at::randint(0, w.config.vocab_size, {64}, at::kInt);
    texts.push_back({"random " + std::to_string(k), "",
                     std::vector<int32_t>(ids.data_ptr<int32_t>(), ids.data_ptr<int32_t>() + 64)});
  }
  CalibOptions o;
  o.seq_len = 32;
  o.batch = 2;
  return calibrate(*model, texts, o);
}

at::Tensor ids_for(const WeightSet& w) {
  at::manual_seed(99);
  return at::randint(0, w.config.vocab_size, {2, 24}, at::kLong);
}

at::Tensor logits(const WeightSet& w, const FakeQuant* fq) {
  return MambaModel::load(w, EngineOptions{})->forward(ids_for(w), nullptr, nullptr, fq);
}

double rel_diff(const at::Tensor& a, const at::Tensor& b) {
  return (a - b).abs().max().item<double>() / b.abs().max().item<double>();
}

ActQuantSpec a8() {
  ActQuantSpec a;
  a.bits = 8;
  return a;
}

std::set<QuantPoint> linear_inputs(const ModelConfig& c) {
  std::set<QuantPoint> s;
  for (const QuantPoint& p : activation_points(c))
    if (p.site == Site::Input) s.insert(p);
  return s;
}

// The direct computation on the original weights (see the file header). s: per layer, [E] fp64.
class DirectFakeQuant : public FakeQuant {
 public:
  DirectFakeQuant(std::map<int, at::Tensor> s, int64_t E)
      : s_(std::move(s)), H_(hadamard_matrix(E) / std::sqrt(double(E))) {}
  bool quantizes(const QuantPoint& p) const override { return p.site == Site::Input; }
  at::Tensor quantize_activation(const QuantPoint& p, const at::Tensor& x) const override {
    if (p.module != Module::OutProj) return act_fake_quant(x, a8()).to(x.scalar_type());
    const at::Tensor& s = s_.at(p.layer);
    const at::Tensor rotated = at::matmul(x.to(at::kDouble) / s, H_);              // (u / s) H
    const at::Tensor q = act_fake_quant(rotated.to(at::kFloat), a8()).to(at::kDouble);
    return (at::matmul(q, H_.t()) * s).to(x.scalar_type());                        // Q(.) Hᵀ s
  }
  at::Tensor quantize_state(const QuantPoint&, const at::Tensor& st) const override { return st; }

 private:
  std::map<int, at::Tensor> s_;
  at::Tensor H_;
};

// The smooth-fused model of `w` with its run-time parts, and each layer's out_proj smoothing s.
struct Fused {
  WeightSet weights;
  std::vector<RuntimeTransform> runtime;
  std::map<int, at::Tensor> s;
};

Fused smooth_fused(const WeightSet& w) {
  Fused f{copy(w), {}, {}};
  f.runtime = apply_smooth_fused(f.weights, stats_of(w), 0.5, /*runtime=*/true).runtime;
  for (int i = 0; i < w.config.n_layer; ++i) {
    if (w.config.is_mamba2()) {
      // Folded offline into the gated-norm weight: s = before / after.
      const std::string k = layer_key(i, "gated_norm.weight");
      f.s[i] = w.at(k).to(at::kDouble) / f.weights.at(k).to(at::kDouble);
    } else {
      for (const RuntimeTransform& t : f.runtime)
        if (t.kind == "s_silu" && t.point == layer_key(i, "out_proj.input")) f.s[i] = t.param.to(at::kDouble);
    }
  }
  return f;
}

}  // namespace

class TestRuntimeTransforms : public QObject {
  Q_OBJECT

 private Q_SLOTS:
  void floatIsTheOriginal_data() {
    QTest::addColumn<QString>("preset");
    QTest::newRow("mamba1") << "tiny-mamba";
    QTest::newRow("mamba2") << "tiny-mamba2";
  }
  void floatIsTheOriginal() {
    QFETCH(QString, preset);
    const WeightSet w = tiny(preset.toStdString(), 11);
    const Fused f = smooth_fused(w);
    const bool mamba2 = w.config.is_mamba2();
    // Mamba-1: S-SiLU and a rotation per layer; Mamba-2: the rotation alone (its gate folds offline).
    QCOMPARE(int(f.runtime.size()), int(w.config.n_layer) * (mamba2 ? 1 : 2));
    const at::Tensor reference = logits(w, nullptr);
    PointFakeQuant runtime(ActQuantSpec{}, StateQuantSpec{}, {});
    runtime.set_runtime_transforms(f.runtime);
    QVERIFY(runtime.empty());  // quantizes nothing; transforms only
    const double d = rel_diff(logits(f.weights, &runtime), reference);
    qInfo("%s float with run-time parts: max |dlogit| / max |logit| = %.3g", qPrintable(preset), d);
    QVERIFY(d < kFloatTol);
    // Controls: each run-time part left out.
    std::vector<RuntimeTransform> no_rotation, no_gate;
    for (const RuntimeTransform& t : f.runtime) (t.kind == "s_silu" ? no_rotation : no_gate).push_back(t);
    PointFakeQuant without_rotation(ActQuantSpec{}, StateQuantSpec{}, {});
    without_rotation.set_runtime_transforms(no_rotation);
    QVERIFY(rel_diff(logits(f.weights, &without_rotation), reference) > 100 * kFloatTol);
    if (!mamba2) {
      PointFakeQuant without_gate(ActQuantSpec{}, StateQuantSpec{}, {});
      without_gate.set_runtime_transforms(no_gate);
      QVERIFY(rel_diff(logits(f.weights, &without_gate), reference) > 100 * kFloatTol);
    }
  }

  void a8MatchesDirect_data() { floatIsTheOriginal_data(); }
  void a8MatchesDirect() {
    QFETCH(QString, preset);
    const WeightSet w = tiny(preset.toStdString(), 12);
    const Fused f = smooth_fused(w);
    PointFakeQuant hook(a8(), StateQuantSpec{}, linear_inputs(w.config));
    hook.set_runtime_transforms(f.runtime);
    const at::Tensor got = logits(f.weights, &hook);
    const DirectFakeQuant direct(f.s, w.config.d_inner);
    const at::Tensor want = logits(w, &direct);
    const double d = rel_diff(got, want);
    // The control: plain A8 on the original model (no smoothing, no rotation).
    PointFakeQuant plain(a8(), StateQuantSpec{}, linear_inputs(w.config));
    const double control = rel_diff(logits(w, &plain), want);
    qInfo("%s A8: hook vs direct %.3g; plain A8 vs direct %.3g", qPrintable(preset), d, control);
    QVERIFY(d < kA8Tol);
    QVERIFY(control > 10 * kA8Tol);
  }

  // Static scales measured after the run-time transforms meet the online rotation: x = [1, 2, 3, 4]
  // rotates to x H4 / 2 = [5, -1, -2, 0]; with the measured absmax 5 at A8 the step is 5/127, so the
  // codes are [127, -25, -51, 0] (-25.4 and -50.8 rounded). Scales of unrotated values are refused.
  void staticScalesAfterRotation() {
    ActQuantSpec spec;
    spec.bits = 8;
    spec.scale = ActScale::Static;
    spec.granularity = ActGranularity::Tensor;
    const QuantPoint p{0, Module::OutProj, Site::Input};
    const std::vector<RuntimeTransform> rotate{{"online_hadamard", p.str(), {}}};
    PointFakeQuant fq(spec, StateQuantSpec{}, {p}, StaticActAbsmax{{{p.str(), 5.0}}, true});
    fq.set_runtime_transforms(rotate);
    const at::Tensor got = fq.quantize_activation(p, at::tensor({1.f, 2.f, 3.f, 4.f}).reshape({1, 1, 4}));
    const float step = 5.0f / 127.0f;
    const float want[4] = {127 * step, -25 * step, -51 * step, 0};
    for (int i = 0; i < 4; ++i) QVERIFY(std::abs(got.flatten()[i].item<float>() - want[i]) <= 1e-6f);
    PointFakeQuant unrotated(spec, StateQuantSpec{}, {p}, StaticActAbsmax{{{p.str(), 5.0}}, false});
    QVERIFY_THROWS_EXCEPTION(UsageError, unrotated.set_runtime_transforms(rotate));
    // A chosen point without a scale is named.
    QVERIFY_THROWS_EXCEPTION(InputError, PointFakeQuant(spec, StateQuantSpec{}, {p}, StaticActAbsmax{{{"layers.1.out_proj.input", 1.0}}, true}));
    // The fused calibration engine knows no run-time hook.
    CalibOptions co;
    co.engine = CalibEngine::Fused;
    co.fake_quant = &fq;
    const auto model = MambaModel::load(tiny("tiny-mamba", 3), EngineOptions{});
    QVERIFY_THROWS_EXCEPTION(UsageError, calibrate(*model, {CalibText{"t", "", {1, 2, 3}}}, co));
  }

  void refusals() {
    PointFakeQuant fq(ActQuantSpec{}, StateQuantSpec{}, {});
    QVERIFY_THROWS_EXCEPTION(UsageError, fq.set_runtime_transforms({{"s_silu", "layers.0.ssm.state", at::ones({4})}}));
    QVERIFY_THROWS_EXCEPTION(UsageError, fq.set_runtime_transforms({{"twist", "layers.0.out_proj.input", {}}}));
    QVERIFY_THROWS_EXCEPTION(UsageError, fq.set_runtime_transforms({{"s_silu", "layers.0.in_proj.input", at::ones({4})}}));
  }
};

QTEST_GUILESS_MAIN(TestRuntimeTransforms)
#include "tst_runtime_transforms.moc"
