// StateSequenceProcess (see state_sequence_process.h).
#include "app/state_sequence_process.h"

#include <QFile>

#include "core/util/error.h"

namespace ms::app {

StateSequenceProcess::StateSequenceProcess(QObject* parent) : QObject(parent) {
  connect(&m_cli, &CliProcess::exited, this, &StateSequenceProcess::onExited);
  connect(&m_cli, &CliProcess::failedToStart, this, [this] {
    // The request stays the newest: no retry every frame.
    m_status = QStringLiteral("%1: cannot run the state sequence (build target mambascope-cli, or set MAMBASCOPE_CLI)")
                   .arg(CliProcess::path());
    Q_EMIT failed(m_status);
  });
}

StateSequenceProcess::~StateSequenceProcess() { stop(); }

QStringList StateSequenceProcess::arguments(const Request& r, const QString& out) {
  QStringList args{QStringLiteral("states"), r.model, QStringLiteral("--layer"), QString::number(r.layer),
                   QStringLiteral("--max-tokens"), QString::number(r.maxTokens), QStringLiteral("--hbits"),
                   QString::number(r.hbits), QStringLiteral("--state-method"), r.method, QStringLiteral("--out"), out};
  if (r.method == QLatin1String("dsq")) args << QStringLiteral("--dsq-variant") << r.dsqVariant;
  if (!r.text.isEmpty()) args << QStringLiteral("--file") << r.text;
  if (!r.tokenizer.isEmpty()) args << QStringLiteral("--tokenizer") << r.tokenizer;
  if (r.threads > 0) args << QStringLiteral("--threads") << QString::number(r.threads);
  return args;
}

void StateSequenceProcess::request(const Request& request) {
  if (m_haveRequest && request == m_request) return;
  m_cli.discard();
  m_request = request;
  m_haveRequest = true;
  if (request.model.isEmpty()) {
    m_status.clear();
    return;
  }
  if (!m_dir.isValid()) {
    m_status = QStringLiteral("cannot create a temporary folder for the state sequence");
    Q_EMIT failed(m_status);
    return;
  }
  // A new file per run: the snapshot of the previous one stays valid while this one is written.
  const QString out = m_dir.filePath(QStringLiteral("states-%1.safetensors").arg(++m_runs));
  m_runOut = out;
  m_status = QStringLiteral("computing layer %1's state over %2 tokens (H%3 %4)…")
                 .arg(request.layer).arg(request.maxTokens).arg(request.hbits).arg(request.method);
  m_cli.start(arguments(request, out), CliProcess::Output::Discard);
}

void StateSequenceProcess::stop() {
  m_haveRequest = false;
  if (m_cli.isRunning()) m_status = QStringLiteral("cancelled");
  m_cli.discard();
}

void StateSequenceProcess::onExited(const CliProcess::Exit& exit) {
  const QString out = m_runOut;
  if (!exit.ok()) {
    m_status = exit.lastErrorLine.isEmpty() ? QStringLiteral("mambascope-cli states failed with status %1").arg(exit.code)
                                            : exit.lastErrorLine;
    Q_EMIT failed(m_status);
    return;
  }
  try {
    m_snapshot = read_state_sequence(out.toStdString());
    if (!m_out.isEmpty() && m_out != out) QFile::remove(m_out);
    m_out = out;
    m_status.clear();
    Q_EMIT snapshotReady(m_snapshot);
  } catch (const InputError& e) {
    m_status = QString::fromUtf8(e.what());
    Q_EMIT failed(m_status);
  }
}

}  // namespace ms::app
