// RequantSession (core/engine/requant.h), the live error preview, against the evaluator it must
// agree with: evaluate_quantized() with the same scheme on the same ids (one window: the same
// arithmetic, so equal to 1e-12 relative), PointFakeQuant for global A/H bits, by-hand facts
// (16 bits everywhere is exact; a layer override leaves upstream points exact), the weight cache
// (what is re-rounded and when the model reloads), per-token errors against a direct computation,
// and RequantSetting's validation and JSON round trip. Tiny Mamba-1 and Mamba-2 fixtures (CPU).
#include <QtTest>

#include <cmath>
#include <fstream>
#include <limits>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include <ATen/ATen.h>

#include "core/engine/fake_quant.h"
#include "core/engine/mamba_model.h"
#include "core/engine/observer.h"
#include "core/engine/requant.h"
#include "core/engine/weight_set.h"
#include "core/model/checkpoint.h"
#include "core/quant/metrics.h"
#include "core/quant/scheme.h"
#include "core/quant/weight_quant.h"
#include "core/util/error.h"

using namespace ms;

namespace {

const std::string kFixtures = MAMBASCOPE_FIXTURES;
// Same arithmetic in a different order of fp64 sums at most (percentiles sort, sums per window).
constexpr double kSameRel = 1e-12;
// Two windows batched [2, T] vs run one at a time: fp32 matmuls may block differently.
constexpr double kBatchRel = 1e-4;

bool close(double got, double want, double rel, const char* what) {
  if (got == want) return true;
  if (std::isfinite(got) && std::isfinite(want) && std::abs(got - want) <= rel * std::max(std::abs(want), 1e-300))
    return true;
  qWarning("%s: got %.17g, expected %.17g (rel %.3g)", what, got, want, std::abs(got - want) / std::abs(want));
  return false;
}

std::vector<int64_t> fixture_ids(const std::string& name) {
  std::ifstream in(kFixtures + "/models/" + name + "/expected.json");
  std::stringstream ss;
  ss << in.rdbuf();
  const std::string text = ss.str();
  const size_t a = text.find("\"ids\""), b = text.find('[', a), e = text.find(']', b);
  std::vector<int64_t> ids;
  std::stringstream list(text.substr(b + 1, e - b - 1));
  for (std::string tok; std::getline(list, tok, ',');) ids.push_back(std::stoll(tok));
  return ids;
}

at::Tensor batch(const std::vector<int64_t>& ids, int64_t windows, int64_t len) {
  return at::tensor(std::vector<int64_t>(ids.begin(), ids.begin() + windows * len)).reshape({windows, len});
}

std::vector<int32_t> as_i32(const at::Tensor& ids) {
  const at::Tensor f = ids.flatten().contiguous();
  return {f.data_ptr<int64_t>(), f.data_ptr<int64_t>() + f.numel()};
}

bool same_end_to_end(const EndToEndMetrics& got, const EndToEndMetrics& want, double rel) {
  bool ok = got.tokens == want.tokens && got.windows == want.windows;
  ok &= close(got.ppl_float, want.ppl_float, rel, "ppl_float");
  ok &= close(got.ppl_quant, want.ppl_quant, rel, "ppl_quant");
  ok &= close(got.kl_mean, want.kl_mean, rel, "kl_mean");
  ok &= close(got.kl_p50, want.kl_p50, rel, "kl_p50");
  ok &= close(got.kl_p90, want.kl_p90, rel, "kl_p90");
  ok &= close(got.kl_max, want.kl_max, rel, "kl_max");
  ok &= close(got.top1, want.top1, 0, "top1");
  return ok;
}

bool same_points(const std::vector<PointError>& got, const std::vector<PointError>& want, double rel) {
  if (got.size() != want.size()) {
    qWarning("%zu points, expected %zu", got.size(), want.size());
    return false;
  }
  bool ok = true;
  for (size_t i = 0; i < got.size(); ++i) {
    ok &= got[i].point == want[i].point;
    ok &= close(got[i].error.mse, want[i].error.mse, rel, want[i].point.c_str());
    ok &= close(got[i].error.cosine, want[i].error.cosine, rel, want[i].point.c_str());
    ok &= got[i].error.count == want[i].error.count;
  }
  return ok;
}

class Record : public Observer {
 public:
  explicit Record(QuantPoint p) : point(p) {}
  QuantPoint point;
  at::Tensor value;
  bool wants(const QuantPoint& p) const override { return p == point; }
  void collect(const QuantPoint&, const at::Tensor& v) override { value = v.clone(); }
};

}  // namespace

class TestRequant : public QObject {
  Q_OBJECT
 private Q_SLOTS:
  // Everything at 16 bits is the float model: KL 0, top-1 1, every point exact, no weight rounded.
  void sixteenBitsIsExact() {
    const Checkpoint ck = open_checkpoint(kFixtures + "/models/mamba1-hf");
    RequantSession session(ck, EngineOptions{}, batch(fixture_ids("mamba1-hf"), 2, 32));
    const RequantResult r = session.evaluate(RequantSetting{});
    QCOMPARE(r.end_to_end.tokens, int64_t(2 * 31));
    QCOMPARE(r.end_to_end.kl_max, 0.0);
    QCOMPARE(r.end_to_end.top1, 1.0);
    QVERIFY(r.end_to_end.ppl_quant == r.end_to_end.ppl_float);
    QVERIFY(r.weights.empty());
    QCOMPARE(r.weights_rounded, int64_t(0));
    QCOMPARE(int(r.points.size()), 2 * 5);
    for (const PointError& p : r.points) QVERIFY2(std::isinf(p.error.sqnr_db) && p.error.sqnr_db > 0, p.point.c_str());
    QCOMPARE(r.token_sqnr.size(), size_t(10 * 2 * 32));
    for (float v : r.token_sqnr) QVERIFY(std::isinf(v) && v > 0);
    QCOMPARE(r.kl.size(), size_t(62));
  }

  // W4 per channel alone equals evaluate_quantized() with the same scheme on the same ids
  // (one window of 40 tokens = ctx 40), end to end, per point and per weight.
  void weightsOnlyMatchEvaluator_data() {
    QTest::addColumn<QString>("model");
    QTest::addColumn<int>("bits");
    QTest::newRow("mamba1 W4") << "mamba1-hf" << 4;
    QTest::newRow("mamba2 W4") << "mamba2-hf" << 4;
    QTest::newRow("mamba1 W12") << "mamba1-hf" << 12;  // a wide width: int16 codes
  }
  void weightsOnlyMatchEvaluator() {
    QFETCH(QString, model);
    QFETCH(int, bits);
    const Checkpoint ck = open_checkpoint(kFixtures + "/models/" + model.toStdString());
    const at::Tensor ids = batch(fixture_ids(model.toStdString()), 1, 40);
    RequantSession session(ck, EngineOptions{}, ids);
    RequantSetting s;
    s.wbits = bits;
    s.granularity = "group:4";
    s.symmetric = false;
    const RequantResult r = session.evaluate(s);

    Scheme scheme;
    scheme.methods = {"rtn"};
    RtnSpec spec = RtnSpec::with_granularity(RtnSpec{}, "group:4");
    spec.bits = bits;
    spec.symmetric = false;
    scheme.weights = spec;
    const WeightSet base = WeightSet::from_checkpoint(ck, at::kFloat);
    WeightSet qset = base;
    const std::vector<QuantizedWeight> qw = scheme_weights(base, scheme);
    for (const QuantizedWeight& w : qw) qset.set(w.key, w.value);
    const auto fmodel = MambaModel::load(base, EngineOptions{});
    const auto qmodel = MambaModel::load(qset, EngineOptions{});
    QuantEvalOptions o;
    o.ctx = 40;
    const QuantEvalResult want = evaluate_quantized(*fmodel, *qmodel, nullptr, as_i32(ids), o);
    QVERIFY(want.end_to_end.kl_mean > 0);
    QVERIFY(same_end_to_end(r.end_to_end, want.end_to_end, kSameRel));
    QVERIFY(same_points(r.points, want.points, kSameRel));
    QCOMPARE(r.weights.size(), qw.size());
    for (size_t i = 0; i < qw.size(); ++i) {
      QCOMPARE(r.weights[i].point, qw[i].key);
      const WeightError we = weight_error(qw[i].key, *base.find(qw[i].key), qw[i].value);
      QVERIFY(close(r.weights[i].error.mse, we.mse, kSameRel, we.key.c_str()));
      QVERIFY(close(r.weights[i].error.sqnr_db, we.sqnr_db, kSameRel, we.key.c_str()));
    }
  }

  // Global A8 (dynamic per token) and H4 (DSQ), and the wide A10 H12, equal PointFakeQuant on
  // every point.
  void actStateMatchPointFakeQuant_data() {
    QTest::addColumn<int>("abits");
    QTest::addColumn<int>("hbits");
    QTest::newRow("A8 H4") << 8 << 4;
    QTest::newRow("A10 H12") << 10 << 12;
  }
  void actStateMatchPointFakeQuant() {
    QFETCH(int, abits);
    QFETCH(int, hbits);
    const Checkpoint ck = open_checkpoint(kFixtures + "/models/mamba1-hf");
    const at::Tensor ids = batch(fixture_ids("mamba1-hf"), 1, 40);
    RequantSession session(ck, EngineOptions{}, ids);
    RequantSetting s;
    s.abits = abits;
    s.hbits = hbits;
    const RequantResult r = session.evaluate(s);
    ActQuantSpec a;
    a.bits = abits;
    StateQuantSpec h;
    h.bits = hbits;
    const auto model = MambaModel::load(ck, EngineOptions{});
    const std::vector<QuantPoint> pts = activation_points(model->config());
    PointFakeQuant fq(a, h, std::set<QuantPoint>(pts.begin(), pts.end()));
    QuantEvalOptions o;
    o.ctx = 40;
    const QuantEvalResult want = evaluate_quantized(*model, *model, &fq, as_i32(ids), o);
    QVERIFY(same_end_to_end(r.end_to_end, want.end_to_end, kSameRel));
    QVERIFY(same_points(r.points, want.points, kSameRel));
    QVERIFY(!r.model_reloaded);  // weights stay float: the float model runs the quantized forward
  }

  // Two windows in one batch count like evaluate_quantized's two windows of ctx tokens.
  void batchedWindowsMatchEvaluator() {
    const Checkpoint ck = open_checkpoint(kFixtures + "/models/mamba1-hf");
    const at::Tensor ids = batch(fixture_ids("mamba1-hf"), 2, 36);
    RequantSession session(ck, EngineOptions{}, ids);
    RequantSetting s;
    s.hbits = 6;
    s.state_method = StateMethod::Channel;
    const RequantResult r = session.evaluate(s);
    StateQuantSpec h;
    h.bits = 6;
    h.method = StateMethod::Channel;
    const auto model = MambaModel::load(ck, EngineOptions{});
    const std::vector<QuantPoint> pts = activation_points(model->config());
    PointFakeQuant fq(ActQuantSpec{}, h, std::set<QuantPoint>(pts.begin(), pts.end()));
    QuantEvalOptions o;
    o.ctx = 36;
    const QuantEvalResult want = evaluate_quantized(*model, *model, &fq, as_i32(ids), o);
    QCOMPARE(r.end_to_end.windows, int64_t(2));
    QVERIFY(same_end_to_end(r.end_to_end, want.end_to_end, kBatchRel));
    QVERIFY(same_points(r.points, want.points, kBatchRel));
  }

  // A W4 override on layer 1 alone: only layer 1's weights are rounded; everything layer 1
  // reads before its first quantized Linear (layer 0, layers.1.in_proj.input) stays exact. The
  // cache: the same setting again rounds nothing and keeps the model; another layer-1 width
  // re-rounds layer 1's four weights; moving only A bits re-rounds none.
  void layerOverrideTouchesOnlyThatLayer() {
    const Checkpoint ck = open_checkpoint(kFixtures + "/models/mamba1-hf");
    RequantSession session(ck, EngineOptions{}, batch(fixture_ids("mamba1-hf"), 1, 48));
    RequantSetting s;
    s.layers[1].wbits = 4;
    const RequantResult r = session.evaluate(s);
    QCOMPARE(r.weights_rounded, int64_t(4));
    QVERIFY(r.model_reloaded);
    QCOMPARE(int(r.weights.size()), 4);
    for (const PointError& w : r.weights) QVERIFY2(w.point.rfind("layers.1.", 0) == 0, w.point.c_str());
    for (const PointError& p : r.points) {
      const bool upstream = p.point.rfind("layers.0.", 0) == 0 || p.point == "layers.1.in_proj.input";
      if (upstream) QVERIFY2(std::isinf(p.error.sqnr_db), p.point.c_str());
      else QVERIFY2(std::isfinite(p.error.sqnr_db), p.point.c_str());
    }
    QVERIFY(r.end_to_end.kl_mean > 0);

    const RequantResult again = session.evaluate(s);
    QCOMPARE(again.weights_rounded, int64_t(0));
    QVERIFY(!again.model_reloaded);
    QCOMPARE(again.end_to_end.kl_mean, r.end_to_end.kl_mean);

    RequantSetting fewer = s;
    fewer.layers[1].wbits = 2;
    const RequantResult r2 = session.evaluate(fewer);
    QCOMPARE(r2.weights_rounded, int64_t(4));
    // Fewer bits: every weight of layer 1 loses SQNR, and the output drifts further.
    for (size_t i = 0; i < r2.weights.size(); ++i)
      QVERIFY2(r2.weights[i].error.sqnr_db < r.weights[i].error.sqnr_db, r2.weights[i].point.c_str());
    QVERIFY(r2.end_to_end.kl_mean > r.end_to_end.kl_mean);

    RequantSetting acts = fewer;
    acts.abits = 8;
    const RequantResult r3 = session.evaluate(acts);
    QCOMPARE(r3.weights_rounded, int64_t(0));
    QVERIFY(!r3.model_reloaded);
  }

  // token_sqnr of one point and token equals tensor_error of that token's row, computed from
  // separate float and quantized forwards.
  void perTokenErrorIsTheRowError() {
    const Checkpoint ck = open_checkpoint(kFixtures + "/models/mamba1-hf");
    const at::Tensor ids = batch(fixture_ids("mamba1-hf"), 2, 30);
    RequantSession session(ck, EngineOptions{}, ids);
    RequantSetting s;
    s.abits = 6;
    const RequantResult r = session.evaluate(s);
    const QuantPoint point{1, Module::OutProj, Site::Input};
    const std::vector<QuantPoint>& pts = session.points();
    const size_t p = size_t(std::find(pts.begin(), pts.end(), point) - pts.begin());
    QVERIFY(p < pts.size());

    ActQuantSpec a;
    a.bits = 6;
    const auto model = MambaModel::load(ck, EngineOptions{});
    PointFakeQuant fq(a, StateQuantSpec{}, std::set<QuantPoint>(pts.begin(), pts.end()));
    Record f(point), q(point);
    model->forward(ids, nullptr, &f);
    model->forward(ids, nullptr, &q, &fq);
    for (int64_t w : {0, 1})
      for (int64_t t : {0, 7, 29}) {
        const double want = tensor_error(f.value[w][t], q.value[w][t]).sqnr_db;
        const float got = r.token_sqnr[p * 60 + size_t(w * 30 + t)];
        QVERIFY2(std::abs(got - float(want)) <= 1e-4f * std::abs(float(want)),
                 qPrintable(QString("window %1 token %2: %3 vs %4").arg(w).arg(t).arg(got).arg(want)));
      }
  }

  // Static scales without statistics come from the batch's own float run: the max |x| of the
  // point, so nothing clamps and A8 static per tensor equals A8 dynamic per tensor on one window.
  void staticScalesFromTheBatch() {
    const Checkpoint ck = open_checkpoint(kFixtures + "/models/mamba1-hf");
    RequantSession session(ck, EngineOptions{}, batch(fixture_ids("mamba1-hf"), 1, 40));
    RequantSetting s;
    s.abits = 8;
    s.act_granularity = ActGranularity::Tensor;
    s.act_scale = ActScale::Static;
    const RequantResult st = session.evaluate(s);
    s.act_scale = ActScale::Dynamic;
    const RequantResult dy = session.evaluate(s);
    // Layer 0's inputs see the float values in both runs: the same absmax, the same codes.
    QCOMPARE(st.points[0].error.mse, dy.points[0].error.mse);
    QVERIFY(st.points[0].error.mse > 0);
  }

  // The one-pass CPU sums against their ATen reference (the path CUDA takes), on awkward row
  // lengths (1, 7, 33 channels; a [B, T, E, N] state) and a bf16 quantized side: equal to 1e-12
  // relative (only the order of fp64 additions differs), max error exactly.
  void rowSumsMatchReference() {
    at::manual_seed(7);
    for (const std::vector<int64_t>& shape : std::vector<std::vector<int64_t>>{{1, 1, 1}, {2, 3, 7}, {3, 5, 33}, {2, 4, 6, 5}}) {
      const at::Tensor x = at::randn(shape), y = (x + 0.01 * at::randn(shape)).to(at::kBFloat16);
      const at::Tensor got = error_row_sums(x, y), want = error_row_sums_ref(x, y);
      QCOMPARE(got.sizes(), want.sizes());
      QCOMPARE(got.size(1), shape[0] * shape[1]);
      const double rel = ((got - want).abs() / want.abs().clamp_min(1e-300)).narrow(0, 0, 4).max().item<double>();
      QVERIFY2(rel <= kSameRel, qPrintable(QString("relative difference %1").arg(rel)));
      QVERIFY(at::equal(got[4], want[4]));
    }
    QVERIFY_THROWS_EXCEPTION(InputError, error_row_sums(at::zeros({2, 3}), at::zeros({2, 4})));
  }

  void settingValidationAndJson() {
    RequantSetting s;
    for (int bits = 2; bits <= 16; ++bits) {  // every width; 16 is float
      s.wbits = s.abits = s.hbits = bits;
      s.validate(2);
    }
    s.wbits = s.hbits = 16;
    s.abits = 17;
    try {
      s.validate(2);
      QFAIL("accepted abits 17");
    } catch (const UsageError& e) {
      QCOMPARE(QString(e.what()), QString("abits: 17 is outside 2..16 (16: stay float)"));
    }
    s.abits = 8;
    s.layers[1].wbits = 1;
    try {
      s.validate(2);
      QFAIL("accepted layers.1.wbits 1");
    } catch (const UsageError& e) {
      QCOMPARE(QString(e.what()), QString("layers.1.wbits: 1 is outside 2..16 (16: stay float)"));
    }
    s.layers[1].wbits = 12;  // a wide override: a real RTN width; 16 leaves the layer's weights float
    s.validate(2);
    QCOMPARE(s.weight_spec(1)->bits, 12);
    QVERIFY(!s.weight_spec(0));
    s.layers[1].wbits = 0;
    s.wbits = 15;
    s.layers[0].wbits = 16;
    QCOMPARE(s.weight_spec(1)->bits, 15);
    QVERIFY(!s.weight_spec(0));
    s.wbits = 16;
    s.layers.clear();
    s.layers[2].hbits = 4;
    QVERIFY_THROWS_EXCEPTION(UsageError, s.validate(2));
    s.layers.clear();
    s.act_scale = ActScale::Static;  // per token
    QVERIFY_THROWS_EXCEPTION(UsageError, s.validate(2));
    s.act_granularity = ActGranularity::Tensor;
    s.granularity = "group:0";
    QVERIFY_THROWS_EXCEPTION(UsageError, s.validate(2));

    RequantSetting t;
    t.id = 42;
    t.wbits = 3;
    t.hbits = 5;
    t.granularity = "group:64";
    t.symmetric = false;
    t.state_method = StateMethod::State;
    t.dsq_variant = DsqVariant::AbsMax;
    t.act_scale = ActScale::Static;
    t.act_granularity = ActGranularity::Tensor;
    t.token_detail = false;
    t.layers[1] = {8, 0, 4};
    const RequantSetting u = RequantSetting::from_json(nlohmann::json::parse(t.to_json().dump()), "line 1");
    QCOMPARE(u.to_json().dump(), t.to_json().dump());
    QCOMPARE(u.id, int64_t(42));
    QVERIFY(u.layers.at(1) == (LayerBits{8, 0, 4}));
    QCOMPARE(u.weight_spec(1)->bits, 8);
    QCOMPARE(u.weight_spec(0)->bits, 3);
    QCOMPARE(u.state_spec(1).bits, 4);
    QCOMPARE(u.state_spec(0).bits, 5);

    try {
      RequantSetting::from_json(nlohmann::json::parse(R"({"wbits": "four"})"), "request 3");
      QFAIL("accepted a string for wbits");
    } catch (const InputError& e) {
      QCOMPARE(QString(e.what()), QString("request 3: wbits must be an integer"));
    }
    QVERIFY_THROWS_EXCEPTION(InputError, RequantSetting::from_json(nlohmann::json::parse(R"({"layers": {"x": {}}})"), "r"));
    QVERIFY_THROWS_EXCEPTION(InputError, RequantSetting::from_json(nlohmann::json::parse(R"({"state_method": "best"})"), "r"));
  }
};

QTEST_APPLESS_MAIN(TestRequant)
#include "tst_requant.moc"
