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
