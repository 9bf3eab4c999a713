// The distributions view's before/after (issue 6): the demo Mamba-1 opened on its outlier point
// with Hadamard chosen (MainWindow::Options::method, what `--method hadamard` sets), statistics from
// `mambascope-cli calibrate` on 2,048 tokens of the Austen text. The window runs
// `mambascope-cli preview` (PreviewProcess) and the view draws the snapshot: the rotation must
// lower the channel-absmax CV and raise the A8 per-tensor SQNR, and the exported view must show
// both sides (the absmax line in each half). PreviewProcess's latest-wins: two requests in a row
// deliver only the second. The preview server answers as the one-shot runs do.
#include "gl_test_main.h"
#include <map>

#include <QElapsedTimer>
#include <QHash>
#include <QProcess>
#include <QSignalSpy>
#include <QTemporaryDir>
#include <QtTest>

#include "app/imgui_canvas.h"
#include "app/main_window.h"
#include "app/preview_process.h"
#include "window_fixture.h"

using namespace ms;
using namespace ms::app;

namespace {
const QString kDemo = (QString::fromUtf8(MAMBASCOPE_SOURCE_DIR) + QStringLiteral("/resources/models/demo-mamba"));
const QString kAusten = (QString::fromUtf8(MAMBASCOPE_SOURCE_DIR) + QStringLiteral("/resources/texts/austen.txt"));
}  // namespace

class TestDistributionsGui : public QObject {
  Q_OBJECT

 private Q_SLOTS:
  void initTestCase() {
    if (qEnvironmentVariableIsEmpty("DISPLAY") || QGuiApplication::platformName() == QLatin1String("offscreen"))
      QSKIP("no DISPLAY: the GL canvas needs X (run the tests under xvfb-run -a -s '-screen 0 1600x1000x24')");
    qputenv("MAMBASCOPE_CLI", MAMBASCOPE_CLI);
    qputenv("MAMBASCOPE_DATA_DIR", QByteArray(MAMBASCOPE_SOURCE_DIR) + "/resources");
    QVERIFY(m_dir.isValid());
    QProcess cli;
    cli.start(QString::fromUtf8(MAMBASCOPE_CLI),
              {"calibrate", kDemo, "--file", kAusten, "--out", m_dir.filePath("s.safetensors"), "--max-tokens", "2048",
               "--seq-len", "512", "--batch", "4", "--device", "cpu"});
    QVERIFY(cli.waitForFinished(300000));
    QVERIFY2(cli.exitCode() == 0, cli.readAllStandardError().constData());
  }

  void hadamardBeforeAfter() {
    MainWindow::Options options{false, QStringLiteral("distributions")};
    options.method = QStringLiteral("hadamard");
    MainWindow window(options);
    QVERIFY(test::open_window_with_stats(window, kDemo, m_dir.filePath("s.safetensors")));
    QCOMPARE(window.distributionsState().method, std::string("hadamard"));
    window.canvas()->renderNow(2);  // the first frame asks for the preview
    QVERIFY(window.previewProcess()->isRunning());
    QTRY_VERIFY_WITH_TIMEOUT(window.previewProcess()->snapshot() != nullptr, 180000);
    const auto p = window.previewProcess()->snapshot();
    const auto& stats = *window.stats();
    const int layer = stats.layer_with_most_outliers();
    QCOMPARE(p->point, (QuantPoint{layer, stats.point_with_most_outliers(layer), Site::Input}));
    QCOMPARE(p->method, std::string("hadamard"));
    QCOMPARE(p->bits, 8);
    qInfo("%s Hadamard: absmax CV %.3f -> %.3f, A8 per-tensor SQNR %.2f -> %.2f dB", p->point.str().c_str(), p->before.absmax_cv,
          p->after.absmax_cv, p->before.error.sqnr_db, p->after.error.sqnr_db);
    QVERIFY(p->after.absmax_cv < p->before.absmax_cv);
    QVERIFY(p->after.error.sqnr_db > p->before.error.sqnr_db);

    const QString png = m_dir.filePath("view.png");
    QCOMPARE(window.exportView(png), QString());
    const QImage image(png);
    QVERIFY(!image.isNull());
    // Both halves (before | after) are drawn: the line in the before histogram, and in each half
    // a good share of pixels other than the background (the canvas' most common colour).
    QHash<QRgb, int> counts;
    for (int y = 0; y < image.height(); ++y)
      for (int x = 0; x < image.width(); ++x) ++counts[image.pixel(x, y)];
    QRgb background = 0;
    for (auto it = counts.begin(); it != counts.end(); ++it)
      if (it.value() > counts.value(background)) background = it.key();
    int left = 0, right = 0, line = 0;
    for (int y = image.height() / 4; y < image.height(); ++y)
      for (int x = 0; x < image.width(); ++x) {
        if (image.pixel(x, y) != background) ++(x < image.width() / 2 ? left : right);
        line += x < image.width() / 2 && image.pixelColor(x, y).name() == QStringLiteral("#e8612c");
      }
    const int quarter = image.width() / 2 * image.height() * 3 / 4;
    qInfo("non-background pixels: before %d, after %d of %d each; absmax line %d px", left, right, quarter, line);
    QVERIFY(line >= 50);
    QVERIFY2(left > quarter / 20 && right > quarter / 20, qPrintable(QStringLiteral("%1 | %2").arg(left).arg(right)));
  }

  // The window's preview server and one-shot runs (how every choice ran before the server) give the
  // same snapshots; the time from a method choice to the drawn preview is logged for each (the
  // first served choice includes starting the server).
  void servedAsOneShot() {
    MainWindow window(MainWindow::Options{false, QStringLiteral("distributions")});
    QVERIFY(test::open_window_with_stats(window, kDemo, m_dir.filePath("s.safetensors")));
    PreviewProcess* preview = window.previewProcess();
    // Each pass starts on a method the other did not end on: an unchanged choice asks for nothing.
    const QStringList order[2] = {{"klt", "smoothquant", "hadamard", "klt"}, {"hadamard", "klt", "smoothquant", "hadamard"}};
    std::map<QString, std::string> snapshots[2];
    for (int served = 0; served < 2; ++served) {
      preview->setServerEnabled(served == 1);
      for (const QString& method : order[served]) {
        QElapsedTimer t;
        t.start();
        window.setDistributionsMethod(method, 0.5);
        QVERIFY(QTest::qWaitFor(
            [&] {
              const auto& s = preview->snapshot();
              return !preview->isRunning() && s && s->method == method.toStdString() &&
                     preview->snapshotWasServed() == (served == 1);
            },
            180000));
        window.canvas()->renderNow(1);
        qInfo("%s %s: choice to drawn preview %lld ms", served ? "served" : "one-shot", qPrintable(method), t.elapsed());
        snapshots[served][method] = preview_to_json(*preview->snapshot());
      }
    }
    QCOMPARE(snapshots[1].size(), size_t(3));
    for (const auto& [method, json] : snapshots[0]) QCOMPARE(snapshots[1].at(method), json);
  }

  void latestWins() {
    PreviewProcess process;
    QSignalSpy delivered(&process, &PreviewProcess::snapshotReady);
    QSignalSpy failed(&process, &PreviewProcess::failed);
    const PreviewProcess::Options o{kDemo, {}, kAusten, 256};
    process.request(o, {"layers.1.out_proj.input", "hadamard", "tensor", 8, 0.5});
    process.request(o, {"layers.2.in_proj.input", "klt", "tensor", 6, 0.5});
    process.request(o, {"layers.2.in_proj.input", "klt", "tensor", 6, 0.5});  // the same: no new run
    QTRY_COMPARE_WITH_TIMEOUT(delivered.size() + failed.size(), 1, 120000);
    QTest::qWait(500);
    QCOMPARE(delivered.size(), 1);
    QCOMPARE(process.snapshot()->point.str(), std::string("layers.2.in_proj.input"));
    QCOMPARE(process.snapshot()->bits, 6);
    QVERIFY(process.preview().status.empty());
  }

 private:
  QTemporaryDir m_dir;
};

MS_GL_TEST_MAIN(TestDistributionsGui)
#include "tst_distributions_gui.moc"
