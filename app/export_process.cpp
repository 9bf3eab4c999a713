// ExportProcess (see export_process.h).
#include "app/export_process.h"

#include <csignal>

#include <QDir>
#include <QFile>
#include <QFileInfo>
#include <QRegularExpression>

#include "app/cli_process_util.h"
#include "app/calibration_process.h"

namespace ms::app {

ExportProcess::ExportProcess(QObject* parent) : QObject(parent) {
  m_killTimer.setSingleShot(true);
  connect(&m_killTimer, &QTimer::timeout, this, [this] {
    if (m_process) m_process->kill();
  });
}

ExportProcess::~ExportProcess() { stop(); }

QStringList ExportProcess::arguments(const ExportRequest& r) {
  QStringList args{QStringLiteral("quantize"), r.model,        QStringLiteral("--method"), r.methods,
                   QStringLiteral("--out"),    r.out,          QStringLiteral("--format"), r.format,
                   QStringLiteral("--json")};
  if (r.format == QLatin1String("gguf")) {
    args << QStringLiteral("--gguf-type") << (r.ggufType.isEmpty() ? QStringLiteral("q8_0") : r.ggufType);
  } else {  // ggml's blocks replace bits and granularity in a GGUF
    args << QStringLiteral("--wbits") << QString::number(r.wbits) << QStringLiteral("--granularity") << r.granularity;
    args << (r.symmetric ? QStringLiteral("--sym") : QStringLiteral("--asym"));
  }
  if (!r.evaluate) args << QStringLiteral("--no-eval");
  if (!r.tokenizer.isEmpty()) args << QStringLiteral("--tokenizer") << r.tokenizer;
  return args;
}

std::optional<ExportProgress> ExportProcess::parseProgressLine(const QString& line) {
  // core/cli/common.cpp progress_reporter, plain-line form (stderr is a pipe here); the unit is
  // "tokens" for the statistics and evaluation phases, "tensors" while weights are written.
  static const QRegularExpression pattern(
      QStringLiteral("^([a-z][a-z0-9_-]*): (\\d+)% \\((\\d+)/(\\d+) [a-z]+, ([0-9.]+) [a-z]+/s\\)$"));
  const QRegularExpressionMatch m = pattern.match(line.trimmed());
  if (!m.hasMatch()) return std::nullopt;
  ExportProgress p;
  p.phase = m.captured(1);
  p.done = m.captured(3).toLongLong();
  p.total = m.captured(4).toLongLong();
  p.fraction = p.total > 0 ? std::clamp(double(p.done) / double(p.total), 0.0, 1.0) : 1.0;
  return p;
}

QString ExportProcess::temporaryDirectory(const QString& out, qint64 pid) {
  QString target = QDir::cleanPath(out);
  const QFileInfo info(target);
  return info.dir().filePath(QStringLiteral(".%1.tmp-%2").arg(info.fileName()).arg(pid));
}

ExportProcess::JobId ExportProcess::start(const ExportRequest& request) {
  stopProcess();
  m_current = ++m_lastId;
  m_request = request;
  m_cancelRequested = false;
  m_partialLine.clear();
  m_lastError.clear();
  m_stdout.clear();
  m_pid = 0;

  auto* process = new QProcess(this);
  m_process = process;
  process->setProcessChannelMode(QProcess::SeparateChannels);
  const JobId id = m_current;
  connect(process, &QProcess::started, this, [this, id, process] {
    if (id == m_current) m_pid = process->processId();
  });
  connect(process, &QProcess::readyReadStandardError, this, [this, id] {
    if (id == m_current) onReadyRead();
  });
  connect(process, &QProcess::readyReadStandardOutput, this, [this, id, process] {
    if (id == m_current) m_stdout += process->readAllStandardOutput();
  });
  connect(process, &QProcess::finished, this, [this, id](int code, QProcess::ExitStatus status) {
    if (id == m_current) onFinished(code, status);
  });
  connect(process, &QProcess::errorOccurred, this, [this, id](QProcess::ProcessError error) {
    if (id != m_current || error != QProcess::FailedToStart) return;
    stopProcess();
    Q_EMIT failed(id, QStringLiteral("%1: cannot run the export tool (build target mambascope-cli, or set "
                                     "MAMBASCOPE_CLI)")
                          .arg(CalibrationProcess::cliPath()));
  });
  Q_EMIT runningChanged(true);
  process->start(CalibrationProcess::cliPath(), arguments(request));
  return id;
}

void ExportProcess::cancel(int killAfterMs) {
  if (!m_process) return;
  if (m_cancelRequested) {
    m_process->kill();
    return;
  }
  m_cancelRequested = true;
  const qint64 pid = m_process->processId();
  if (pid > 0) ::kill(static_cast<pid_t>(pid), SIGINT);  // the CLI removes its temporary directory
  m_killTimer.start(killAfterMs);
}

void ExportProcess::stop() {
  m_current = ++m_lastId;
  stopProcess();
}

void ExportProcess::stopProcess() {
  m_killTimer.stop();
  if (!m_process) return;
  QProcess* old = m_process;
  m_process = nullptr;
  old->disconnect(this);
  if (old->state() != QProcess::NotRunning) {
    old->kill();
    old->waitForFinished(5000);  // dead before its temporary directory is removed
  }
  if (m_pid > 0) QDir(temporaryDirectory(m_request.out, m_pid)).removeRecursively();
  old->deleteLater();
  Q_EMIT runningChanged(false);
}

void ExportProcess::onReadyRead() {
  for (const QString& line : takeLines(m_partialLine, m_process->readAllStandardError())) {
    if (const auto progress = parseProgressLine(line)) Q_EMIT progressChanged(m_current, *progress);
    else m_lastError = line;
  }
}

void ExportProcess::onFinished(int exitCode, QProcess::ExitStatus status) {
  onReadyRead();
  if (m_process) m_stdout += m_process->readAllStandardOutput();
  if (!m_partialLine.trimmed().isEmpty()) m_lastError = m_partialLine.trimmed();
  const JobId id = m_current;
  const bool wasCancelled = m_cancelRequested;
  const QString out = QDir::cleanPath(m_request.out);
  stopProcess();  // a killed run's temporary directory goes here
  if (status == QProcess::NormalExit && exitCode == 0 && QFileInfo(out).isDir()) {
    QFile report(out + QStringLiteral("/report.json"));
    QByteArray reportJson;
    if (report.open(QIODevice::ReadOnly)) reportJson = report.readAll();
    Q_EMIT finished(id, out, m_stdout.trimmed(), reportJson);
  } else if (wasCancelled) {
    Q_EMIT cancelled(id);
  } else {
    QString message = m_lastError;
    if (message.isEmpty())
      message = status == QProcess::CrashExit
                    ? QStringLiteral("%1 crashed").arg(CalibrationProcess::cliPath())
                    : QStringLiteral("%1 exited with status %2").arg(CalibrationProcess::cliPath()).arg(exitCode);
    Q_EMIT failed(id, message);
  }
}

}  // namespace ms::app
