// State quantizers (core/quant/dsq.h): hand-computed exact cases for every method, zero rows and
// states, and the fast path and the fp64 reference against numpy's fp64 (tests/fixtures/fq, made by
// gen_fq_fixtures.py) for the four DSQ variants and the three baselines at H4, H6, H8, H12 and H15.
#include <QtTest>

#include <sstream>
#include <string>
#include <vector>

#include <ATen/ATen.h>

#include "core/io/npy.h"
#include "core/quant/dsq.h"
#include "core/util/error.h"

using namespace ms;

namespace {

at::Tensor load_npy(const std::string& name) {
  NpyArray a = read_npy_f32(std::string(MAMBASCOPE_FIXTURES) + "/fq/" + name);
  return at::from_blob(a.data.data(), a.shape, at::kFloat).clone();
}

at::Tensor t2(std::vector<std::vector<float>> rows) {
  at::Tensor t = at::empty({int64_t(rows.size()), int64_t(rows[0].size())}, at::kFloat);
  for (size_t i = 0; i < rows.size(); ++i)
    for (size_t j = 0; j < rows[0].size(); ++j) t[int64_t(i)][int64_t(j)] = rows[i][j];
  return t;
}

bool same(const at::Tensor& got, const at::Tensor& want) {
  if (got.sizes() == want.sizes() && at::equal(got, want)) return true;
  std::ostringstream os;
  os << "got\n" << got << "\nexpected\n" << want;
  qWarning("%s", os.str().c_str());
  return false;
}

StateQuantSpec spec(int bits, const std::string& name) {
  StateQuantSpec s;
  s.bits = bits;
  if (name.rfind("abs.", 0) == 0) {
    s.method = StateMethod::Dsq;
    s.variant = parse_dsq_variant(name);
  } else {
    s.method = parse_state_method(name);
  }
  return s;
}

// The fp32 fast path and numpy's fp64 may round differently only where qmax·s/M lies within fp32
// rounding of a .5 tie (then by one step M/qmax). Budget: a few fp32 ulps of M everywhere else,
// and at most 1 % of the elements one step apart.
bool near_ties_only(const at::Tensor& got, const at::Tensor& want, const at::Tensor& state,
                    const StateQuantSpec& sp, const QString& what) {
  const StateScales sc = state_scales(state, sp);
  const double qmax = double((1 << (sp.bits - 1)) - 1);
  const at::Tensor step = (sc.channel * sc.state / qmax).to(at::kDouble);  // [..., R, N]
  const at::Tensor diff = (got.to(at::kDouble) - want.to(at::kDouble)).abs();
  // fp32 rounding of M = S_ch·S_st and of q·M/qmax: a few ulps of M (8 ulps = 1e-6·M).
  const at::Tensor ulps = step * qmax * 1e-6 + 1e-12;
  const at::Tensor tiny = diff <= ulps;
  const at::Tensor one_step = (diff - step).abs() <= ulps;
  const int64_t off = (~tiny).sum().item<int64_t>();
  const int64_t bad = (~(tiny | one_step)).sum().item<int64_t>();
  if (bad > 0 || off * 100 > got.numel()) {
    qWarning("%s: %lld element(s) off by other than one step, %lld one step apart of %lld; max diff %g",
             qPrintable(what), (long long)bad, (long long)off, (long long)got.numel(),
             diff.max().item<double>());
    return false;
  }
  return true;
}

}  // namespace

class TestDsq : public QObject {
  Q_OBJECT
 private Q_SLOTS:
  // s = [[4, -4, 0, 8], [1, 1, -1, 1]] at H4 (qmax 7), worked by hand.
  //   DSQ abs.mean.sqrt: S_ch = [sqrt(16/4), sqrt(4/4)] = [2, 1]; S_st = max_i |s_ij|/S_ch,i =
  //   [2, 2, 1, 4]; M = [[4, 4, 2, 8], [2, 2, 1, 4]]; 7·s/M = [[7, -7, 0, 7], [3.5, 3.5, -7, 1.75]]
  //   -> codes [[7, -7, 0, 7], [4, 4, -7, 2]] (3.5 ties to even 4) -> values [[4, -4, 0, 8],
  //   [8/7, 8/7, -1, 8/7]].
  void handDsq() {
    const at::Tensor s = t2({{4, -4, 0, 8}, {1, 1, -1, 1}});
    const float e = 8.0f / 7.0f;
    const StateScales sc = state_scales(s, spec(4, "abs.mean.sqrt"));
    QVERIFY(same(sc.channel, t2({{2}, {1}})));
    QVERIFY(same(sc.state, t2({{2, 2, 1, 4}})));
    QVERIFY(same(state_fake_quant(s, spec(4, "abs.mean.sqrt")), t2({{4, -4, 0, 8}, {e, e, -1, e}})));
    QVERIFY(same(state_fake_quant_ref(s, spec(4, "abs.mean.sqrt")), t2({{4, -4, 0, 8}, {e, e, -1, e}})));
    // abs.max: S_ch = [8, 1], S_st = [max(.5, 1), 1, max(0, 1), max(1, 1)] = 1: per channel.
    QVERIFY(same(state_scales(s, spec(4, "abs.max")).state, t2({{1, 1, 1, 1}})));
    QVERIFY(same(state_fake_quant(s, spec(4, "abs.max")), state_fake_quant(s, spec(4, "channel"))));
  }

  // The same state at the wide widths: M as above, qmax·s/M = [[q, -q, 0, q], [q/2, q/2, -q, q/4]].
  //   H12 (qmax 2047): 1023.5 ties to even 1024, 511.75 -> 512: values 2048/2047 in row 1.
  //   H15 (qmax 16383): 8191.5 ties to even 8192, 4095.75 -> 4096: values 16384/16383.
  void handDsqWide() {
    const at::Tensor s = t2({{4, -4, 0, 8}, {1, 1, -1, 1}});
    for (const auto& [bits, e] : {std::pair{12, 2048.0f / 2047.0f}, std::pair{15, 16384.0f / 16383.0f}}) {
      const at::Tensor want = t2({{4, -4, 0, 8}, {e, e, -1, e}});
      QVERIFY(same(state_fake_quant(s, spec(bits, "abs.mean.sqrt")), want));
      QVERIFY(same(state_fake_quant_ref(s, spec(bits, "abs.mean.sqrt")), want));
      QVERIFY(same(state_fake_quant(s, spec(bits, "state")), want));  // M = [4, 4, 1, 8]: other codes, same values
    }
  }

  // The baselines on the same state.
  //   tensor: M = 8: 7s/8 = [[3.5, -3.5, 0, 7], [.875, .875, -.875, .875]] -> [[4, -4, 0, 7],
  //           [1, 1, -1, 1]] -> values ·8/7.
  //   channel: M = [8; 1]: row 0 as tensor, row 1 codes [7, 7, -7, 7] -> [1, 1, -1, 1].
  //   state: M = [4, 4, 1, 8]: [[7, -7, 0, 7], [1.75, 1.75, -7, .875]] -> [[7, -7, 0, 7],
  //          [2, 2, -7, 1]] -> [[4, -4, 0, 8], [8/7, 8/7, -1, 8/7]].
  void handBaselines() {
    const at::Tensor s = t2({{4, -4, 0, 8}, {1, 1, -1, 1}});
    const float a = 32.0f / 7.0f, e = 8.0f / 7.0f;
    QVERIFY(same(state_fake_quant(s, spec(4, "tensor")), t2({{a, -a, 0, 8}, {e, e, -e, e}})));
    QVERIFY(same(state_fake_quant(s, spec(4, "channel")), t2({{a, -a, 0, 8}, {1, 1, -1, 1}})));
    QVERIFY(same(state_fake_quant(s, spec(4, "state")), t2({{4, -4, 0, 8}, {e, e, -1, e}})));
    for (const char* m : {"tensor", "channel", "state"})
      QVERIFY(same(state_fake_quant_ref(s, spec(4, m)), state_fake_quant(s, spec(4, m))));
    // Ties go to even both ways: 3.5 -> 4 above; here s = [[2.5, 7]] per tensor: M = 7,
    // 7·2.5/7 = 2.5 -> 2, value 2.
    QVERIFY(same(state_fake_quant(t2({{2.5f, 7}}), spec(4, "tensor")), t2({{2, 7}})));
  }

  // An all-zero state (the first token of every sequence starts from one) stays zero, never NaN,
  // for every method; 16 bits is the identity.
  void zerosAndIdentity() {
    const at::Tensor z = at::zeros({2, 3, 5}, at::kFloat);
    for (const char* m : {"tensor", "channel", "state", "abs.max", "abs.max.sqrt", "abs.mean", "abs.mean.sqrt"}) {
      QVERIFY2(same(state_fake_quant(z, spec(4, m)), z), m);
      QVERIFY2(same(state_fake_quant_ref(z, spec(4, m)), z), m);
    }
    const at::Tensor s = at::randn({3, 4, 6});
    StateQuantSpec off;
    QVERIFY(!off.enabled());
    QVERIFY(same(state_fake_quant(s, off), s));
  }

  // Scales are per [R, N] matrix of the leading dims: a batch of two matrices equals each alone.
  void perMatrix() {
    const at::Tensor s = at::randn({2, 3, 8, 16}) * 5;
    for (const char* m : {"tensor", "channel", "state", "abs.mean.sqrt"}) {
      const at::Tensor all = state_fake_quant(s, spec(4, m));
      QVERIFY(same(all[1][2], state_fake_quant(s[1][2], spec(4, m))));
    }
  }

  // numpy fp64 (gen_fq_fixtures.py) vs the fast path and the reference: outliers in a row and a
  // column, an all-zero row, every method and variant, H4/H6/H8 and the wide H12/H15.
  void againstNumpy() {
    const at::Tensor s = load_npy("state.npy");  // [2, 3, 8, 16]
    for (const char* m : {"tensor", "channel", "state", "abs.max", "abs.max.sqrt", "abs.mean", "abs.mean.sqrt"}) {
      for (int bits : {4, 6, 8, 12, 15}) {
        const at::Tensor want = load_npy(std::string("state_") + m + "_h" + std::to_string(bits) + ".npy");
        const StateQuantSpec sp = spec(bits, m);
        const QString what = QString("%1 H%2").arg(m).arg(bits);
        QVERIFY(near_ties_only(state_fake_quant(s, sp), want, s, sp, what + " fast"));
        QVERIFY(near_ties_only(state_fake_quant_ref(s, sp), want, s, sp, what + " ref"));
      }
    }
  }

  // The quantizers' ordering on this outlier-laden state (both a row and a column): DSQ's error is
  // the smallest at H4, per tensor the largest. Not a theorem; it is what Q-Mamba's Figure 3
  // argues for states shaped like these, and it holds by a wide margin here.
  void dsqBeatsBaselinesOnOutliers() {
    const at::Tensor s = load_npy("state.npy");
    auto err = [&](const char* m) {
      return (state_fake_quant(s, spec(4, m)) - s).pow(2).mean().item<double>();
    };
    const double dsq = err("abs.mean.sqrt"), tensor = err("tensor"), channel = err("channel"),
                 state = err("state");
    qInfo("H4 MSE: dsq %g, state %g, channel %g, tensor %g", dsq, state, channel, tensor);
    QVERIFY(dsq < state && dsq < channel && dsq < tensor);
    QVERIFY(tensor > channel && tensor > state);
  }

  void errors() {
    auto msg = [](auto&& f) -> QString {
      try {
        f();
      } catch (const std::exception& e) {
        return e.what();
      }
      return {};
    };
    QCOMPARE(msg([] { parse_state_method("minmax"); }),
             QString("--state-method: 'minmax' is not one of dsq, tensor, channel, state"));
    QCOMPARE(msg([] { parse_dsq_variant("abs.sqrt"); }),
             QString("--dsq-variant: 'abs.sqrt' is not one of abs.max, abs.max.sqrt, abs.mean, abs.mean.sqrt"));
    QCOMPARE(msg([] { spec(17, "dsq").validate(); }), QString("--hbits: 17 is outside 2..16 (16: no state quantization)"));
    QCOMPARE(msg([] { spec(1, "dsq").validate(); }), QString("--hbits: 1 is outside 2..16 (16: no state quantization)"));
    for (int bits = 2; bits <= 16; ++bits) QCOMPARE(msg([bits] { spec(bits, "dsq").validate(); }), QString());
    QCOMPARE(QString::fromStdString(spec(12, "abs.mean.sqrt").describe()), QString("H12 dsq abs.mean.sqrt"));
    QVERIFY(msg([] { state_fake_quant(at::ones({4}), spec(4, "dsq")); }).contains("expected [..., R, N]"));
    QCOMPARE(QString::fromStdString(spec(4, "abs.mean.sqrt").describe()), QString("H4 dsq abs.mean.sqrt"));
    QCOMPARE(QString::fromStdString(spec(6, "channel").describe()), QString("H6 channel"));
  }
};

QTEST_APPLESS_MAIN(TestDsq)
#include "tst_dsq.moc"
