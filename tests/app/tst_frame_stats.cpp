// --frame-stats, --quit-after-frames, --demo-drag (issue 6's measurement; the figures themselves
// come from tests/bench/app_frames.sh, never from a test): the options parse and refuse bad
// values in one line, and the JSON the built app records on the demo model under Xvfb is
// consistent with itself:
// the kernel's start time read from the right /proc field, intervals that are the differences of
// presentation times, frames before and after the model, thread CPU within wall time.
#include <QtTest>

#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QProcess>
#include <QTemporaryDir>

#include "app/command_line.h"
#include "app/frame_stats.h"

using ms::app::parseCommandLine;

class TestFrameStats : public QObject {
  Q_OBJECT

 private Q_SLOTS:
  void initTestCase() { ms::app::FrameStats::markMainEntered(); }  // for write() in unwritableOutput

  void options() {
    const auto cl = parseCommandLine({"mambascope", "/m", "--frame-stats", "/tmp/f.json", "--quit-after-frames", "3"});
    QVERIFY2(cl.error.isEmpty(), qPrintable(cl.error));
    QCOMPARE(cl.frameStats, QStringLiteral("/tmp/f.json"));
    QCOMPARE(cl.quitAfterFrames, 3);
    QCOMPARE(cl.demoDrag, 0.0);
    QVERIFY(cl.helpText.contains(QStringLiteral("--frame-stats <file>")));
    QVERIFY(cl.helpText.contains(QStringLiteral("--demo-drag <seconds>")));

    const auto drag = parseCommandLine({"mambascope", "/m", "--demo-drag", "2.5"});
    QVERIFY2(drag.error.isEmpty(), qPrintable(drag.error));
    QCOMPARE(drag.demoDrag, 2.5);
    QCOMPARE(drag.view, QStringLiteral("error"));  // the slider it drags belongs to the error view
    QVERIFY(parseCommandLine({"mambascope", "/m", "--demo-drag", "1", "--view", "error"}).error.isEmpty());
  }

  void badOptions_data() {
    QTest::addColumn<QStringList>("arguments");
    QTest::addColumn<QString>("error");
    QTest::newRow("frames 0") << QStringList{"--quit-after-frames", "0"} << "--quit-after-frames expects a frame count (1 or more), got '0'";
    QTest::newRow("frames x") << QStringList{"--quit-after-frames", "x"} << "--quit-after-frames expects a frame count (1 or more), got 'x'";
    QTest::newRow("drag 0") << QStringList{"--demo-drag", "0"} << "--demo-drag expects seconds (more than 0), got '0'";
    QTest::newRow("drag view") << QStringList{"--demo-drag", "3", "--view", "structure"}
                               << "--demo-drag drags the error view's W slider; it cannot run with --view structure";
    QTest::newRow("screenshot") << QStringList{"--screenshot", "/tmp/s.png", "--quit-after-frames", "1"}
                                << "--quit-after-frames and --demo-drag need the interactive window, not --screenshot";
  }
  void badOptions() {
    QFETCH(QStringList, arguments);
    QFETCH(QString, error);
    QCOMPARE(parseCommandLine(QStringList{"mambascope", "/m"} + arguments).error, error);
  }

  void recordsConsistentFrames() {
    if (qEnvironmentVariableIsEmpty("DISPLAY"))
      QSKIP("no DISPLAY: the GL canvas needs X (run the tests under xvfb-run -a -s '-screen 0 1600x1000x24')");
    QTemporaryDir dir;
    const QString path = dir.filePath(QStringLiteral("frames.json"));
    // The built app on the demo model, as tests/bench/app_frames.sh runs it, with settings of its own.
    QProcess process;
    QProcessEnvironment env = QProcessEnvironment::systemEnvironment();
    env.insert(QStringLiteral("QT_QPA_PLATFORM"), QStringLiteral("xcb"));
    env.insert(QStringLiteral("XDG_RUNTIME_DIR"), QDir::tempPath());
    env.insert(QStringLiteral("XDG_CONFIG_HOME"), dir.path());
    process.setProcessEnvironment(env);
    process.start(QCoreApplication::applicationDirPath() + QStringLiteral("/mambascope"),
                  {(QString::fromUtf8(MAMBASCOPE_SOURCE_DIR) + QStringLiteral("/resources/models/demo-mamba")), QStringLiteral("--frame-stats"), path,
                   QStringLiteral("--quit-after-frames"), QStringLiteral("3")});
    QVERIFY(process.waitForFinished(120000));
    QVERIFY2(process.exitStatus() == QProcess::NormalExit && process.exitCode() == 0,
             process.readAllStandardError().constData());
    QFile file(path);
    QVERIFY(file.open(QIODevice::ReadOnly));
    const QJsonObject root = QJsonDocument::fromJson(file.readAll()).object();
    QVERIFY(root[QStringLiteral("gl_renderer")].toString().size() > 0);
    QCOMPARE(root[QStringLiteral("qt_platform")].toString(), QStringLiteral("xcb"));
    // Field 22 (start time) read right: the process reached main() after it started, within half a
    // minute (field 21 is 0 and would give the machine's uptime; 23 is a size in bytes).
    const double startToMain = root[QStringLiteral("process_start_to_main_ms")].toDouble();
    QVERIFY2(startToMain >= 0 && startToMain < 30000, qPrintable(QString::number(startToMain)));
    QVERIFY(root[QStringLiteral("main_to_model_opened_ms")].toDouble() > 0);

    const QJsonArray frames = root[QStringLiteral("frames")].toArray();
    double previous = -1, firstPresented = -1, firstModel = -1;
    bool modelSeen = false;
    int modelFrames = 0;
    for (const auto& value : frames) {
      const QJsonObject f = value.toObject();
      const bool showsModel = f[QStringLiteral("shows_model")].toBool();
      QVERIFY(!modelSeen || showsModel);  // once the model is open every later frame shows it
      modelSeen = showsModel;
      QVERIFY(f[QStringLiteral("build_cpu_ms")].toDouble() <= f[QStringLiteral("build_ms")].toDouble() + 0.01);
      QVERIFY(f[QStringLiteral("submit_cpu_ms")].toDouble() <= f[QStringLiteral("submit_ms")].toDouble() + 0.01);
      if (!f.contains(QStringLiteral("presented_ms"))) continue;
      const double at = f[QStringLiteral("presented_ms")].toDouble();
      const double paintEnd = f[QStringLiteral("start_ms")].toDouble() + f[QStringLiteral("build_ms")].toDouble() +
                              f[QStringLiteral("submit_ms")].toDouble();
      QVERIFY(f[QStringLiteral("paint_end_to_presented_ms")].toDouble() >= 0);
      QVERIFY(f[QStringLiteral("paint_end_to_presented_cpu_ms")].toDouble() >= 0);
      QVERIFY(f[QStringLiteral("paint_end_to_presented_cpu_ms")].toDouble() <=
              f[QStringLiteral("paint_end_to_presented_ms")].toDouble() + 0.01);
      QVERIFY(qAbs(at - paintEnd - f[QStringLiteral("paint_end_to_presented_ms")].toDouble()) <= 0.003);
      if (previous >= 0) QVERIFY(qAbs(f[QStringLiteral("interval_ms")].toDouble() - (at - previous)) <= 0.002);
      else QVERIFY(!f.contains(QStringLiteral("interval_ms")));
      if (firstPresented < 0) firstPresented = at;
      if (showsModel && firstModel < 0) firstModel = at;
      modelFrames += showsModel;
      previous = at;
    }
    QCOMPARE(root[QStringLiteral("main_to_first_frame_ms")].toDouble(), firstPresented);
    QCOMPARE(root[QStringLiteral("main_to_first_model_frame_ms")].toDouble(), firstModel);
    QVERIFY(firstModel >= firstPresented);
    QVERIFY2(modelFrames >= 3, qPrintable(QString::number(modelFrames)));  // it quit after the third, not before
    QVERIFY(qAbs(root[QStringLiteral("process_start_to_first_frame_ms")].toDouble() - (startToMain + firstPresented)) <= 0.002);
  }

  void unwritableOutput() {
    ms::app::FrameStats stats(QStringLiteral("/nonexistent-dir/frames.json"));
    const QString error = stats.write();
    QVERIFY(error.startsWith(QStringLiteral("/nonexistent-dir/frames.json: cannot write:")));
    QVERIFY(!error.contains(QLatin1Char('\n')));
    QVERIFY(!QFile::exists(QStringLiteral("/nonexistent-dir/frames.json")));
    QVERIFY(!QFile::exists(QStringLiteral("/nonexistent-dir")));
  }
};

QTEST_MAIN(TestFrameStats)
#include "tst_frame_stats.moc"
