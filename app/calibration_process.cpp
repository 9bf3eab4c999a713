// CalibrationProcess (see calibration_process.h).
#include "app/calibration_process.h"

#include <QFile>
#include <QFileInfo>
#include <QRegularExpression>

namespace ms::app {

CalibrationProcess::CalibrationProcess(QObject* parent) : QObject(parent) {
  connect(&m_cli, &CliProcess::errorLine, this, [this](const QString& line) {
    if (const auto progress = parseProgressLine(line)) Q_EMIT progressChanged(m_current, *progress);
    else m_lastError = line;
  });
  connect(&m_cli, &CliProcess::exited, this, &CalibrationProcess::onExited);
  connect(&m_cli, &CliProcess::failedToStart, this, [this] {
    const JobId id = m_current;
    Q_EMIT runningChanged(false);
    Q_EMIT failed(id, QStringLiteral("%1: cannot run the calibration tool (build target mambascope-cli, or set "
                                     "MAMBASCOPE_CLI)")
                          .arg(cliPath()));
  });
}

// No calibration outlives the window that asked for it (nor keeps writing into its temp dir):
// m_cli kills and waits.
CalibrationProcess::~CalibrationProcess() = default;

QString CalibrationProcess::cliPath() { return CliProcess::path(); }

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
  m_lastError.clear();
  const JobId id = m_current;
  Q_EMIT runningChanged(true);
  m_cli.start(arguments(request), CliProcess::Output::Discard);
  return id;
}

void CalibrationProcess::cancel(int killAfterMs) { m_cli.interrupt(killAfterMs); }

void CalibrationProcess::stop() {
  m_current = ++m_lastId;  // no run has this id: a late signal of the killed one matches nothing
  stopProcess();
}

void CalibrationProcess::stopProcess() {
  if (!m_cli.isRunning()) return;
  m_cli.discard();
  Q_EMIT runningChanged(false);
}

void CalibrationProcess::onExited(const CliProcess::Exit& exit) {
  const JobId id = m_current;
  const bool written = QFileInfo(m_request.out).isFile();
  Q_EMIT runningChanged(false);
  if (exit.ok() && written) {
    Q_EMIT finished(id, m_request.out, false);
  } else if (exit.interrupted) {
    // Exit 1 with the file: partial statistics. Killed, or stopped before the first batch: none.
    Q_EMIT finished(id, written ? m_request.out : QString(), true);
  } else {
    QString message = m_lastError;
    if (message.isEmpty())
      message = exit.crashed ? QStringLiteral("%1 crashed").arg(cliPath())
                             : QStringLiteral("%1 exited with status %2").arg(cliPath()).arg(exit.code);
    Q_EMIT failed(id, message);
  }
}

}  // namespace ms::app
