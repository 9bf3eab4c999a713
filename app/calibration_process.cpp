// CalibrationProcess (see calibration_process.h).
#include "app/calibration_process.h"

#include <csignal>

#include <QCoreApplication>
#include <QFile>
#include <QFileInfo>
#include <QRegularExpression>

#include "app/cli_process_util.h"

namespace ms::app {

CalibrationProcess::CalibrationProcess(QObject* parent) : QObject(parent) {
  m_killTimer.setSingleShot(true);
  connect(&m_killTimer, &QTimer::timeout, this, [this] {
    if (m_process) m_process->kill();
  });
}

CalibrationProcess::~CalibrationProcess() {
  // No calibration outlives the window that asked for it (nor keeps writing into its temp dir).
  if (m_process) {
    m_process->disconnect(this);
    m_process->kill();
    m_process->waitForFinished(3000);
  }
}

QString CalibrationProcess::cliPath() {
  const QString env = qEnvironmentVariable("MAMBASCOPE_CLI");
  if (!env.isEmpty()) return env;
  return QCoreApplication::applicationDirPath() + QStringLiteral("/mambascope-cli");
}

QStringList CalibrationProcess::arguments(const CalibrationRequest& r) {
  QStringList args{QStringLiteral("calibrate"), r.model, QStringLiteral("--file"), r.text, QStringLiteral("--out"), r.out,
                   QStringLiteral("--seq-len"), QString::number(r.seqLen), QStringLiteral("--batch"),
                   QString::number(r.batch)};
  if (r.maxTokens > 0) args << QStringLiteral("--max-tokens") << QString::number(r.maxTokens);
  if (!r.device.isEmpty()) args << QStringLiteral("--device") << r.device;
  if (!r.tokenizer.isEmpty()) args << QStringLiteral("--tokenizer") << r.tokenizer;
  return args;
}

std::optional<CalibrationProgress> CalibrationProcess::parseProgressLine(const QString& line) {
  // core/cli/common.cpp progress_reporter, plain-line form (stderr is a pipe here).
  static const QRegularExpression pattern(
      QStringLiteral("^calibrate: (\\d+)% \\((\\d+)/(\\d+) tokens, ([0-9.]+) tok/s\\)$"));
  const QRegularExpressionMatch m = pattern.match(line.trimmed());
  if (!m.hasMatch()) return std::nullopt;
  CalibrationProgress p;
  p.done = m.captured(2).toLongLong();
  p.total = m.captured(3).toLongLong();
  p.rate = m.captured(4).toDouble();
  p.fraction = p.total > 0 ? std::clamp(static_cast<double>(p.done) / static_cast<double>(p.total), 0.0, 1.0) : 1.0;
  if (p.rate > 0.0) p.etaSeconds = static_cast<double>(std::max<qint64>(p.total - p.done, 0)) / p.rate;
  return p;
}

CalibrationProcess::JobId CalibrationProcess::start(const CalibrationRequest& request) {
  stopProcess();  // superseded: its output and exit are no longer anyone's business
  m_current = ++m_lastId;
  m_request = request;
  // A file left at `out` would pass for this run's result: the CLI writes it atomically at the end.
  QFile::remove(request.out);
  m_cancelRequested = false;
  m_partialLine.clear();
  m_lastError.clear();

  auto* process = new QProcess(this);
  m_process = process;
  process->setProcessChannelMode(QProcess::SeparateChannels);
  process->setStandardOutputFile(QProcess::nullDevice());
  const JobId id = m_current;
  connect(process, &QProcess::readyReadStandardError, this, [this, id] {
    if (id == m_current) onReadyRead();
  });
  connect(process, &QProcess::finished, this, [this, id](int code, QProcess::ExitStatus status) {
    if (id == m_current) onFinished(code, status);
  });
  connect(process, &QProcess::errorOccurred, this, [this, id](QProcess::ProcessError error) {
    if (id == m_current) onErrorOccurred(error);
  });
  Q_EMIT runningChanged(true);
  process->start(cliPath(), arguments(request));
  return id;
}

void CalibrationProcess::cancel(int killAfterMs) {
  if (!m_process) return;
  if (m_cancelRequested) {  // asked twice: stop at once
    m_process->kill();
    return;
  }
  m_cancelRequested = true;
  const qint64 pid = m_process->processId();
  // SIGINT, as Ctrl+C in a terminal: the CLI stops between batches and saves what it has.
  if (pid > 0) ::kill(static_cast<pid_t>(pid), SIGINT);
  m_killTimer.start(killAfterMs);
}

void CalibrationProcess::stop() {
  m_current = ++m_lastId;  // no run has this id: a late signal of the killed one matches nothing
  stopProcess();
}

void CalibrationProcess::stopProcess() {
  m_killTimer.stop();
  if (!m_process) return;
  QProcess* old = m_process;
  m_process = nullptr;
  discardProcess(old, this);
  Q_EMIT runningChanged(false);
}

void CalibrationProcess::onReadyRead() {
  for (const QString& line : takeLines(m_partialLine, m_process->readAllStandardError())) {
    if (const auto progress = parseProgressLine(line)) Q_EMIT progressChanged(m_current, *progress);
    else m_lastError = line;
  }
}

void CalibrationProcess::onFinished(int exitCode, QProcess::ExitStatus status) {
  onReadyRead();
  if (!m_partialLine.trimmed().isEmpty()) m_lastError = m_partialLine.trimmed();
  const JobId id = m_current;
  const bool cancelled = m_cancelRequested;
  const bool written = QFileInfo(m_request.out).isFile();
  stopProcess();
  if (status == QProcess::NormalExit && exitCode == 0 && written) {
    Q_EMIT finished(id, m_request.out, false);
  } else if (cancelled) {
    // Exit 1 with the file: partial statistics. Killed, or stopped before the first batch: none.
    Q_EMIT finished(id, written ? m_request.out : QString(), true);
  } else {
    QString message = m_lastError;
    if (message.isEmpty())
      message = status == QProcess::CrashExit ? QStringLiteral("%1 crashed").arg(cliPath())
                                              : QStringLiteral("%1 exited with status %2").arg(cliPath()).arg(exitCode);
    Q_EMIT failed(id, message);
  }
}

void CalibrationProcess::onErrorOccurred(QProcess::ProcessError error) {
  if (error != QProcess::FailedToStart) return;  // the others end in finished()
  const JobId id = m_current;
  stopProcess();
  Q_EMIT failed(id, QStringLiteral("%1: cannot run the calibration tool (build target mambascope-cli, or set "
                                   "MAMBASCOPE_CLI)")
                        .arg(cliPath()));
}

}  // namespace ms::app
