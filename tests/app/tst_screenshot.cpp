// The headless screenshot mode, run as a user runs it: the built `mambascope` binary (next to this
// test in bin/) on a tiny model. Needs an X display with OpenGL (Xvfb: `xvfb-run -a ctest`);
// without DISPLAY the GL cases skip loudly. --version, usage errors and the no-display error
// need no display and always run. The statistics views calibrate through the built mambascope-cli.
#include <QImage>
#include <QProcess>
#include <QTemporaryDir>
#include <QtTest>

#include "tiny_model.h"
#include "tiny_stats.h"

namespace {

struct Run {
  int exitCode = -1;
  QString out, err;
};

QString binary() { return QCoreApplication::applicationDirPath() + QStringLiteral("/mambascope"); }
const QString kDemo = (QString::fromUtf8(MAMBASCOPE_SOURCE_DIR) + QStringLiteral("/resources/models/demo-mamba"));
const QString kAusten = (QString::fromUtf8(MAMBASCOPE_SOURCE_DIR) + QStringLiteral("/resources/texts/austen.txt"));

Run run(const QStringList& arguments, const QString& platform) {
  QProcess process;
  QProcessEnvironment env = QProcessEnvironment::systemEnvironment();
  env.insert(QStringLiteral("QT_QPA_PLATFORM"), platform);
  env.insert(QStringLiteral("XDG_RUNTIME_DIR"), QDir::tempPath());
  env.insert(QStringLiteral("MAMBASCOPE_CLI"), QString::fromUtf8(MAMBASCOPE_CLI));  // the app calibrates through it
  process.setProcessEnvironment(env);
  process.start(binary(), arguments);
  Run r;
  if (!process.waitForFinished(120000)) {
    process.kill();
    process.waitForFinished();
    r.err = QStringLiteral("timed out");
    return r;
  }
  r.exitCode = process.exitStatus() == QProcess::NormalExit ? process.exitCode() : -2;
  r.out = QString::fromLocal8Bit(process.readAllStandardOutput());
  r.err = QString::fromLocal8Bit(process.readAllStandardError());
  return r;
}

// Lines the tool wrote, without Qt's environment chatter (XDG, xcb warnings).
QStringList ourLines(const QString& text) {
  QStringList lines;
  for (const QString& line : text.split(QLatin1Char('\n'), Qt::SkipEmptyParts))
    if (line.startsWith(QStringLiteral("mambascope"))) lines << line;
  return lines;
}

}  // namespace

class TestScreenshot : public QObject {
  Q_OBJECT

 private Q_SLOTS:
  void initTestCase() {
    QVERIFY2(QFileInfo(binary()).isExecutable(), qPrintable(binary() + " not built: build target mambascope"));
    QVERIFY(m_dir.isValid());
    ms::test::write_tiny_mamba1(m_dir.filePath(QStringLiteral("m1")));
    ms::test::write_tiny_mamba2(m_dir.filePath(QStringLiteral("m2")));
    ms::test::write_tiny_mamba1_stats(m_dir.filePath(QStringLiteral("m1-stats.safetensors")).toStdString());
    ms::test::write_tiny_mamba1_stats(m_dir.filePath(QStringLiteral("two-layers.safetensors")).toStdString(), 2);
  }

  void versionAndUsageNeedNoDisplay() {
    const Run version = run({QStringLiteral("--version")}, QStringLiteral("offscreen"));
    QCOMPARE(version.exitCode, 0);
    QCOMPARE(version.out.trimmed(), QStringLiteral("mambascope " MAMBASCOPE_VERSION));
    const Run usage = run({QStringLiteral("/m"), QStringLiteral("--view"), QStringLiteral("nope")},
                          QStringLiteral("offscreen"));
    QCOMPARE(usage.exitCode, 2);
    QCOMPARE(ourLines(usage.err).size(), 1);
  }

  void offscreenPlatformFailsClearly() {
    const QString out = m_dir.filePath(QStringLiteral("offscreen.png"));
    const Run r = run({m_dir.filePath(QStringLiteral("m1")), QStringLiteral("--screenshot"), out},
                      QStringLiteral("offscreen"));
    QCOMPARE(r.exitCode, 1);
    QCOMPARE(ourLines(r.err).size(), 1);
    QVERIFY2(r.err.contains(QStringLiteral("xvfb-run")), qPrintable(r.err));
    QVERIFY(!QFile::exists(out));
  }

  void screenshot_data() {
    QTest::addColumn<QString>("model");
    QTest::addColumn<QString>("size");
    QTest::addColumn<QSize>("expected");
    QTest::newRow("mamba1 default size") << "m1" << QString() << QSize(1400, 900);
    QTest::newRow("mamba2 1100x760") << "m2" << "1100x760" << QSize(1100, 760);
  }
  void screenshot() {
    if (qEnvironmentVariableIsEmpty("DISPLAY"))
      QSKIP("no DISPLAY: the GL canvas needs X (run the tests under xvfb-run -a -s '-screen 0 1600x1000x24')");
    QFETCH(QString, model);
    QFETCH(QString, size);
    QFETCH(QSize, expected);
    const QString out = m_dir.filePath(model + QStringLiteral(".png"));
    QStringList args{m_dir.filePath(model), QStringLiteral("--screenshot"), out, QStringLiteral("--select"),
                     QStringLiteral("layers.1.out_proj.weight")};
    if (!size.isEmpty()) args << QStringLiteral("--size") << size;
    const Run r = run(args, QStringLiteral("xcb"));
    QVERIFY2(r.exitCode == 0, qPrintable(r.err));
    QImage image(out);
    QVERIFY2(!image.isNull(), qPrintable(out));
    QCOMPARE(image.size(), expected);
    // The canvas really drew: its background colour (views::Palette::background, #1E1F22) fills
    // the right part, and the amber selection outline of the selected box appears somewhere.
    QCOMPARE(image.pixelColor(expected.width() - 8, expected.height() / 2 + 200).name(), QStringLiteral("#1e1f22"));
    bool amber = false;
    for (int y = 0; y < image.height() && !amber; y += 2)
      for (int x = image.width() / 3; x < image.width() && !amber; ++x)
        amber = image.pixelColor(x, y).name() == QStringLiteral("#ffb43c");
    QVERIFY2(amber, "no selection outline drawn: the GL canvas is missing from the screenshot");
  }

  // Statistics views without --stats calibrate the model first (the CLI beside the app, on the
  // shipped text): the shipped demo Mamba-1 on 2,048 tokens of Austen.
  void statisticsViewsCalibrate_data() {
    QTest::addColumn<QString>("view");
    QTest::addColumn<QString>("colour");   // drawn only when the view has real statistics
    QTest::addColumn<int>("least");
    // channel maxima: viridis' top (#fde725) in the heatmap, every layer's own maximum.
    QTest::newRow("channel-maxima") << "channel-maxima" << "#fde725" << 50;
    // state heatmap: the map's largest element is the colour scale's top.
    QTest::newRow("state-heatmap") << "state-heatmap" << "#fde725" << 20;
    // distributions: the absmax line (Okabe–Ito vermillion) across the histogram.
    QTest::newRow("distributions") << "distributions" << "#e8612c" << 50;
  }
  void statisticsViewsCalibrate() {
    if (qEnvironmentVariableIsEmpty("DISPLAY"))
      QSKIP("no DISPLAY: the GL canvas needs X (run the tests under xvfb-run -a -s '-screen 0 1600x1000x24')");
    QVERIFY2(QFileInfo(kAusten).isFile(), "resources/texts/austen.txt missing: run resources/training/extract_texts.sh");
    QFETCH(QString, view);
    QFETCH(QString, colour);
    QFETCH(int, least);
    const QString out = m_dir.filePath(view + QStringLiteral("-calibrated.png"));
    const Run r = run({kDemo, QStringLiteral("--view"), view, QStringLiteral("--max-tokens"), QStringLiteral("2048"),
                       QStringLiteral("--device"), QStringLiteral("cpu"), QStringLiteral("--size"),
                       QStringLiteral("1300x820"), QStringLiteral("--screenshot"), out},
                      QStringLiteral("xcb"));
    QVERIFY2(r.exitCode == 0, qPrintable(r.err));
    QImage image(out);
    QVERIFY2(!image.isNull(), qPrintable(out));
    QCOMPARE(image.size(), QSize(1300, 820));
    int found = 0;
    for (int y = 0; y < image.height(); ++y)
      for (int x = image.width() / 3; x < image.width(); ++x)
        if (image.pixelColor(x, y).name() == colour) ++found;
    QVERIFY2(found >= least, qPrintable(QStringLiteral("%1 pixels of %2").arg(found).arg(colour)));
  }

  void calibrationFailureIsOneLine() {
    if (qEnvironmentVariableIsEmpty("DISPLAY")) QSKIP("no DISPLAY: screenshot mode needs X (run under xvfb-run)");
    const QString out = m_dir.filePath(QStringLiteral("notext.png"));
    const Run r = run({kDemo, QStringLiteral("--view"), QStringLiteral("state-heatmap"), QStringLiteral("--text"),
                       m_dir.filePath(QStringLiteral("no-such-text.txt")), QStringLiteral("--screenshot"), out},
                      QStringLiteral("xcb"));
    QCOMPARE(r.exitCode, 1);
    const QStringList lines = ourLines(r.err);
    QCOMPARE(lines.size(), 1);
    QVERIFY2(lines.first().contains(QStringLiteral("no-such-text.txt")), qPrintable(lines.first()));
    QVERIFY(!QFile::exists(out));
  }

  void channelMaxima() {
    if (qEnvironmentVariableIsEmpty("DISPLAY"))
      QSKIP("no DISPLAY: the GL canvas needs X (run the tests under xvfb-run -a -s '-screen 0 1600x1000x24')");
    const QString out = m_dir.filePath(QStringLiteral("channel-maxima.png"));
    const Run r = run({m_dir.filePath(QStringLiteral("m1")), QStringLiteral("--view"), QStringLiteral("channel-maxima"),
                       QStringLiteral("--stats"), m_dir.filePath(QStringLiteral("m1-stats.safetensors")),
                       QStringLiteral("--layer"), QStringLiteral("2"), QStringLiteral("--size"),
                       QStringLiteral("1200x800"), QStringLiteral("--screenshot"), out},
                      QStringLiteral("xcb"));
    QVERIFY2(r.exitCode == 0, qPrintable(r.err));
    QImage image(out);
    QVERIFY2(!image.isNull(), qPrintable(out));
    QCOMPARE(image.size(), QSize(1200, 800));
    // The heatmap drew: every layer's largest channel is 1.0 of its layer max, viridis' yellow end
    // (#fde725, views::plot::viridis(1)), and it lies in the lower half of the canvas.
    int yellow = 0;
    for (int y = image.height() / 2; y < image.height(); ++y)
      for (int x = image.width() / 3; x < image.width(); ++x)
        if (image.pixelColor(x, y).name() == QStringLiteral("#fde725")) ++yellow;
    QVERIFY2(yellow > 50, qPrintable(QStringLiteral("%1 heatmap maximum pixels").arg(yellow)));
  }

  void statsOfAnotherModelFailClearly() {
    if (qEnvironmentVariableIsEmpty("DISPLAY")) QSKIP("no DISPLAY: screenshot mode needs X (run under xvfb-run)");
    const QString out = m_dir.filePath(QStringLiteral("mismatch.png"));
    const Run r = run({m_dir.filePath(QStringLiteral("m1")), QStringLiteral("--view"), QStringLiteral("channel-maxima"),
                       QStringLiteral("--stats"), m_dir.filePath(QStringLiteral("two-layers.safetensors")),
                       QStringLiteral("--screenshot"), out},
                      QStringLiteral("xcb"));
    QCOMPARE(r.exitCode, 1);
    const QStringList lines = ourLines(r.err);
    QCOMPARE(lines.size(), 1);
    QVERIFY2(lines.first().contains(QStringLiteral("two-layers.safetensors")) &&
                 lines.first().contains(QStringLiteral("2 layers")),
             qPrintable(lines.first()));
    QVERIFY(!QFile::exists(out));
  }

  void layerOutOfRangeFailsClearly() {
    if (qEnvironmentVariableIsEmpty("DISPLAY")) QSKIP("no DISPLAY: screenshot mode needs X (run under xvfb-run)");
    const QString out = m_dir.filePath(QStringLiteral("layer.png"));
    const Run r = run({m_dir.filePath(QStringLiteral("m1")), QStringLiteral("--layer"), QStringLiteral("3"),
                       QStringLiteral("--screenshot"), out},
                      QStringLiteral("xcb"));
    QCOMPARE(r.exitCode, 1);
    const QStringList lines = ourLines(r.err);
    QCOMPARE(lines.size(), 1);
    QVERIFY2(lines.first().contains(QStringLiteral("--layer 3")) && lines.first().contains(QStringLiteral("3 layers")),
             qPrintable(lines.first()));
    QVERIFY(!QFile::exists(out));
  }

  void badModelExitsOneWithOneLine() {
    if (qEnvironmentVariableIsEmpty("DISPLAY")) QSKIP("no DISPLAY: screenshot mode needs X (run under xvfb-run)");
    const QString out = m_dir.filePath(QStringLiteral("bad.png"));
    const Run r = run({m_dir.filePath(QStringLiteral("missing-model")), QStringLiteral("--screenshot"), out},
                      QStringLiteral("xcb"));
    QCOMPARE(r.exitCode, 1);
    const QStringList lines = ourLines(r.err);
    QCOMPARE(lines.size(), 1);
    QVERIFY2(lines.first().startsWith(QStringLiteral("mambascope: error: ")), qPrintable(lines.first()));
    QVERIFY2(lines.first().contains(QStringLiteral("missing-model")), qPrintable(lines.first()));
    QVERIFY(!QFile::exists(out));
  }

 private:
  QTemporaryDir m_dir;
};

QTEST_GUILESS_MAIN(TestScreenshot)
#include "tst_screenshot.moc"
