// PreviewProcess (see preview_process.h).
#include "app/preview_process.h"

#include "app/calibration_process.h"
#include "app/cli_process_util.h"
#include "core/util/error.h"

namespace ms::app {

PreviewProcess::PreviewProcess(QObject* parent) : QObject(parent) {}

PreviewProcess::~PreviewProcess() { stop(); }

QStringList PreviewProcess::arguments(const Options& o, const views::distributions::PreviewRequest& r) {
  QStringList args{QStringLiteral("preview"), o.model, QStringLiteral("--point"), QString::fromStdString(r.point),
                   QStringLiteral("--method"), QString::fromStdString(r.method), QStringLiteral("--bits"),
                   QString::number(r.bits), QStringLiteral("--max-tokens"), QString::number(o.maxTokens), QStringLiteral("--json")};
  if (r.method == "smoothquant") args << QStringLiteral("--alpha") << QString::number(r.alpha, 'g', 6);
  if (r.method == "dsq") args << QStringLiteral("--baseline") << QString::fromStdString(r.baseline);
  if (!o.text.isEmpty()) args << QStringLiteral("--file") << o.text;
  if (!o.tokenizer.isEmpty()) args << QStringLiteral("--tokenizer") << o.tokenizer;
  if (o.threads > 0) args << QStringLiteral("--threads") << QString::number(o.threads);
  return args;
}

void PreviewProcess::request(const Options& options, const views::distributions::PreviewRequest& request) {
  if (request == m_request && options.model == m_options.model && options.text == m_options.text) return;
  stop();
  m_options = options;
  m_request = request;
  if (request.method.empty() || options.model.isEmpty()) {
    m_status.clear();
    return;
  }
  auto* process = new QProcess(this);
  m_process = process;
  process->setProcessChannelMode(QProcess::SeparateChannels);
  connect(process, &QProcess::finished, this,
          [this, process](int code, QProcess::ExitStatus status) { onFinished(process, code, status); });
  connect(process, &QProcess::errorOccurred, this, [this, process](QProcess::ProcessError error) {
    if (process != m_process || error != QProcess::FailedToStart) return;
    stop();
    m_status = QStringLiteral("%1: cannot run the preview (build target mambascope-cli, or set MAMBASCOPE_CLI)")
                   .arg(CalibrationProcess::cliPath());
    Q_EMIT failed(m_status);
  });
  m_status = QStringLiteral("computing %1 on %2…").arg(QString::fromStdString(request.method), QString::fromStdString(request.point));
  process->start(CalibrationProcess::cliPath(), arguments(options, request));
}

void PreviewProcess::stop() {
  if (!m_process) return;
  QProcess* old = m_process;
  m_process = nullptr;
  discardProcess(old, this);
}

void PreviewProcess::onFinished(QProcess* process, int exitCode, QProcess::ExitStatus status) {
  if (process != m_process) return;  // superseded
  const QByteArray out = process->readAllStandardOutput();
  const QStringList err = QString::fromUtf8(process->readAllStandardError()).split(QLatin1Char('\n'), Qt::SkipEmptyParts);
  m_process = nullptr;
  process->deleteLater();
  if (status != QProcess::NormalExit || exitCode != 0) {
    m_status = err.isEmpty() ? QStringLiteral("the preview (mambascope-cli preview) failed with status %1").arg(exitCode)
                             : err.last().trimmed();
    Q_EMIT failed(m_status);
    return;
  }
  try {
    m_snapshot = std::make_shared<const PreviewSnapshot>(preview_from_json(out.toStdString(), "mambascope-cli preview"));
    m_status.clear();
    Q_EMIT snapshotReady(m_snapshot);
  } catch (const InputError& e) {
    m_status = QString::fromUtf8(e.what());
    Q_EMIT failed(m_status);
  }
}

}  // namespace ms::app
