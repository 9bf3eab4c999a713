// Statistics files as the channel-maxima view sees them (core/model/stats_file.h): the outlier rule
// on hand-made absmax values where exactly the planted channels exceed mean + 6σ, the summaries
// and heatmap the view draws, the default layer and point, refusals of malformed files, and the
// check against a model's config.
#include <cmath>
#include <functional>

#include <QTemporaryDir>
#include <QtTest>

#include "app/main_window.h"
#include "core/util/error.h"
#include "tiny_model.h"
#include "tiny_stats.h"

using namespace ms;

namespace {

// Smooth baseline in [1, 1.3): far from any threshold.
float baseline(int64_t c) { return 1.0f + 0.05f * static_cast<float>(c % 7); }

// The error message of `fn`, or empty when it did not throw InputError.
QString input_error(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const InputError& e) {
    return QString::fromStdString(e.what());
  }
  return {};
}

}  // namespace

class TestStatsFile : public QObject {
  Q_OBJECT

 private Q_SLOTS:
  void initTestCase() { QVERIFY(m_dir.isValid()); }

  void plantedChannelsAreTheOutliers() {
    // C = 256: a single channel can only pass mean + 6σ when C > 37, so the rule is testable here.
    // Channels 3 (100) and 200 (120) are planted; 50 (20, ~2σ) is tall but within the band.
    const std::string path = file("planted.safetensors");
    test::write_stats_file(path, 2, {{Module::InProj, 256}, {Module::OutProj, 64}}, [](int l, Module m, int64_t c) {
      if (l == 1 && m == Module::InProj && c == 3) return 100.0f;
      if (l == 1 && m == Module::InProj && c == 200) return 120.0f;
      if (l == 1 && m == Module::InProj && c == 50) return 20.0f;
      return baseline(c);
    });
    const auto stats = read_stats_file(path);
    QCOMPARE(stats->n_layers, 2);
    QCOMPARE(stats->tokens, 1234);
    QCOMPARE(static_cast<int>(stats->series.size()), 2);
    QVERIFY(stats->series[0].module == Module::InProj);  // forward order, not file order
    const ChannelMaxima& m = stats->find(Module::InProj)->layers[1];
    QCOMPARE(m.point.str(), std::string("layers.1.in_proj.input"));

    // Mean and population std recomputed here in the plainest way.
    double sum = 0, sq = 0;
    for (const float v : m.absmax) sum += v;
    const double mean = sum / 256.0;
    for (const float v : m.absmax) sq += (v - mean) * (v - mean);
    const double std = std::sqrt(sq / 256.0);
    const double kTol = 1e-9;  // fp64 sums of 256 floats: identical up to rounding order
    QVERIFY2(std::abs(m.mean - mean) < kTol, qPrintable(QString::number(m.mean - mean)));
    QVERIFY2(std::abs(m.std - std) < kTol, qPrintable(QString::number(m.std - std)));
    QVERIFY(std::abs(m.threshold - (mean + 6.0 * std)) < kTol);
    QVERIFY(20.0 < m.threshold && m.threshold < 100.0);  // the test's premise
    QCOMPARE(m.max, 120.0f);

    QCOMPARE(static_cast<int>(m.outliers.size()), 2);
    QCOMPARE(m.outliers[0].channel, 200);  // largest first
    QCOMPARE(m.outliers[1].channel, 3);
    QCOMPARE(m.outliers[0].absmax, 120.0f);
    QVERIFY(std::abs(m.outliers[0].times_mean - 120.0 / mean) < kTol);
    // Layer 0 and the other point have none.
    QVERIFY(stats->find(Module::InProj)->layers[0].outliers.empty());
    QVERIFY(stats->find(Module::OutProj)->layers[1].outliers.empty());

    QCOMPARE(stats->layer_with_most_outliers(), 1);
    QVERIFY(stats->point_with_most_outliers(1) == Module::InProj);
  }

  void heatmapIsNormalisedPerLayer() {
    const std::string path = file("heat.safetensors");
    test::write_stats_file(path, 3, {{Module::OutProj, 40}}, [](int l, Module, int64_t c) {
      return static_cast<float>((l + 1) * (c + 1));  // layer l's max is (l + 1) · 40 at channel 39
    });
    const auto stats = read_stats_file(path);
    const PointSeries& s = *stats->find(Module::OutProj);
    QCOMPARE(s.columns, 40);
    QCOMPARE(s.channels_per_column, 1);
    QCOMPARE(static_cast<int>(s.heatmap.size()), 3 * 40);
    for (int l = 0; l < 3; ++l) {
      QCOMPARE(s.heatmap[static_cast<std::size_t>(l * 40 + 39)], 1.0f);
      QCOMPARE(s.heatmap[static_cast<std::size_t>(l * 40)], 1.0f / 40.0f);
    }
  }

  void wideLayersPoolByMax() {
    // 2,500 channels > kMaxHeatmapColumns: 3 channels a column, and a lone spike survives pooling.
    const std::string path = file("wide.safetensors");
    test::write_stats_file(path, 1, {{Module::InProj, 2500}},
                           [](int, Module, int64_t c) { return c == 1501 ? 50.0f : 1.0f; });
    const auto stats = read_stats_file(path);
    const PointSeries& s = *stats->find(Module::InProj);
    QCOMPARE(s.channels_per_column, 3);
    QCOMPARE(s.columns, 834);
    QCOMPARE(s.heatmap[1501 / 3], 1.0f);
    QCOMPARE(s.heatmap[0], 1.0f / 50.0f);
  }

  void malformedFilesAreRefused_data() {
    QTest::addColumn<int>("which");
    QTest::addColumn<QString>("mentions");
    QTest::newRow("no format") << 0 << "not a MambaScope statistics file";
    QTest::newRow("width changes") << 1 << "layers.1.in_proj.input.absmax";
    QTest::newRow("negative absmax") << 2 << "negative";
    QTest::newRow("missing layer") << 3 << "missing tensor layers.0.out_proj.input.absmax";
  }
  void malformedFilesAreRefused() {
    QFETCH(int, which);
    QFETCH(QString, mentions);
    const std::string path = file("bad.safetensors");
    const auto flat = [](int, Module, int64_t) { return 1.0f; };
    if (which == 0) {
      test::write_stats_file(path, 1, {{Module::InProj, 8}}, flat, {{"tokens", "3"}});
    } else if (which == 1) {
      std::vector<float> a(8, 1.0f), b(9, 1.0f);
      write_safetensors(path, {{"layers.0.in_proj.input.absmax", DType::F32, {8}, a.data(), 32},
                               {"layers.1.in_proj.input.absmax", DType::F32, {9}, b.data(), 36}},
                        {{"format", "mambascope-calib-stats/1"}});
    } else if (which == 2) {
      test::write_stats_file(path, 1, {{Module::InProj, 8}}, [](int, Module, int64_t c) { return c == 2 ? -1.0f : 1.0f; });
    } else {
      std::vector<float> a(8, 1.0f);
      write_safetensors(path, {{"layers.0.in_proj.input.absmax", DType::F32, {8}, a.data(), 32},
                               {"layers.1.out_proj.input.absmax", DType::F32, {8}, a.data(), 32},
                               {"layers.1.in_proj.input.absmax", DType::F32, {8}, a.data(), 32}},
                        {{"format", "mambascope-calib-stats/1"}});
    }
    const QString message = input_error([&] { read_stats_file(path); });
    QVERIFY2(message.contains(mentions), qPrintable(message));
    QVERIFY2(message.contains(QString::fromStdString(path)), qPrintable(message));
    QVERIFY(!message.contains(QLatin1Char('\n')));
  }

  void stateMaps() {
    // Mamba-2 shaped: H = 4 heads of P = 16, N = 4, so 64 rows (one planted row can pass 6σ only
    // when rows > 37). Row 7 of layer 1 is planted at 50; element (0, 0) is zero (never moved).
    const int H = 4, P = 16, N = 4, rows = H * P;
    test::StatsWriter w;
    std::vector<float> ones(16, 1.0f);
    for (int l = 0; l < 2; ++l) {
      w.f32("layers." + std::to_string(l) + ".in_proj.input.absmax", {16}, ones);
      std::vector<float> absmax, mean_abs;
      for (int r = 0; r < rows; ++r)
        for (int n = 0; n < N; ++n) {
          float v = 1.0f + 0.01f * static_cast<float>(r) + 0.1f * static_cast<float>(n);
          if (l == 1 && r == 7) v = 50.0f + static_cast<float>(n);
          if (r == 0 && n == 0) v = 0.0f;
          absmax.push_back(v);
          mean_abs.push_back(v / 4.0f);
        }
      const std::string key = "layers." + std::to_string(l) + ".ssm.state";
      w.f32(key + ".absmax", {H, P, N}, absmax);
      w.f32(key + ".mean_abs", {H, P, N}, mean_abs);
    }
    w.write(file("state.safetensors"), {{"format", "mambascope-calib-stats/1"}, {"tokens", "99"}, {"cancelled", "true"}});
    const auto stats = read_stats_file(file("state.safetensors"));
    QVERIFY(stats->cancelled);
    QCOMPARE(static_cast<int>(stats->states.size()), 2);
    const StateMaps& s = stats->states[1];
    QCOMPARE(s.point.str(), std::string("layers.1.ssm.state"));
    QCOMPARE(s.rows, 64);
    QCOMPARE(s.states, 4);
    QCOMPARE(s.head_dim, 16);
    // Flattened head-major: row = h * P + p, element [row, n].
    QCOMPARE(s.absmax[7 * N + 2], 52.0f);
    QCOMPARE(s.mean_abs[7 * N + 2], 13.0f);
    QCOMPARE(s.row_max.absmax[7], 53.0f);          // max over its states
    QCOMPARE(s.row_max.absmax[0], 1.3f);           // the zero element does not lower a max
    QCOMPARE(s.state_max[0], 50.0f);               // max over rows, row 7
    QCOMPARE(s.state_max[3], 53.0f);
    QCOMPARE(static_cast<int>(s.row_max.outliers.size()), 1);
    QCOMPARE(s.row_max.outliers[0].channel, 7);
    QVERIFY(stats->states[0].row_max.outliers.empty());
    QCOMPARE(stats->state_layer_with_most_outliers(), 1);
    // Colour ranges skip the zero: the smallest positive is row 1, state 0.
    QCOMPARE(s.absmax_min_positive, 1.01f);
    QCOMPARE(s.absmax_max, 53.0f);
    QCOMPARE(s.mean_abs_min_positive, 1.01f / 4.0f);
    QCOMPARE(s.mean_abs_max, 53.0f / 4.0f);
    QCOMPARE(stats->states[0].absmax_max, 1.0f + 0.63f + 0.3f);
  }

  void stateShapeAgainstTheModel() {
    const QString model = QString::fromStdString(file("m2"));
    test::write_tiny_mamba2(model);  // H = 4, P = 8, N = 4, 2 layers
    const ModelConfig config = app::loadModel(model).snapshot->config;
    const auto write = [&](const std::string& name, std::vector<int64_t> shape) {
      test::StatsWriter w;
      int64_t numel = 1;
      for (const int64_t d : shape) numel *= d;
      for (int l = 0; l < 2; ++l) {
        const std::string p = "layers." + std::to_string(l) + ".";
        w.f32(p + "in_proj.input.absmax", {16}, std::vector<float>(16, 1.0f));
        w.f32(p + "out_proj.input.absmax", {32}, std::vector<float>(32, 1.0f));
        w.f32(p + "ssm.state.absmax", shape, std::vector<float>(static_cast<std::size_t>(numel), 1.0f));
        w.f32(p + "ssm.state.mean_abs", shape, std::vector<float>(static_cast<std::size_t>(numel), 0.5f));
      }
      w.write(file(name.c_str()));
      return read_stats_file(file(name.c_str()));
    };
    QVERIFY(!stats_mismatch(*write("m2-ok.safetensors", {4, 8, 4}), config));
    const auto states = stats_mismatch(*write("m2-n.safetensors", {4, 8, 5}), config);
    QVERIFY(states);
    QVERIFY2(states->find("32 x 5") != std::string::npos && states->find("32 x 4") != std::string::npos, states->c_str());
    // A Mamba-1 shaped [E, N] state for a Mamba-2 model: same element count, wrong layout.
    QVERIFY(stats_mismatch(*write("m2-flat.safetensors", {32, 4}), config));
    // Broken state tensors are refused naming the tensor.
    test::StatsWriter bad;
    bad.f32("layers.0.in_proj.input.absmax", {16}, std::vector<float>(16, 1.0f));
    bad.f32("layers.0.ssm.state.absmax", {32, 4}, std::vector<float>(128, 1.0f));
    bad.f32("layers.0.ssm.state.mean_abs", {32, 5}, std::vector<float>(160, 1.0f));
    bad.write(file("bad-state.safetensors"));
    const QString message = input_error([&] { read_stats_file(file("bad-state.safetensors")); });
    QVERIFY2(message.contains(QStringLiteral("layers.0.ssm.state.mean_abs")) && message.contains(QStringLiteral("[32, 5]")),
             qPrintable(message));
  }

  void distributionsAndRtnEstimate() {
    // One point of 8 channels: channel c has mean 0.5 c and variance 1 + c over 10 tokens, and
    // absmax 127 at channel 3 (so 8-bit steps are exactly 1). |x| histogram: 30 values in the bin
    // [1, 10^(1/16)) and 10 in [0.1, 10^(-15/16)), in the CLI's edges.
    const int C = 8;
    test::StatsWriter w;
    std::vector<float> absmax(C, 2.0f);
    absmax[3] = 127.0f;
    std::vector<int64_t> count(C, 10);
    std::vector<double> sum, sumsq;
    for (int c = 0; c < C; ++c) {
      const double mu = 0.5 * c, var = 1.0 + c;
      sum.push_back(10.0 * mu);
      sumsq.push_back(10.0 * (var + mu * mu));
    }
    const std::vector<double> edges = test::cli_hist_edges();
    std::vector<int64_t> hist(edges.size() - 1, 0);
    const int one = 1 + 8 * 16, tenth = 1 + 7 * 16;  // edges[one] = 1, edges[tenth] = 0.1
    QVERIFY(std::abs(edges[one] - 1.0) < 1e-12 && std::abs(edges[tenth] - 0.1) < 1e-12);
    hist[one] = 30;
    hist[tenth] = 10;
    const std::string key = "layers.0.in_proj.input";
    w.f32(key + ".absmax", {C}, absmax);
    w.i64(key + ".count", {C}, count);
    w.f64(key + ".sum", {C}, sum);
    w.f64(key + ".sumsq", {C}, sumsq);
    w.i64(key + ".hist", {static_cast<int64_t>(hist.size())}, hist);
    w.f64(key + ".hist_edges", {static_cast<int64_t>(edges.size())}, edges);
    w.write(file("dist.safetensors"));
    const auto stats = read_stats_file(file("dist.safetensors"));
    const ChannelMaxima& m = stats->find(Module::InProj)->layers[0];
    QCOMPARE(static_cast<int>(m.hist.size()), 225);
    QCOMPARE(m.hist[one], 30);
    const double kTol = 1e-12;
    double mean_square = 0.0;
    for (int c = 0; c < C; ++c) {
      QVERIFY(std::abs(m.channel_mean[static_cast<std::size_t>(c)] - 0.5 * c) < kTol);
      QVERIFY2(std::abs(m.channel_var[static_cast<std::size_t>(c)] - (1.0 + c)) < 1e-9,
               qPrintable(QString::number(m.channel_var[static_cast<std::size_t>(c)])));
      mean_square += (1.0 + c + 0.25 * c * c) / C;
    }

    // 8 bits: step 127 / 127 = 1. The bins are narrower than a step, so each is its centre's
    // rounding error: 10^(1/32) rounds to 1, 10^(-31/32) rounds to 0.
    const auto e8 = estimate_rtn_per_tensor(m, 8);
    QVERIFY(e8);
    QCOMPARE(e8->step, 1.0);
    const double v1 = std::pow(10.0, 1.0 / 32.0), v2 = std::pow(10.0, -31.0 / 32.0);
    const double mse = (30.0 * (v1 - 1.0) * (v1 - 1.0) + 10.0 * v2 * v2) / 40.0;
    QVERIFY2(std::abs(e8->mse - mse) < 1e-12, qPrintable(QStringLiteral("%1 vs %2").arg(e8->mse).arg(mse)));
    QVERIFY(std::abs(e8->mean_square - mean_square) < 1e-9);
    QVERIFY(std::abs(e8->sqnr_db - 10.0 * std::log10(mean_square / mse)) < 1e-9);
    QCOMPARE(e8->zero_share, 0.25);
    // 2 bits: one level each side, step 127: everything rounds to zero.
    const auto e2 = estimate_rtn_per_tensor(m, 2);
    QVERIFY(e2);
    QCOMPARE(e2->step, 127.0);
    QCOMPARE(e2->zero_share, 1.0);
    QVERIFY(std::abs(e2->mse - (30.0 * v1 * v1 + 10.0 * v2 * v2) / 40.0) < 1e-12);
    QVERIFY(!estimate_rtn_per_tensor(m, 1));
    // A hand-made file without histograms has no estimate (and no state maps).
    test::write_tiny_mamba1_stats(file("plain.safetensors"));
    const auto plain = read_stats_file(file("plain.safetensors"));
    QVERIFY(!estimate_rtn_per_tensor(plain->series[0].layers[0], 8));
    QVERIFY(plain->states.empty());
    QVERIFY(!plain->cancelled);
  }

  void mismatchWithTheModel() {
    const QString model = QString::fromStdString(file("m1"));
    test::write_tiny_mamba1(model);
    const ModelConfig config = app::loadModel(model).snapshot->config;

    test::write_tiny_mamba1_stats(file("ok.safetensors"));
    QVERIFY(!stats_mismatch(*read_stats_file(file("ok.safetensors")), config));

    test::write_tiny_mamba1_stats(file("layers.safetensors"), 2);
    const auto layers = stats_mismatch(*read_stats_file(file("layers.safetensors")), config);
    QVERIFY(layers);
    QVERIFY2(layers->find("2 layers") != std::string::npos && layers->find("has 3") != std::string::npos,
             layers->c_str());

    auto widths = test::tiny_mamba1_widths();
    widths[Module::XProj] = 48;
    test::write_stats_file(file("width.safetensors"), 3, widths, [](int, Module, int64_t) { return 1.0f; });
    const auto width = stats_mismatch(*read_stats_file(file("width.safetensors")), config);
    QVERIFY(width);
    QVERIFY2(width->find("48 channels at x_proj.input") != std::string::npos && width->find("has 32") != std::string::npos,
             width->c_str());

    widths = test::tiny_mamba1_widths();
    widths.erase(Module::DtProj);
    test::write_stats_file(file("point.safetensors"), 3, widths, [](int, Module, int64_t) { return 1.0f; });
    const auto point = stats_mismatch(*read_stats_file(file("point.safetensors")), config);
    QVERIFY(point);
    QVERIFY2(point->find("dt_proj.input") != std::string::npos, point->c_str());

    // loadStats (the app's job body) turns a mismatch into one line naming the file.
    const QString message = input_error([&] { app::loadStats(QString::fromStdString(file("layers.safetensors")), config); });
    QVERIFY2(message.startsWith(QString::fromStdString(file("layers.safetensors"))), qPrintable(message));
    QVERIFY2(message.contains(QStringLiteral("mambascope-cli calibrate")), qPrintable(message));
  }

 private:
  std::string file(const char* name) const { return m_dir.filePath(QString::fromLatin1(name)).toStdString(); }
  QTemporaryDir m_dir;
};

QTEST_MAIN(TestStatsFile)
#include "tst_stats_file.moc"
