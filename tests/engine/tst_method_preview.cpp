// Before/after previews of one method at one point (core/quant/method_preview.h) on tiny random
// models: each method's AFTER is checked against what the method promises, computed independently.
//   hadamard     each token's ‖x‖² is kept (orthonormal), and the after-summary equals the summary
//                of the dense fp64 reference hadamard_rotate_ref(X) (at in_proj: of X / g).
//   klt          rotation.h's promise: every channel of X·K·H/√n has variance trace(C)/n; the
//                control shows Hadamard alone does not give that on the same values.
//   smoothquant  (X / s)(W·s)ᵀ = X Wᵀ, and each channel's absmax becomes a^(1-α)·w^(1-α).
//   dsq          on a state with one outlier channel DSQ's error is below per-tensor's.
// Plus the JSON round trip the app relies on.
//
// Tolerances: values are fp32 captures carried in fp64, so rotations agree to ~1e-15 relative;
// kRel = 1e-9 leaves a wide margin while any wrong matrix moves the numbers by > 1e-3.
#include <QtTest>

#include <cmath>
#include <limits>

#include <ATen/ATen.h>

#include "core/engine/mamba_model.h"
#include "core/engine/random_init.h"
#include "core/engine/weight_set.h"
#include "core/model/preview_snapshot.h"
#include "core/quant/hadamard.h"
#include "core/quant/method_preview.h"
#include "core/quant/rotation.h"
#include "core/util/error.h"

using namespace ms;

namespace {

constexpr double kRel = 1e-9;

std::unique_ptr<MambaModel> tiny_model(const std::string& preset) {
  RandomModel m = random_model(find_preset(preset).config, 3, at::kFloat);
  WeightSet w{m.config, m.tensors};
  at::manual_seed(3);
  for (int64_t i = 0; i < w.config.n_layer; ++i) w.set(layer_key(i, "norm.weight"), 0.5f + at::rand({w.config.d_model}));
  return MambaModel::load(w, EngineOptions{});
}

at::Tensor ids_for(const MambaModel& m) {
  at::manual_seed(99);
  return at::randint(0, m.config().vocab_size, {2, 96}, at::kLong);
}

double rel(const at::Tensor& a, const at::Tensor& b) {
  return (a - b).abs().max().item<double>() / std::max(b.abs().max().item<double>(), 1e-300);
}

at::Tensor vec(const std::vector<float>& v) { return at::tensor(v).to(at::kDouble); }
at::Tensor vec(const std::vector<double>& v) { return at::tensor(v); }

PreviewRequest request(const char* point, PreviewMethod m) {
  PreviewRequest r;
  r.point = *QuantPoint::parse(point);
  r.method = m;
  return r;
}

}  // namespace

class TestMethodPreview : public QObject {
  Q_OBJECT

 private Q_SLOTS:
  void hadamardKeepsNormsAndMatchesReference() {
    auto model = tiny_model("tiny-mamba");
    const at::Tensor ids = ids_for(*model);
    for (const char* point : {"layers.1.out_proj.input", "layers.0.in_proj.input", "layers.0.dt_proj.input"}) {
      const PreviewRequest r = request(point, PreviewMethod::Hadamard);
      const at::Tensor x = capture_point(*model, ids, r.point);  // [192, C]
      QCOMPARE(x.size(0), int64_t(192));
      const at::Tensor after = preview_transform(*model, r, x);
      at::Tensor rotated_input = x.to(at::kDouble);
      if (r.point.module == Module::InProj) rotated_input = rotated_input / model->layer(0).norm.to(at::kDouble);
      const double norm_diff = rel(after.pow(2).sum(1), rotated_input.pow(2).sum(1));
      qInfo("%s: per-token |x|^2 max relative change %.3g", point, norm_diff);
      QVERIFY(norm_diff <= 1e-5);
      const at::Tensor ref = hadamard_rotate_ref(rotated_input);
      QVERIFY2(rel(after, ref) <= kRel, point);
      const DistributionSide a = describe_values(after, 8), b = describe_values(ref, 8);
      QVERIFY(rel(vec(a.channel_absmax), vec(b.channel_absmax)) <= 1e-7);  // stored as fp32
      QVERIFY(rel(vec(a.channel_var), vec(b.channel_var)) <= kRel);
      QCOMPARE(a.hist, b.hist);
      QVERIFY(std::abs(a.error.mse - b.error.mse) <= 1e-6 * b.error.mse);
    }
    // The whole preview says the same as its parts, and the rotation spreads the channels.
    const PreviewSnapshot p = preview_method(*model, ids, request("layers.1.out_proj.input", PreviewMethod::Hadamard));
    const DistributionSide direct = describe_values(hadamard_rotate_ref(capture_point(*model, ids, p.point)), 8);
    QCOMPARE(p.after.hist, direct.hist);
    QVERIFY(std::abs(p.after.absmax_cv - direct.absmax_cv) <= 1e-6 * direct.absmax_cv);
    QCOMPARE(p.tokens, int64_t(192));
    qInfo("hadamard at layers.1.out_proj.input: absmax CV %.3f -> %.3f, A8 SQNR %.2f -> %.2f dB", p.before.absmax_cv,
          p.after.absmax_cv, p.before.error.sqnr_db, p.after.error.sqnr_db);
    QVERIFY(p.after.absmax_cv < p.before.absmax_cv);
  }

  void kltEqualisesChannelVariance() {
    for (const char* preset : {"tiny-mamba", "tiny-mamba2"}) {
      auto model = tiny_model(preset);
      const at::Tensor ids = ids_for(*model);
      const PreviewRequest r = request("layers.1.out_proj.input", PreviewMethod::Klt);
      const at::Tensor x = capture_point(*model, ids, r.point).to(at::kDouble);
      const at::Tensor centred = x - x.mean(0, true);
      const double trace_over_n = (centred.pow(2).sum() / x.size(0) / x.size(1)).item<double>();
      const DistributionSide after = describe_values(preview_transform(*model, r, x), 8);
      const at::Tensor v = vec(after.channel_var);
      const double spread = (v - trace_over_n).abs().max().item<double>() / trace_over_n;
      qInfo("%s KLT: channel variance within %.3g of trace(C)/n = %.4g", preset, spread, trace_over_n);
      QVERIFY(spread <= 1e-8);
      QVERIFY(after.var_cv <= 1e-8);
      // Control: Hadamard alone on the same (correlated) values leaves the variances unequal.
      const DistributionSide h = describe_values(hadamard_rotate_ref(x), 8);
      QVERIFY(h.var_cv > 1e-3);
    }
  }

  void smoothQuantKeepsTheProduct() {
    auto model = tiny_model("tiny-mamba");
    const at::Tensor ids = ids_for(*model);
    PreviewRequest r = request("layers.1.out_proj.input", PreviewMethod::SmoothQuant);
    r.alpha = 0.5;
    const at::Tensor x = capture_point(*model, ids, r.point);
    at::Tensor s;
    const at::Tensor after = preview_transform(*model, r, x, &s);
    const at::Tensor w = model->layer(1).out_proj.to(at::kDouble);  // [d, E]
    const at::Tensor before_product = at::matmul(x.to(at::kDouble), w.t());
    const at::Tensor after_product = at::matmul(after, (w * s).t());
    QVERIFY(rel(after_product, before_product) <= kRel);
    // By hand: absmax a_j / s_j with s_j = a_j^α / w_j^(1-α) is a_j^(1-α) · w_j^(1-α).
    const at::Tensor a = x.abs().amax(0).to(at::kDouble), wmax = w.abs().amax(0);
    const at::Tensor expected = at::pow(a, 1 - r.alpha) * at::pow(wmax, 1 - r.alpha);
    QVERIFY(rel(after.abs().amax(0), expected) <= 1e-6);  // a is an fp32 maximum
    // The JSON carries s.
    const PreviewSnapshot p = preview_method(*model, ids, r);
    QCOMPARE(int64_t(p.smoothing.size()), s.numel());
    QVERIFY(rel(vec(p.smoothing), s) <= kRel);
  }

  void dsqBeatsPerTensorOnOutlierChannel() {
    at::manual_seed(7);
    at::Tensor state = at::randn({64, 32, 16});  // [tokens, E, N]
    state.select(1, 5).mul_(40.0f);              // one outlier channel
    StateQuantSpec tensor{4, StateMethod::Tensor, DsqVariant::AbsMeanSqrt};
    StateQuantSpec dsq{4, StateMethod::Dsq, DsqVariant::AbsMeanSqrt};
    const QuantError et = state_quant_error(state, tensor), ed = state_quant_error(state, dsq);
    qInfo("H4 on a state with one 40x channel: tensor SQNR %.2f dB, DSQ %.2f dB", et.sqnr_db, ed.sqnr_db);
    QVERIFY(ed.mse <= et.mse);
    QVERIFY(ed.sqnr_db > et.sqnr_db + 3.0);
    // Control: without the outlier channel DSQ's advantage shrinks; the outlier is what it handles.
    const at::Tensor plain = at::randn({64, 32, 16});
    const double plain_gap = state_quant_error(plain, dsq).sqnr_db - state_quant_error(plain, tensor).sqnr_db;
    qInfo("without the outlier: DSQ - tensor = %.2f dB", plain_gap);
    QVERIFY(ed.sqnr_db - et.sqnr_db > plain_gap + 3.0);

    // Through the preview on a real state: before = baseline, after = DSQ, every quantizer listed.
    auto model = tiny_model("tiny-mamba");
    PreviewRequest r = request("layers.1.ssm.state", PreviewMethod::Dsq);
    r.bits = 4;
    const PreviewSnapshot p = preview_method(*model, ids_for(*model), r);
    QCOMPARE(p.state_errors.size(), size_t(4));
    QCOMPARE(p.before.error.mse, p.state_errors[0].mse);
    QCOMPARE(p.after.error.mse, p.state_errors[3].mse);
    QCOMPARE(int64_t(p.before.channel_absmax.size()), model->config().d_inner);
  }

  void refusesWhatTheExporterDoesNot() {
    auto model = tiny_model("tiny-mamba");
    QVERIFY_THROWS_EXCEPTION(UsageError, preview_method(*model, ids_for(*model), request("layers.0.x_proj.input", PreviewMethod::Hadamard)));
    QVERIFY_THROWS_EXCEPTION(UsageError, preview_method(*model, ids_for(*model), request("layers.0.ssm.state", PreviewMethod::Klt)));
    QVERIFY_THROWS_EXCEPTION(UsageError, preview_method(*model, ids_for(*model), request("layers.0.in_proj.input", PreviewMethod::Dsq)));
  }

  void jsonRoundTrip() {
    auto model = tiny_model("tiny-mamba");
    PreviewSnapshot p = preview_method(*model, ids_for(*model), request("layers.0.in_proj.input", PreviewMethod::SmoothQuant));
    p.after.error.sqnr_db = std::numeric_limits<double>::infinity();
    const PreviewSnapshot q = preview_from_json(preview_to_json(p), "test");
    QCOMPARE(q.point, p.point);
    QCOMPARE(q.before.hist, p.before.hist);
    QCOMPARE(q.after.channel_absmax, p.after.channel_absmax);
    QCOMPARE(q.smoothing, p.smoothing);
    QCOMPARE(q.before.error.sqnr_db, p.before.error.sqnr_db);
    QVERIFY(std::isinf(q.after.error.sqnr_db));
    QVERIFY_THROWS_EXCEPTION(InputError, preview_from_json("{\"point\": 3}", "test"));
  }
};

QTEST_APPLESS_MAIN(TestMethodPreview)
#include "tst_method_preview.moc"
