// Hadamard matrices and rotations (core/quant/hadamard.h) and the KLT algebra
// (core/quant/rotation.h): exact entries of the small constructions, H Hᵀ = n I for every base and
// the released models' sizes, the fast Walsh–Hadamard transform and the fast rotation against
// their dense fp64 references over awkward sizes, clear refusals of sizes that cannot be built,
// and the KLT hand case where Hadamard alone leaves variances 3 and 1 and K H makes them equal.
#include <QtTest>

#include <cmath>
#include <sstream>
#include <string>
#include <vector>

#include <ATen/ATen.h>

#include "core/quant/hadamard.h"
#include "core/quant/rotation.h"
#include "core/util/error.h"
#include "kernels/fwht.h"

using namespace ms;

namespace {

constexpr double kEps32 = 1.0 / (1 << 23);  // fp32 unit roundoff ×2 (2^-23)

at::Tensor rowd(std::vector<double> v) { return at::tensor(v, at::kDouble); }

template <typename F>
QString error_of(F&& f) {
  try {
    f();
  } catch (const std::exception& e) {
    return QString::fromStdString(e.what());
  }
  return {};
}

// |a - b| <= bound elementwise (bound broadcasts), printing max and mean difference on failure.
bool within(const at::Tensor& a, const at::Tensor& b, const at::Tensor& bound, const char* what) {
  at::Tensor d = (a.to(at::kDouble) - b.to(at::kDouble)).abs();
  if ((d <= bound).all().item<bool>()) return true;
  qWarning("%s: max diff %g, mean diff %g, bound %g", what, d.max().item<double>(),
           d.mean().item<double>(), bound.min().item<double>());
  return false;
}

}  // namespace

class TestHadamard : public QObject {
  Q_OBJECT
 private Q_SLOTS:
  void smallMatricesExact() {
    QVERIFY(at::equal(hadamard_matrix(2), rowd({1, 1, 1, -1}).view({2, 2})));
    QVERIFY(at::equal(hadamard_matrix(4), rowd({1, 1, 1, 1, 1, -1, 1, -1, 1, 1, -1, -1, 1, -1, -1, 1}).view({4, 4})));
    // Paley I over GF(11): squares {1, 3, 4, 5, 9}, so χ(1..10) = + - + + + - - - + -; row 1 is
    // [-1, 1 (diagonal), χ(1), ..., χ(10)], row 0 all ones.
    at::Tensor h12 = hadamard_matrix(12);
    QVERIFY(at::equal(h12[0], at::ones({12}, at::kDouble)));
    QVERIFY(at::equal(h12[1], rowd({-1, 1, 1, -1, 1, 1, 1, -1, -1, -1, 1, -1})));
    // Paley II over GF(13): entry (0, 0) comes from C's 0 -> [[1, -1], [-1, -1]].
    at::Tensor h28 = hadamard_matrix(28);
    QVERIFY(at::equal(h28.index({at::indexing::Slice(0, 2), at::indexing::Slice(0, 2)}),
                      rowd({1, -1, -1, -1}).view({2, 2})));
    QCOMPARE(hadamard_matrix(1).item<double>(), 1.0);
  }

  // H Hᵀ = n I exactly (integers in fp64), every entry ±1.
  void orthogonal_data() {
    QTest::addColumn<int64_t>("n");
    for (int64_t n : {1, 2, 12, 20, 28, 40, 16, 48, 64, 96, 128, 160, 768, 1024})
      QTest::newRow(qPrintable(QString::number(n))) << n;
  }
  void orthogonal() {
    QFETCH(int64_t, n);
    at::Tensor H = hadamard_matrix(n);
    QCOMPARE(H.sizes().vec(), (std::vector<int64_t>{n, n}));
    QVERIFY((H.abs() == 1).all().item<bool>());
    QVERIFY(at::equal(at::matmul(H, H.t()), at::eye(n, at::kDouble) * double(n)));
  }

  void sizes() {
    QCOMPARE(hadamard_size(768).k, int64_t(12));
    QCOMPARE(hadamard_size(768).pow2, int64_t(64));
    QCOMPARE(hadamard_size(2560).k, int64_t(40));
    QCOMPARE(hadamard_size(5120).pow2, int64_t(128));
    QCOMPARE(hadamard_size(160).k, int64_t(40));
    QCOMPARE(hadamard_size(1536).k, int64_t(12));
    QCOMPARE(hadamard_size(56).k, int64_t(28));
    QCOMPARE(hadamard_size(128).k, int64_t(1));
    for (int64_t n : {768, 1024, 1536, 2048, 2560, 5120, 3072, 4096, 10240, 48, 64, 80, 96, 160, 16, 128})
      QVERIFY2(hadamard_supported(n), qPrintable(QString::number(n)));
    for (int64_t n : {0, 3, 36, 44, 100, 6144 + 12}) {
      QVERIFY(!hadamard_supported(n));
      const QString e = error_of([&] { hadamard_matrix(n); });
      QVERIFY2(e.contains("size " + QString::number(n)) && e.contains("k·2^m"), qPrintable(e));
    }
    QVERIFY_THROWS_EXCEPTION(UsageError, hadamard_rotate(at::ones({2, 36})));
    QVERIFY_THROWS_EXCEPTION(UsageError, fwht(at::ones({12})));
    QVERIFY_THROWS_EXCEPTION(UsageError, hadamard_base(36));
  }

  // Budget: each output of an m-stage butterfly is a sum of n terms ±x formed through m roundings,
  // |fast - exact| <= m·u·Σ|x| (u = 2^-24; 2^-23 used for margin).
  void fwhtAgainstReference_data() {
    QTest::addColumn<int64_t>("n");
    for (int64_t n : {1, 2, 8, 64, 1024, 4096}) QTest::newRow(qPrintable(QString::number(n))) << n;
  }
  void fwhtAgainstReference() {
    QFETCH(int64_t, n);
    at::manual_seed(n);
    at::Tensor x = at::randn({3, n});
    at::Tensor ref = fwht_ref(x);
    QCOMPARE(ref.scalar_type(), at::kDouble);
    const double m = std::log2(double(n));
    at::Tensor bound = (m + 1) * kEps32 * x.to(at::kDouble).abs().sum(1, true);
    QVERIFY(within(fwht(x), ref, bound, "fwht fp32"));
    QVERIFY(within(fwht(x.to(at::kDouble)), ref, bound * 1e-8, "fwht fp64"));
    // The reference itself against the dense Sylvester matrix.
    QVERIFY(within(ref, at::matmul(x.to(at::kDouble), hadamard_matrix(n)), bound * 1e-8, "fwht_ref"));
  }

  // The fast rotation (butterfly + dense k×k) against x H / √n in fp64, at every kind of size
  // including the released models' (5120 = 40·128 included: dense check on 3 rows only). Budget
  // for fp32: (m + k + 2)·u·Σ|x| / √n per row (butterfly, k-term dot products, the scaling).
  void rotateAgainstReference_data() {
    QTest::addColumn<int64_t>("n");
    for (int64_t n : {1, 12, 16, 20, 28, 40, 48, 96, 160, 768, 1536, 2560, 5120})
      QTest::newRow(qPrintable(QString::number(n))) << n;
  }
  void rotateAgainstReference() {
    QFETCH(int64_t, n);
    at::manual_seed(n + 1);
    at::Tensor x = at::randn({3, n});
    x[1][n / 2] = 40.0f;  // an outlier channel, what rotations are for
    at::Tensor ref = hadamard_rotate_ref(x);
    const HadamardSize s = hadamard_size(n);
    const double m = std::log2(double(s.pow2));
    at::Tensor bound = (m + s.k + 2) * kEps32 * x.to(at::kDouble).abs().sum(1, true) / std::sqrt(double(n));
    at::Tensor fast = hadamard_rotate(x);
    QCOMPARE(fast.scalar_type(), at::kFloat);
    QVERIFY(within(fast, ref, bound, "rotate fp32"));
    QVERIFY(within(hadamard_rotate(x.to(at::kDouble)), ref, bound * 1e-8, "rotate fp64"));
    // Orthonormal: norms kept; a 3-D input rotates its last axis.
    QVERIFY(within(ref.pow(2).sum(1).sqrt(), x.to(at::kDouble).pow(2).sum(1).sqrt(), at::full({1}, 1e-9 * n), "norm"));
    QVERIFY(within(hadamard_rotate(x.view({3, 1, n})).view({3, n}), fast, at::zeros({1}), "3-D"));
    at::Tensor b = hadamard_rotate(x.to(at::kBFloat16));
    QCOMPARE(b.scalar_type(), at::kBFloat16);
    QVERIFY(within(b, ref, 0.02 * ref.abs() + 0.02, "bf16"));  // bf16: 8 mantissa bits, two roundings
  }

  // The raw-pointer reference that the GPU kernel kernels/fwht.cu is checked against agrees with
  // the dense rotation: both accumulate in fp64, so only the final fp32 rounding differs.
  void kernelReference() {
    for (int64_t n : {1, 16, 40, 160, 768, 2560}) {
      at::manual_seed(n + 2);
      at::Tensor x = at::randn({3, n});
      const HadamardSize s = hadamard_size(n);
      at::Tensor hk = hadamard_base(s.k).to(at::kFloat).contiguous();
      at::Tensor y = at::empty_like(x);
      kernels::FwhtArgs a;
      a.rows = 3;
      a.n = n;
      a.k = s.k;
      a.x = x.data_ptr<float>();
      a.y = y.data_ptr<float>();
      a.hk = s.k > 1 ? hk.data_ptr<float>() : nullptr;
      a.scale = float(1.0 / std::sqrt(double(n)));
      kernels::fwht_ref(a);
      at::Tensor ref = hadamard_rotate_ref(x);
      // scale is rounded to fp32 (2^-24 relative) and so is the result.
      QVERIFY(within(y, ref, ref.abs() * 2 * kEps32 + 1e-12, qPrintable(QString("fwht_ref %1").arg(n))));
      kernels::fwht_ref({3, n, s.k, y.data_ptr<float>(), y.data_ptr<float>(), a.hk, 1.0f});  // in place
      QVERIFY(y.isfinite().all().item<bool>());
    }
  }

  // hadamard_rotation(n) is H / √n: Q Qᵀ = I to fp64 rounding.
  void rotationMatrix() {
    for (int64_t n : {12, 40, 96}) {
      at::Tensor Q = hadamard_rotation(n);
      QVERIFY(within(at::matmul(Q, Q.t()), at::eye(n, at::kDouble), at::full({1}, 1e-14), "QQt"));
    }
  }

  // The MambaQuant hand case: C = [[2, 1], [1, 2]] has eigenvalues 3 and 1, K = [[1, 1], [1, -1]]/√2.
  // Hadamard alone (H_2/√2 = K) turns the variances into 3 and 1 (CV 0.5); K H = I·... gives
  // diag = trace/2 = 2 for both.
  void kltHandCase() {
    at::Tensor C = rowd({2, 1, 1, 2}).view({2, 2});
    KltFit f = klt_fit(C);
    QVERIFY(within(f.eigenvalues, rowd({3, 1}), at::full({1}, 1e-14), "eigenvalues"));
    const double r = 1 / std::sqrt(2.0);
    QVERIFY(within(f.K, rowd({r, r, r, -r}).view({2, 2}), at::full({1}, 1e-14), "K"));
    at::Tensor vh = rotated_channel_variance(C, hadamard_rotation(2));
    QVERIFY(within(vh, rowd({3, 1}), at::full({1}, 1e-14), "Hadamard variances"));
    QVERIFY(std::fabs(coefficient_of_variation(vh) - 0.5) < 1e-14);
    at::Tensor vk = rotated_channel_variance(C, klt_rotation(C));
    QVERIFY(within(vk, rowd({2, 2}), at::full({1}, 1e-14), "KLT variances"));
  }

  // On 96 correlated channels (a low-rank mix), K H equalises every channel's variance to
  // trace(C)/n; Hadamard alone leaves a spread; on independent channels of one variance, Hadamard
  // alone is already equal (the paper's condition).
  void kltEqualisesCorrelatedChannels() {
    at::manual_seed(11);
    const int64_t n = 96;
    at::Tensor mix = at::randn({8, n}, at::kDouble) * at::linspace(0.1, 3, n, at::kDouble);
    at::Tensor X = at::matmul(at::randn({4000, 8}, at::kDouble), mix) + 0.05 * at::randn({4000, n}, at::kDouble) + 2.0;
    ActivationStats s;
    s.count = at::full({n}, 4000, at::kLong);
    s.sum = X.sum(0);
    s.cov = at::matmul(X.t(), X);
    at::Tensor C = centred_covariance(s, "p");
    at::Tensor Xc = X - X.mean(0, true);
    QVERIFY(within(C, at::matmul(Xc.t(), Xc) / 4000.0, at::full({1}, 1e-9), "centred covariance"));
    at::Tensor vk = rotated_channel_variance(C, klt_rotation(C));
    const double target = C.trace().item<double>() / n;
    QVERIFY(within(vk, at::full({n}, target, at::kDouble), at::full({1}, 1e-10 * target), "KLT"));
    QVERIFY(coefficient_of_variation(vk) < 1e-10);
    const double cv_h = coefficient_of_variation(rotated_channel_variance(C, hadamard_rotation(n)));
    QVERIFY2(cv_h > 0.2, qPrintable(QString::number(cv_h)));
    at::Tensor D = at::eye(n, at::kDouble) * 1.7;
    QVERIFY(coefficient_of_variation(rotated_channel_variance(D, hadamard_rotation(n))) < 1e-12);
    // K is orthogonal.
    at::Tensor K = klt_fit(C).K;
    QVERIFY(within(at::matmul(K.t(), K), at::eye(n, at::kDouble), at::full({1}, 1e-12), "KtK"));
    ActivationStats no_cov = s;
    no_cov.cov = at::Tensor();
    const QString e = error_of([&] { centred_covariance(no_cov, "layers.2.in_proj.input"); });
    QVERIFY2(e.contains("layers.2.in_proj.input") && e.contains("--cov"), qPrintable(e));
  }
};

QTEST_APPLESS_MAIN(TestHadamard)
#include "tst_hadamard.moc"
