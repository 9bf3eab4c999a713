// ExportProcess (see export_process.h).
#include "app/export_process.h"

#include <QDir>
#include <QFile>
#include <QFileInfo>
#include <QRegularExpression>

namespace ms::app {

ExportProcess::ExportProcess(QObject* parent) : QObject(parent) {
  connect(&m_cli, &CliProcess::errorLine, this, [this](const QString& line) {
    if (const auto progress = parseProgressLine(line)) Q_EMIT progressChanged(m_current, *progress);
    else m_lastError = line;
  });
  connect(&m_cli, &CliProcess::exited, this, &ExportProcess::onExited);
  connect(&m_cli, &CliProcess::failedToStart, this, [this] {
    const JobId id = m_current;
    Q_EMIT runningChanged(false);
    Q_EMIT failed(id, QStringLiteral("%1: cannot run the export tool (build target mambascope-cli, or set "
                                     "MAMBASCOPE_CLI)")
                          .arg(CliProcess::path()));
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
  m_lastError.clear();
  const JobId id = m_current;
  Q_EMIT runningChanged(true);
  m_cli.start(arguments(request), CliProcess::Output::Collect);
  return id;
}

// SIGINT: the CLI removes its temporary directory itself.
void ExportProcess::cancel(int killAfterMs) { m_cli.interrupt(killAfterMs); }

void ExportProcess::stop() {
  m_current = ++m_lastId;
  stopProcess();
}

void ExportProcess::stopProcess() {
  if (!m_cli.isRunning()) return;
  m_cli.discard(5000);  // dead before its temporary directory is removed
  removeTemporaryDirectory();
  Q_EMIT runningChanged(false);
}

void ExportProcess::removeTemporaryDirectory() {
  if (const qint64 pid = m_cli.processId(); pid > 0) QDir(temporaryDirectory(m_request.out, pid)).removeRecursively();
}

void ExportProcess::onExited(const CliProcess::Exit& exit) {
  const JobId id = m_current;
  const QString out = QDir::cleanPath(m_request.out);
  removeTemporaryDirectory();  // a killed run's
  Q_EMIT runningChanged(false);
  if (exit.ok() && QFileInfo(out).isDir()) {
    QFile report(out + QStringLiteral("/report.json"));
    QByteArray reportJson;
    if (report.open(QIODevice::ReadOnly)) reportJson = report.readAll();
    Q_EMIT finished(id, out, exit.output.trimmed(), reportJson);
  } else if (exit.interrupted) {
    Q_EMIT cancelled(id);
  } else {
    QString message = m_lastError;
    if (message.isEmpty())
      message = exit.crashed ? QStringLiteral("%1 crashed").arg(CliProcess::path())
                             : QStringLiteral("%1 exited with status %2").arg(CliProcess::path()).arg(exit.code);
    Q_EMIT failed(id, message);
  }
}

}  // namespace ms::app
