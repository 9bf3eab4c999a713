// PreviewProcess (see preview_process.h).
#include "app/preview_process.h"

#include <QJsonDocument>

#include "core/util/error.h"

namespace ms::app {
namespace {

// What the one-shot run passes for --alpha: the server gets the same number, so both compute the same.
double alphaArgument(double alpha) { return QString::number(alpha, 'g', 6).toDouble(); }

}  // namespace

PreviewProcess::PreviewProcess(QObject* parent) : QObject(parent) {
  connect(&m_server, &CliProcess::outputLine, this, &PreviewProcess::onServerLine);
  connect(&m_server, &CliProcess::exited, this, [this](const CliProcess::Exit& exit) {
    onServerGone(exit.lastErrorLine.isEmpty() ? QStringLiteral("the preview server stopped with status %1").arg(exit.code)
                                              : exit.lastErrorLine);
  });
  connect(&m_server, &CliProcess::failedToStart, this,
          [this] { onServerGone(QStringLiteral("%1: cannot start the preview server").arg(CliProcess::path())); });

  connect(&m_oneShot, &CliProcess::exited, this, [this](const CliProcess::Exit& exit) {
    if (exit.ok()) {
      deliver(exit.output, false);
      return;
    }
    fail(exit.lastErrorLine.isEmpty()
             ? QStringLiteral("the preview (mambascope-cli preview) failed with status %1").arg(exit.code)
             : exit.lastErrorLine);
  });
  connect(&m_oneShot, &CliProcess::failedToStart, this, [this] {
    fail(QStringLiteral("%1: cannot run the preview (build target mambascope-cli, or set MAMBASCOPE_CLI)")
             .arg(CliProcess::path()));
  });
}

PreviewProcess::~PreviewProcess() = default;  // the CliProcess members end their processes

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

QStringList PreviewProcess::serverArguments(const Options& o) {
  QStringList args{QStringLiteral("preview"), o.model, QStringLiteral("--serve"), QStringLiteral("--max-tokens"),
                   QString::number(o.maxTokens)};
  if (!o.text.isEmpty()) args << QStringLiteral("--file") << o.text;
  if (!o.tokenizer.isEmpty()) args << QStringLiteral("--tokenizer") << o.tokenizer;
  if (o.threads > 0) args << QStringLiteral("--threads") << QString::number(o.threads);
  return args;
}

QJsonObject PreviewProcess::serverRequest(qint64 id, const views::distributions::PreviewRequest& r) {
  QJsonObject o{{QStringLiteral("id"), id},
                {QStringLiteral("point"), QString::fromStdString(r.point)},
                {QStringLiteral("method"), QString::fromStdString(r.method)},
                {QStringLiteral("bits"), r.bits}};
  // Only what the one-shot arguments pass; the rest stays at the CLI's defaults in both.
  if (r.method == "smoothquant") o.insert(QStringLiteral("alpha"), alphaArgument(r.alpha));
  if (r.method == "dsq") o.insert(QStringLiteral("baseline"), QString::fromStdString(r.baseline));
  return o;
}

void PreviewProcess::request(const Options& options, const views::distributions::PreviewRequest& request) {
  if (request == m_request && options.model == m_options.model && options.text == m_options.text) return;
  m_oneShot.discard();
  m_waiting = false;
  m_options = options;
  m_request = request;
  if (request.method.empty() || options.model.isEmpty()) {
    m_status.clear();
    return;
  }
  m_waiting = true;
  m_status = QStringLiteral("computing %1 on %2…").arg(QString::fromStdString(request.method), QString::fromStdString(request.point));
  if (!m_serverEnabled) {
    m_server.discard();
    runOneShot();
    return;
  }
  if (!m_serverOptions.sameServer(options)) {  // another model or text: another server
    m_server.discard();
    m_serverOptions = options;
    m_serverBroken = false;
  }
  if (m_serverBroken) {
    runOneShot();
    return;
  }
  if (!m_server.isRunning()) startServer();
  if (m_serverReady) sendToServer();  // else the ready line sends the newest
}

void PreviewProcess::stop() {
  m_oneShot.discard();
  m_server.discard();
  m_serverReady = false;
  m_waiting = false;
  m_request = {};  // asked again after a stop, it runs again
}

void PreviewProcess::startServer() {
  m_serverReady = false;
  m_server.start(serverArguments(m_serverOptions), CliProcess::Output::Lines);
}

void PreviewProcess::sendToServer() {
  ++m_requestId;
  m_server.write(QJsonDocument(serverRequest(m_requestId, m_request)).toJson(QJsonDocument::Compact) + '\n');
}

void PreviewProcess::runOneShot() { m_oneShot.start(arguments(m_options, m_request), CliProcess::Output::Collect); }

void PreviewProcess::onServerLine(const QByteArray& line) {
  const QJsonDocument doc = QJsonDocument::fromJson(line);
  if (!doc.isObject()) return;  // not ours (nothing else writes to stdout)
  const QJsonObject o = doc.object();
  const QString type = o.value(QStringLiteral("type")).toString();
  if (type == QLatin1String("ready")) {
    m_serverReady = true;
    if (m_waiting && !m_oneShot.isRunning()) sendToServer();
    return;
  }
  // Only the answer to the newest request counts; "superseded" ones have a newer one behind them.
  if (!m_waiting || static_cast<qint64>(o.value(QStringLiteral("id")).toDouble()) != m_requestId) return;
  if (type == QLatin1String("result"))
    deliver(QJsonDocument(o.value(QStringLiteral("preview")).toObject()).toJson(QJsonDocument::Compact), true);
  else if (type == QLatin1String("error"))
    fail(o.value(QStringLiteral("message")).toString());  // a bad request: one-shot would refuse it alike
}

void PreviewProcess::onServerGone(const QString& why) {
  // Not the user's problem while one-shot runs still work: the request in flight is asked again.
  qWarning("preview server: %s; running each preview on its own from now on", qPrintable(why));
  m_serverReady = false;
  m_serverBroken = true;
  if (m_waiting && !m_oneShot.isRunning()) runOneShot();
}

void PreviewProcess::deliver(const QByteArray& json, bool served) {
  m_waiting = false;
  try {
    m_snapshot = std::make_shared<const PreviewSnapshot>(preview_from_json(json.toStdString(), "mambascope-cli preview"));
    m_snapshotServed = served;
    m_status.clear();
    Q_EMIT snapshotReady(m_snapshot);
  } catch (const InputError& e) {
    fail(QString::fromUtf8(e.what()));
  }
}

void PreviewProcess::fail(const QString& message) {
  m_waiting = false;
  m_status = message;
  Q_EMIT failed(m_status);
}

}  // namespace ms::app
