// Calibration statistics against a float64 reference computed here from every activation of
// per-sequence forwards; exact merging across runs; save/load round trip; --max-tokens and
// cancellation. The tiny random models have Mamba-1 and Mamba-2 shapes.
#include <QtTest>

#include <ATen/ATen.h>

#include "core/engine/calibration.h"
#include "core/engine/random_init.h"

using namespace ms;

namespace {

// Activations of batched and single-sequence forwards differ by blocked-matmul rounding only.
constexpr double kBatchingTolerance = 1e-5;

struct Recorder : Observer {
  std::map<std::string, std::vector<at::Tensor>> seen;  // fp64 copies
  bool wants(const QuantPoint& p) const override { return p.site != Site::Weight; }
  void collect(const QuantPoint& p, const at::Tensor& v) override {
    seen[p.str()].push_back(v.to(at::kDouble).clone());
  }
};

double rel(const at::Tensor& a, const at::Tensor& b) {
  at::Tensor ad = a.to(at::kDouble), bd = b.to(at::kDouble);
  return ((ad - bd).abs() / bd.abs().clamp_min(1e-3)).max().item<double>();
}

std::vector<CalibText> random_texts(int64_t vocab, std::vector<int64_t> lengths, uint64_t seed) {
  at::manual_seed(seed);
  std::vector<CalibText> texts;
  for (int64_t n : lengths) {
    at::Tensor ids = at::randint(vocab, {n}, at::kInt);
    texts.push_back({"t" + std::to_string(texts.size()), "", std::vector<int32_t>(ids.data_ptr<int32_t>(), ids.data_ptr<int32_t>() + n)});
  }
  return texts;
}

}  // namespace

class TestCalibration : public QObject {
  Q_OBJECT
 private Q_SLOTS:
  void against_fp64_reference_data() {
    QTest::addColumn<QString>("preset");
    QTest::newRow("mamba") << "tiny-mamba";
    QTest::newRow("mamba2") << "tiny-mamba2";
  }
  void against_fp64_reference() {
    QFETCH(QString, preset);
    RandomModel rm = random_model(find_preset(preset.toStdString()).config, 11, at::kFloat);
    Checkpoint ck = rm.as_checkpoint();
    auto model = MambaModel::load(ck, EngineOptions{});
    auto texts = random_texts(rm.config.padded_vocab, {23, 5, 14}, 3);
    CalibOptions o;
    o.seq_len = 7;   // 23 -> 7,7,7,2; 5 -> 5; 14 -> 7,7: lengths 7 (x5), 5, 2
    o.batch = 3;
    o.covariance = true;
    CalibStats stats = calibrate(*model, texts, o);
    QCOMPARE(stats.tokens, int64_t(42));
    // Reference: each sequence alone, every activation kept in fp64.
    Recorder rec;
    for (const auto& t : texts)
      for (size_t b = 0; b < t.ids.size(); b += 7) {
        const size_t n = std::min<size_t>(7, t.ids.size() - b);
        at::Tensor ids = at::empty({1, int64_t(n)}, at::kLong);
        for (size_t k = 0; k < n; ++k) ids[0][int64_t(k)] = t.ids[b + k];
        model->forward(ids, nullptr, &rec);
      }
    QCOMPARE(stats.activations.size() + stats.states.size(), rec.seen.size());
    for (const auto& [key, parts] : rec.seen) {
      std::vector<at::Tensor> flat;
      for (const at::Tensor& p : parts) flat.push_back(p.flatten(0, 1));
      at::Tensor all = at::cat(flat, 0);  // [42, ...]
      QCOMPARE(all.size(0), int64_t(42));
      if (key.ends_with("ssm.state")) {
        const StateStats& s = stats.states.at(key);
        QCOMPARE(s.count, int64_t(42));
        QVERIFY2(rel(s.absmax, std::get<0>(all.abs().max(0))) < kBatchingTolerance, key.c_str());
        QVERIFY2(rel(s.mean_abs(), all.abs().mean(0)) < kBatchingTolerance, key.c_str());
        continue;
      }
      const ActivationStats& s = stats.activations.at(key);
      QVERIFY(at::equal(s.count, at::full({all.size(1)}, 42, at::kLong)));
      QVERIFY2(rel(s.absmax, std::get<0>(all.abs().max(0))) < kBatchingTolerance, key.c_str());
      QVERIFY2(rel(s.min, std::get<0>(all.min(0))) < kBatchingTolerance, key.c_str());
      QVERIFY2(rel(s.max, std::get<0>(all.max(0))) < kBatchingTolerance, key.c_str());
      QVERIFY2(rel(s.sum, all.sum(0)) < kBatchingTolerance * 10, key.c_str());
      QVERIFY2(rel(s.sumsq, all.pow(2).sum(0)) < kBatchingTolerance, key.c_str());
      // Off-diagonal X^T X entries cancel towards zero: judge them against the matrix's scale.
      at::Tensor cov_ref = at::matmul(all.t(), all);
      const double cov_err = (s.cov - cov_ref).abs().max().item<double>() / cov_ref.abs().max().item<double>();
      QVERIFY2(cov_err < kBatchingTolerance, qPrintable(QString("%1: %2").arg(key.c_str()).arg(cov_err)));
      QCOMPARE(s.hist.sum().item<int64_t>(), all.numel());
      // Histogram of |x| in fp64 loops: the same edges, counts within boundary rounding.
      at::Tensor edges = histogram_edges();
      std::vector<int64_t> ref(kHistBins, 0);
      at::Tensor a = all.abs().flatten().contiguous();
      for (int64_t i = 0; i < a.numel(); ++i) {
        double v = a[i].item<double>();
        int64_t bin = 0;
        while (bin + 1 < kHistBins && v >= edges[bin + 1].item<double>()) ++bin;
        ++ref[size_t(bin)];
      }
      int64_t diff = 0;
      for (int64_t b = 0; b < kHistBins; ++b) diff += std::abs(s.hist[b].item<int64_t>() - ref[size_t(b)]);
      QVERIFY2(diff <= 2, qPrintable(QString("%1: histogram differs in %2 counts").arg(key.c_str()).arg(diff)));
    }
  }

  void merges_exactly_and_round_trips() {
    RandomModel rm = random_model(find_preset("tiny-mamba").config, 5, at::kFloat);
    Checkpoint ck = rm.as_checkpoint();
    auto model = MambaModel::load(ck, EngineOptions{});
    auto texts = random_texts(rm.config.padded_vocab, {19, 11}, 8);
    CalibOptions o;
    o.seq_len = 8;
    CalibStats both = calibrate(*model, texts, o);
    CalibStats a = calibrate(*model, {texts[0]}, o), b = calibrate(*model, {texts[1]}, o);
    a.merge(b);
    QCOMPARE(a.tokens, both.tokens);
    for (const auto& [k, s] : both.activations) {
      const ActivationStats& m = a.activations.at(k);
      QVERIFY(at::equal(m.absmax, s.absmax) && at::equal(m.min, s.min) && at::equal(m.max, s.max));
      QVERIFY(at::equal(m.count, s.count) && at::equal(m.hist, s.hist));
      QVERIFY(rel(m.sum, s.sum) < 1e-12 && rel(m.sumsq, s.sumsq) < 1e-12);
    }
    for (const auto& [k, s] : both.states) {
      QVERIFY(at::equal(a.states.at(k).absmax, s.absmax));
      QCOMPARE(a.states.at(k).count, s.count);
    }
    QTemporaryDir dir;
    const std::string file = dir.path().toStdString() + "/s.safetensors";
    both.save(file);
    CalibStats back = CalibStats::load(file);
    QCOMPARE(back.tokens, both.tokens);
    QCOMPARE(back.activations.size(), both.activations.size());
    for (const auto& [k, s] : both.activations) {
      const ActivationStats& r = back.activations.at(k);
      QVERIFY(at::equal(r.absmax, s.absmax) && at::equal(r.sum, s.sum) && at::equal(r.hist, s.hist));
    }
    for (const auto& [k, s] : both.states) {
      QVERIFY(at::equal(back.states.at(k).sum_abs, s.sum_abs));
      QVERIFY(at::equal(back.states.at(k).mean_abs(), s.mean_abs()));
    }
  }

  void max_tokens_and_cancel() {
    RandomModel rm = random_model(find_preset("tiny-mamba2").config, 5, at::kFloat);
    Checkpoint ck = rm.as_checkpoint();
    auto model = MambaModel::load(ck, EngineOptions{});
    auto texts = random_texts(rm.config.padded_vocab, {40, 40}, 9);
    CalibOptions o;
    o.seq_len = 10;
    o.max_tokens = 55;
    QCOMPARE(calibrate(*model, texts, o).tokens, int64_t(55));
    o.max_tokens = 0;
    int calls = 0;
    CalibStats part = calibrate(*model, texts, o, [&](int64_t, int64_t) { return ++calls < 2; });
    QCOMPARE(part.tokens, int64_t(20));
    QCOMPARE(part.metadata.fields.at("cancelled"), std::string("true"));
  }
};

QTEST_APPLESS_MAIN(TestCalibration)
#include "tst_calibration.moc"
