// The status bar's device and memory (app/status_monitor.h):
//   - VmRSS parsing, byte and device wording on exact inputs;
//   - the app's own resident memory agrees with /proc/self/statm (an independent count);
//   - the device probe asks the built mambascope-cli and shows what it reports (this CPU build:
//     "CPU (N threads)" with N the CLI's thread count);
//   - a calibration started from the window is listed as a job with its pid and resident memory,
//     and the memory label names it; it leaves the list when it is stopped.
// With MAMBASCOPE_STATUS_SCREENSHOT=F.png (and a display: xvfb-run), the status bar is saved there.
#include <QLabel>
#include <QProcess>
#include <QSignalSpy>
#include <QStatusBar>
#include <QtTest>

#include <unistd.h>

#include "app/main_window.h"
#include "app/status_monitor.h"

using namespace ms;
using namespace ms::app;

namespace {
const QString kDemo = (QString::fromUtf8(MAMBASCOPE_SOURCE_DIR) + QStringLiteral("/resources/models/demo-mamba"));
}

class TestStatusMonitor : public QObject {
  Q_OBJECT

 private Q_SLOTS:
  void initTestCase() {
    qputenv("MAMBASCOPE_CLI", MAMBASCOPE_CLI);
    qputenv("MAMBASCOPE_DATA_DIR", QByteArray(MAMBASCOPE_SOURCE_DIR) + "/resources");
  }

  void parsesVmRss() {
    QCOMPARE(parseVmRss("Name:\tmambascope\nVmPeak:\t  999 kB\nVmRSS:\t  186244 kB\nRssAnon:\t 1 kB\n"),
             qint64(186244) * 1024);
    QCOMPARE(parseVmRss("Name:\tkthreadd\nState:\tS (sleeping)\n"), qint64(-1));
    QCOMPARE(parseVmRss("VmRSS:\tgarbage kB\n"), qint64(-1));
  }

  void wordsBytesAndDevices() {
    QCOMPARE(bytesText(999), QStringLiteral("999 B"));
    QCOMPARE(bytesText(1000), QStringLiteral("0.98 KiB"));
    QCOMPARE(bytesText(812 * 1024), QStringLiteral("812 KiB"));
    QCOMPARE(bytesText(qint64(182) << 20), QStringLiteral("182 MiB"));
    QCOMPARE(bytesText(qint64(1.21 * double(1 << 30))), QStringLiteral("1.21 GiB"));
    QCOMPARE(bytesText(-1), QStringLiteral("?"));
    QCOMPARE(deviceLabel(QStringLiteral("cpu (2 threads)")), QStringLiteral("CPU (2 threads)"));
    QCOMPARE(deviceLabel(QStringLiteral("cuda:0")), QStringLiteral("CUDA cuda:0"));
    QCOMPARE(deviceLabel(QStringLiteral("cuda:1 (NVIDIA H100 80GB HBM3)")), QStringLiteral("NVIDIA H100 80GB HBM3 (cuda:1)"));
    QCOMPARE(memoryText(qint64(182) << 20, {{QStringLiteral("calibrate"), 42, qint64(640) << 20},
                                            {QStringLiteral("requant-serve"), 43, -1}}),
             QStringLiteral("app 182 MiB · calibrate 640 MiB · requant-serve ?"));
  }

  void ownMemoryMatchesStatm() {
    QFile statm(QStringLiteral("/proc/self/statm"));
    QVERIFY(statm.open(QIODevice::ReadOnly));
    const qint64 pages = statm.readAll().split(' ').value(1).toLongLong();
    const qint64 fromStatm = pages * sysconf(_SC_PAGESIZE);
    const qint64 fromStatus = residentBytes(0);
    QVERIFY2(fromStatm > 0 && std::abs(fromStatus - fromStatm) < (qint64(1) << 20),
             qPrintable(QStringLiteral("%1 vs %2").arg(fromStatus).arg(fromStatm)));
    QVERIFY(residentBytes(QCoreApplication::applicationPid()) > 0);
    QCOMPARE(residentBytes(999999999), qint64(-1));  // no such process
  }

  void probeShowsTheCliDevice() {
    MainWindow window(MainWindow::Options{false, QStringLiteral("structure")});
    StatusMonitor* monitor = window.statusMonitor();
    QCOMPARE(monitor->deviceText(), QString());  // not interactive: nothing asked yet
    QSignalSpy known(monitor, &StatusMonitor::deviceKnown);
    monitor->probeDevice();
    QTRY_COMPARE_WITH_TIMEOUT(known.size(), 1, 60000);
    // The CLI's own answer to the same question, asked independently.
    QProcess cli;
    QTemporaryDir dir;
    cli.start(QString::fromUtf8(MAMBASCOPE_CLI),
              {QStringLiteral("bench"), QStringLiteral("forward"), QStringLiteral("--preset"), QStringLiteral("tiny-mamba"),
               QStringLiteral("--seq-len"), QStringLiteral("1"), QStringLiteral("--iters"), QStringLiteral("1"),
               QStringLiteral("--out"), dir.filePath(QStringLiteral("r.json"))});
    QVERIFY(cli.waitForFinished(60000));
    const QString line = QString::fromUtf8(cli.readAllStandardOutput());  // "forward tiny-mamba on cpu (2 threads) (fp32): …"
    const QString device = line.section(QStringLiteral(" on "), 1).section(QStringLiteral(" (fp32)"), 0, 0);
    QVERIFY2(!device.isEmpty(), qPrintable(line));
    QCOMPARE(monitor->deviceText(), deviceLabel(device));
    QVERIFY2(monitor->deviceText().startsWith(QLatin1String("CPU (")) || monitor->deviceText().startsWith(QLatin1String("CUDA")),
             qPrintable(monitor->deviceText()));
    QCOMPARE(monitor->deviceWidget()->text(), QStringLiteral("Device: ") + monitor->deviceText());
    QVERIFY(monitor->memoryWidget()->text().startsWith(QLatin1String("Memory: app ")));

  }

  void runningCalibrationIsAJob() {
    MainWindow window(MainWindow::Options{false, QStringLiteral("structure")});
    QSignalSpy opened(&window, &MainWindow::modelOpened);
    window.openModel(kDemo);
    QTRY_COMPARE_WITH_TIMEOUT(opened.size(), 1, 30000);
    StatusMonitor* monitor = window.statusMonitor();
    QVERIFY(monitor->jobs().isEmpty());
    CalibrationChoice choice = window.calibrationPanel()->choice();
    QVERIFY(!choice.textFile.isEmpty());  // the shipped Austen text
    choice.maxTokens = 1 << 20;           // long enough to be seen running
    window.calibrate(choice);
    QVERIFY(window.calibration()->isRunning());
    QList<JobMemory> jobs;
    QTRY_VERIFY_WITH_TIMEOUT((jobs = monitor->jobs()).size() == 1 && jobs.front().bytes > (qint64(20) << 20), 30000);
    QCOMPARE(jobs.front().command, QStringLiteral("calibrate"));
    qint64 running = 0;
    for (const QProcess* process : window.findChildren<QProcess*>())
      if (process->state() == QProcess::Running) running = process->processId();
    QCOMPARE(jobs.front().pid, running);
    monitor->refresh();
    QVERIFY2(monitor->memoryWidget()->text().contains(QStringLiteral(" · calibrate ")), qPrintable(monitor->memoryWidget()->text()));
    const QByteArray shot = qgetenv("MAMBASCOPE_STATUS_SCREENSHOT");
    if (!shot.isEmpty() && QGuiApplication::platformName() != QLatin1String("offscreen")) {
      monitor->probeDevice();
      QTRY_VERIFY_WITH_TIMEOUT(!monitor->deviceText().isEmpty(), 60000);
      window.resize(1100, 700);
      window.show();
      QVERIFY(QTest::qWaitForWindowExposed(&window));
      monitor->refresh();
      QTest::qWait(300);
      QVERIFY(window.statusBar()->grab().save(QString::fromLocal8Bit(shot)));
    }
    window.calibration()->stop();
    QTRY_VERIFY_WITH_TIMEOUT(monitor->jobs().isEmpty(), 10000);
    monitor->refresh();
    QVERIFY(!monitor->memoryWidget()->text().contains(QLatin1String("calibrate")));
  }
};

QTEST_MAIN(TestStatusMonitor)
#include "tst_status_monitor.moc"
