// CliProcess (app/cli_process.h), the one QProcess driver under the app's five CLI drivers, run on a
// tiny shell script standing in for mambascope-cli ($MAMBASCOPE_CLI): stderr cut into lines at \n
// and \r with the last one (even without its newline) in the exit report; stdout kept whole or
// handed over line by line; stdin reaching the process; SIGINT answered by the script's own exit
// (interrupted, its status), a second interrupt killing a script that ignores SIGINT; a started run
// dropping the one in flight without a word from it; a missing executable. And through
// CalibrationProcess: a progress line parsed on the way, a failing run's last stderr line as the
// one-line error.
#include <QFile>
#include <QSignalSpy>
#include <QTemporaryDir>
#include <QtTest>

#include "app/calibration_process.h"
#include "app/cli_process.h"

using namespace ms::app;

namespace {

// Each first argument is one behaviour. `trap ... INT` with `wait` (not a foreground sleep) lets
// the shell take SIGINT at once.
const char* const kScript = R"(#!/bin/sh
case "$1" in
  lines)  printf 'first\nsecond\r  third  \n\n' >&2; printf 'out 1\nout 2\n'; printf 'last' >&2; exit 3 ;;
  echo)   read -r line; printf 'got %s\n' "$line"; exit 0 ;;
  cancel) trap 'echo "stopped at batch 2" >&2; exit 1' INT; echo started >&2; sleep 30 & wait $!; exit 0 ;;
  stubborn) trap '' INT; echo started >&2; sleep 30 & wait $!; wait $!; exit 0 ;;
  slow)   sleep 2; echo 'slow done' >&2; exit 0 ;;
  calibrate) echo 'calibrate: 45% (450/1000 tokens, 300 tok/s)' >&2; echo "$2: no tokenizer.json beside the model" >&2; exit 1 ;;
esac
exit 9
)";

CliProcess::Exit waitForExit(QSignalSpy& exited) {
  if (!exited.wait(20000)) return {};
  return exited.takeFirst().at(0).value<CliProcess::Exit>();
}

}  // namespace

class TestCliProcess : public QObject {
  Q_OBJECT

 private Q_SLOTS:
  void initTestCase() {
    QVERIFY(m_dir.isValid());
    const QString script = m_dir.filePath(QStringLiteral("fake-cli"));
    QFile f(script);
    QVERIFY(f.open(QIODevice::WriteOnly));
    f.write(kScript);
    f.close();
    QVERIFY(f.setPermissions(QFile::ReadOwner | QFile::WriteOwner | QFile::ExeOwner));
    qputenv("MAMBASCOPE_CLI", script.toUtf8());
    QCOMPARE(CliProcess::path(), script);
    qRegisterMetaType<CliProcess::Exit>();
  }

  void linesAndExitReport() {
    CliProcess cli;
    QSignalSpy lines(&cli, &CliProcess::errorLine), exited(&cli, &CliProcess::exited);
    cli.start({QStringLiteral("lines")}, CliProcess::Output::Collect);
    QVERIFY(cli.isRunning());
    const CliProcess::Exit e = waitForExit(exited);
    QVERIFY(!cli.isRunning());
    QStringList got;
    for (const auto& args : lines) got << args.at(0).toString();
    QCOMPARE(got, (QStringList{"first", "second", "third", "last"}));
    QCOMPARE(e.code, 3);
    QVERIFY(!e.crashed && !e.interrupted && !e.ok());
    QCOMPARE(e.lastErrorLine, QStringLiteral("last"));
    QCOMPARE(e.output, QByteArray("out 1\nout 2\n"));
    QVERIFY(cli.processId() > 0);
  }

  void outputLinesAndInput() {
    CliProcess cli;
    QSignalSpy out(&cli, &CliProcess::outputLine), exited(&cli, &CliProcess::exited);
    cli.start({QStringLiteral("lines")}, CliProcess::Output::Lines);
    QCOMPARE(waitForExit(exited).code, 3);
    QCOMPARE(out.size(), 2);
    QCOMPARE(out.at(0).at(0).toByteArray(), QByteArray("out 1"));
    QCOMPARE(out.at(1).at(0).toByteArray(), QByteArray("out 2"));

    out.clear();
    cli.start({QStringLiteral("echo")}, CliProcess::Output::Lines);
    cli.write("{\"id\": 1}\n");
    QVERIFY(waitForExit(exited).ok());
    QCOMPARE(out.size(), 1);
    QCOMPARE(out.at(0).at(0).toByteArray(), QByteArray("got {\"id\": 1}"));
  }

  void interruptLetsTheProcessAnswer() {
    CliProcess cli;
    QSignalSpy lines(&cli, &CliProcess::errorLine), exited(&cli, &CliProcess::exited);
    cli.start({QStringLiteral("cancel")}, CliProcess::Output::Discard);
    QVERIFY(lines.wait(10000));  // "started": the trap is set
    cli.interrupt(20000);
    QVERIFY(cli.isInterrupting());
    const CliProcess::Exit e = waitForExit(exited);
    QVERIFY(e.interrupted && !e.crashed);
    QCOMPARE(e.code, 1);
    QCOMPARE(e.lastErrorLine, QStringLiteral("stopped at batch 2"));
  }

  void secondInterruptKills() {
    CliProcess cli;
    QSignalSpy lines(&cli, &CliProcess::errorLine), exited(&cli, &CliProcess::exited);
    cli.start({QStringLiteral("stubborn")}, CliProcess::Output::Discard);
    QVERIFY(lines.wait(10000));
    cli.interrupt(60000);
    QTest::qWait(300);
    QVERIFY(cli.isRunning());  // SIGINT is ignored
    cli.interrupt(60000);
    const CliProcess::Exit e = waitForExit(exited);
    QVERIFY(e.interrupted && e.crashed && !e.ok());
  }

  void startDropsTheRunInFlight() {
    CliProcess cli;
    QSignalSpy lines(&cli, &CliProcess::errorLine), exited(&cli, &CliProcess::exited);
    cli.start({QStringLiteral("slow")}, CliProcess::Output::Discard);
    cli.start({QStringLiteral("lines")}, CliProcess::Output::Discard);
    QCOMPARE(waitForExit(exited).code, 3);
    QTest::qWait(2500);  // the slow one would have ended by now
    QCOMPARE(exited.size(), 0);
    for (const auto& args : lines) QVERIFY(args.at(0).toString() != QStringLiteral("slow done"));

    cli.start({QStringLiteral("slow")}, CliProcess::Output::Discard);
    cli.discard();
    QVERIFY(!cli.isRunning());
    QTest::qWait(2500);
    QCOMPARE(exited.size(), 0);
  }

  // A handler that starts the next run on a stderr line: the lines the old run printed in the same
  // read ("second", "third", "last") belong to it and are dropped, not passed on as the new run's.
  void handlerStartingARunDropsTheOldLines() {
    CliProcess cli;
    QStringList seen;
    connect(&cli, &CliProcess::errorLine, &cli, [&](const QString& line) {
      seen << line;
      if (line == QStringLiteral("first")) cli.start({QStringLiteral("slow")}, CliProcess::Output::Discard);
    });
    QSignalSpy exited(&cli, &CliProcess::exited);
    cli.start({QStringLiteral("lines")}, CliProcess::Output::Discard);
    const CliProcess::Exit exit = waitForExit(exited);
    QCOMPARE(exit.code, 0);  // the slow run's exit, not the first's 3
    QCOMPARE(seen, (QStringList{QStringLiteral("first"), QStringLiteral("slow done")}));
  }

  void missingExecutable() {
    const QByteArray saved = qgetenv("MAMBASCOPE_CLI");
    qputenv("MAMBASCOPE_CLI", m_dir.filePath(QStringLiteral("no-such-cli")).toUtf8());
    CliProcess cli;
    QSignalSpy failed(&cli, &CliProcess::failedToStart), exited(&cli, &CliProcess::exited);
    cli.start({QStringLiteral("lines")}, CliProcess::Output::Discard);
    QTRY_COMPARE_WITH_TIMEOUT(failed.size(), 1, 10000);
    QVERIFY(!cli.isRunning());
    QCOMPARE(exited.size(), 0);
    qputenv("MAMBASCOPE_CLI", saved);
  }

  void calibrationProgressAndOneLineError() {
    CalibrationProcess calibration;
    QSignalSpy progress(&calibration, &CalibrationProcess::progressChanged);
    QSignalSpy failed(&calibration, &CalibrationProcess::failed);
    QSignalSpy running(&calibration, &CalibrationProcess::runningChanged);
    const auto id = calibration.start({QStringLiteral("/models/m"), QStringLiteral("t.txt"), m_dir.filePath("s.safetensors")});
    QTRY_COMPARE_WITH_TIMEOUT(failed.size(), 1, 20000);
    QCOMPARE(progress.size(), 1);
    const auto p = progress.at(0).at(1).value<CalibrationProgress>();
    QCOMPARE(p.done, 450);
    QCOMPARE(p.total, 1000);
    QCOMPARE(failed.at(0).at(0).toULongLong(), id);
    QCOMPARE(failed.at(0).at(1).toString(), QStringLiteral("/models/m: no tokenizer.json beside the model"));
    QCOMPARE(running.size(), 2);
    QVERIFY(running.at(0).at(0).toBool() && !running.at(1).at(0).toBool());
    QVERIFY(!calibration.isRunning());
  }

 private:
  QTemporaryDir m_dir;
};

QTEST_GUILESS_MAIN(TestCliProcess)
#include "tst_cli_process.moc"
