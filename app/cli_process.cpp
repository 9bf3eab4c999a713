// CliProcess (see cli_process.h).
#include "app/cli_process.h"

#include <csignal>

#include <QCoreApplication>

#include "app/cli_process_util.h"

namespace ms::app {

CliProcess::CliProcess(QObject* parent) : QObject(parent) {
  m_killTimer.setSingleShot(true);
  connect(&m_killTimer, &QTimer::timeout, this, [this] {
    if (m_process) m_process->kill();
  });
}

CliProcess::~CliProcess() { release(3000); }

QString CliProcess::path() {
  const QString env = qEnvironmentVariable("MAMBASCOPE_CLI");
  if (!env.isEmpty()) return env;
  return QCoreApplication::applicationDirPath() + QStringLiteral("/mambascope-cli");
}

void CliProcess::start(const QStringList& arguments, Output output) {
  release(0);
  m_output = output;
  m_interrupted = false;
  m_pid = 0;
  m_partialError.clear();
  m_partialOutput.clear();
  m_collected.clear();
  m_lastErrorLine.clear();

  auto* process = new QProcess(this);
  m_process = process;
  process->setProcessChannelMode(QProcess::SeparateChannels);
  if (output == Output::Discard) process->setStandardOutputFile(QProcess::nullDevice());
  // Each connection names `process`: once it is no longer m_process it reaches nothing here.
  connect(process, &QProcess::started, this, [this, process] {
    if (process == m_process) m_pid = process->processId();
  });
  connect(process, &QProcess::readyReadStandardError, this, [this, process] {
    if (process == m_process) readError();
  });
  connect(process, &QProcess::readyReadStandardOutput, this, [this, process] {
    if (process == m_process) readOutput();
  });
  connect(process, &QProcess::finished, this, [this, process](int code, QProcess::ExitStatus status) {
    if (process == m_process) onFinished(code, status);
  });
  connect(process, &QProcess::errorOccurred, this, [this, process](QProcess::ProcessError error) {
    if (process != m_process || error != QProcess::FailedToStart) return;  // the others end in finished()
    release(0);
    Q_EMIT failedToStart();
  });
  process->start(path(), arguments);
}

void CliProcess::write(const QByteArray& bytes) {
  if (m_process) m_process->write(bytes);
}

void CliProcess::interrupt(int killAfterMs) {
  if (!m_process) return;
  if (m_interrupted) {  // asked twice: stop at once
    m_process->kill();
    return;
  }
  m_interrupted = true;
  // SIGINT, as Ctrl+C in a terminal: the CLI stops between batches and saves or cleans up.
  if (const qint64 pid = m_process->processId(); pid > 0) ::kill(static_cast<pid_t>(pid), SIGINT);
  m_killTimer.start(killAfterMs);
}

void CliProcess::discard(int waitMs) { release(waitMs); }

void CliProcess::release(int waitMs) {
  m_killTimer.stop();
  if (!m_process) return;
  QProcess* old = m_process;
  m_process = nullptr;
  if (waitMs > 0 && old->state() != QProcess::NotRunning) {
    old->disconnect(this);
    old->kill();
    old->waitForFinished(waitMs);
    old->deleteLater();
  } else {
    discardProcess(old, this);
  }
}

void CliProcess::readError() {
  QProcess* const process = m_process;
  for (const QString& line : takeLines(m_partialError, process->readAllStandardError())) {
    m_lastErrorLine = line;
    Q_EMIT errorLine(line);
    if (m_process != process) return;  // a handler dropped this run, or started another
  }
}

void CliProcess::readOutput() {
  const QByteArray bytes = m_process->readAllStandardOutput();
  if (m_output == Output::Collect) {
    m_collected += bytes;
    return;
  }
  m_partialOutput += bytes;
  QProcess* const process = m_process;
  for (qsizetype nl; process == m_process && (nl = m_partialOutput.indexOf('\n')) >= 0;) {
    const QByteArray line = m_partialOutput.left(nl);
    m_partialOutput.remove(0, nl + 1);
    Q_EMIT outputLine(line);
  }
}

void CliProcess::onFinished(int exitCode, QProcess::ExitStatus status) {
  QProcess* const process = m_process;
  readError();
  if (process != m_process) return;
  if (m_output != Output::Discard) readOutput();
  if (process != m_process) return;
  if (const QString rest = m_partialError.trimmed(); !rest.isEmpty()) {  // a last line without its newline
    m_lastErrorLine = rest;
    Q_EMIT errorLine(rest);
    if (process != m_process) return;
  }
  Exit exit;
  exit.code = exitCode;
  exit.crashed = status != QProcess::NormalExit;
  exit.interrupted = m_interrupted;
  exit.lastErrorLine = m_lastErrorLine;
  exit.output = m_collected;
  release(0);  // it has ended: deleted later, and a handler below may start the next run
  Q_EMIT exited(exit);
}

}  // namespace ms::app
