// RequantProcess (see requant_process.h).
#include "app/requant_process.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include <QJsonArray>
#include <QJsonDocument>
#include <QLocale>

namespace ms::app {
namespace {

// The server writes null for a non-finite SQNR: +inf (exact) unless the float side is zero,
// which a Linear input or a state practically never is.
double sqnr(const QJsonValue& v) { return v.isNull() ? std::numeric_limits<double>::infinity() : v.toDouble(); }

views::error::PointRow pointRow(const QJsonObject& o) {
  views::error::PointRow r;
  r.name = o.value(QStringLiteral("point")).toString().toStdString();
  r.sqnr_db = sqnr(o.value(QStringLiteral("sqnr_db")));
  r.mse = o.value(QStringLiteral("mse")).toDouble();
  r.cosine = o.value(QStringLiteral("cosine")).toDouble();
  r.max_abs = o.value(QStringLiteral("max_abs_error")).toDouble();
  const QStringList parts = QString::fromStdString(r.name).split(QLatin1Char('.'));
  r.layer = parts.size() > 1 ? parts[1].toInt() : 0;
  r.state = r.name.size() > 6 && r.name.compare(r.name.size() - 6, 6, ".state") == 0;
  return r;
}

}  // namespace

RequantProcess::RequantProcess(QObject* parent) : QObject(parent) {
  m_clock.start();
  connect(&m_cli, &CliProcess::outputLine, this, &RequantProcess::onLine);
  connect(&m_cli, &CliProcess::exited, this, [this](const CliProcess::Exit& exit) {
    QString message = exit.lastErrorLine;
    if (message.isEmpty())
      message = exit.crashed ? QStringLiteral("the error preview (mambascope-cli requant-serve) crashed")
                             : QStringLiteral("the error preview stopped with status %1").arg(exit.code);
    onGone(message);
  });
  connect(&m_cli, &CliProcess::failedToStart, this, [this] {
    onGone(QStringLiteral("%1: cannot run the error preview (build target mambascope-cli, or set MAMBASCOPE_CLI)")
               .arg(CliProcess::path()));
  });
}

RequantProcess::~RequantProcess() = default;  // m_cli kills the server and waits for it

QStringList RequantProcess::arguments(const Options& o) {
  QStringList args{QStringLiteral("requant-serve"), o.model, QStringLiteral("--windows"), QString::number(o.windows),
                   QStringLiteral("--seq-len"), QString::number(o.seqLen)};
  if (!o.text.isEmpty()) args << QStringLiteral("--file") << o.text;
  if (!o.tokenizer.isEmpty()) args << QStringLiteral("--tokenizer") << o.tokenizer;
  if (!o.device.isEmpty()) args << QStringLiteral("--device") << o.device;
  if (o.threads > 0) args << QStringLiteral("--threads") << QString::number(o.threads);
  return args;
}

void RequantProcess::start(const Options& options) {
  stop();
  m_options = options;
  Q_EMIT runningChanged(true);
  m_cli.start(arguments(options), CliProcess::Output::Lines);
}

void RequantProcess::forgetServer() {
  m_batch.reset();
  m_inFlight.clear();
  m_sentAt.clear();
  m_delivered = m_lastId;  // nothing sent so far may still be delivered
}

void RequantProcess::stop() {
  forgetServer();
  if (!m_cli.isRunning()) return;
  // Closing its input ends the server; a kill makes sure a busy one does not linger.
  m_cli.discard();
  Q_EMIT runningChanged(false);
}

void RequantProcess::onGone(const QString& message) {
  forgetServer();  // the server has ended by itself: nothing of it is left to discard
  Q_EMIT runningChanged(false);
  Q_EMIT failed(message);
}

qint64 RequantProcess::request(QJsonObject setting) {
  setting.insert(QStringLiteral("id"), ++m_lastId);
  m_inFlight.insert(m_lastId, setting);
  if (m_batch && m_cli.isRunning()) send(setting);
  else m_pending = setting;  // only the newest waits for the server
  return m_lastId;
}

void RequantProcess::send(const QJsonObject& setting) {
  // The round trip counts from here: a request made while the server was starting waited for it.
  m_sentAt.insert(static_cast<qint64>(setting.value(QStringLiteral("id")).toDouble()), m_clock.elapsed());
  m_cli.write(QJsonDocument(setting).toJson(QJsonDocument::Compact) + '\n');
}

void RequantProcess::onLine(const QByteArray& line) {
  QJsonParseError error;
  const QJsonDocument doc = QJsonDocument::fromJson(line, &error);
  if (!doc.isObject()) return;  // not ours (nothing else writes to stdout)
  const QJsonObject o = doc.object();
  const QString type = o.value(QStringLiteral("type")).toString();
  if (type == QLatin1String("ready")) {
    RequantBatch b;
    b.windows = o.value(QStringLiteral("windows")).toInt();
    b.windowLength = o.value(QStringLiteral("seq_len")).toInt();
    b.layers = o.value(QStringLiteral("layers")).toInt();
    for (const QJsonValue& v : o.value(QStringLiteral("pieces")).toArray()) b.pieces << v.toString();
    for (const QJsonValue& v : o.value(QStringLiteral("points")).toArray()) b.points << v.toString();
    b.device = o.value(QStringLiteral("device")).toString();
    b.setupMs = o.value(QStringLiteral("setup_ms")).toDouble();
    m_batch = b;
    Q_EMIT ready(b);
    if (m_pending) {
      send(*m_pending);
      m_pending.reset();
    }
    return;
  }
  const qint64 id = static_cast<qint64>(o.value(QStringLiteral("id")).toDouble());
  const QJsonObject setting = m_inFlight.value(id);
  const qint64 sentAt = m_sentAt.value(id, -1);
  // Everything up to this id is answered (the server answers in order).
  for (auto it = m_inFlight.begin(); it != m_inFlight.end();) it = it.key() <= id ? m_inFlight.erase(it) : std::next(it);
  for (auto it = m_sentAt.begin(); it != m_sentAt.end();) it = it.key() <= id ? m_sentAt.erase(it) : std::next(it);
  if (type == QLatin1String("superseded")) return;
  if (type == QLatin1String("error")) {
    if (id == m_lastId) Q_EMIT failed(o.value(QStringLiteral("message")).toString());
    return;
  }
  if (type != QLatin1String("result") || id <= m_delivered || !m_batch) return;  // stale: a newer one is shown
  m_delivered = id;
  const double roundTrip = sentAt >= 0 ? static_cast<double>(m_clock.elapsed() - sentAt) : -1.0;
  Q_EMIT snapshotReady(snapshotFrom(*m_batch, o, describe(setting), roundTrip));
}

QString RequantProcess::describe(const QJsonObject& s) {
  const auto bits = [&](const char* key) { return s.value(QLatin1String(key)).toInt(16); };
  QString w = QStringLiteral("W%1").arg(bits("wbits"));
  if (bits("wbits") < 16)
    w += QStringLiteral(" %1 %2")
             .arg(s.value(QStringLiteral("granularity")).toString(QStringLiteral("channel")),
                  s.value(QStringLiteral("symmetric")).toBool(true) ? QStringLiteral("sym") : QStringLiteral("asym"));
  QString a = QStringLiteral("A%1").arg(bits("abits"));
  if (bits("abits") < 16)
    a += QStringLiteral(" %1 %2").arg(s.value(QStringLiteral("act_scale")).toString(QStringLiteral("dynamic")),
                                      s.value(QStringLiteral("act_granularity")).toString(QStringLiteral("token")));
  QString h = QStringLiteral("H%1").arg(bits("hbits"));
  if (bits("hbits") < 16) h += QLatin1Char(' ') + s.value(QStringLiteral("state_method")).toString(QStringLiteral("dsq"));
  QString text = w + QStringLiteral("  ·  ") + a + QStringLiteral("  ·  ") + h;
  const int overrides = s.value(QStringLiteral("layers")).toObject().size();
  if (overrides > 0) text += QStringLiteral("  ·  %1 layer override%2").arg(overrides).arg(overrides == 1 ? "" : "s");
  return text;
}

std::shared_ptr<const views::error::Snapshot> RequantProcess::snapshotFrom(const RequantBatch& b, const QJsonObject& o,
                                                                           const QString& setting, double roundTripMs) {
  auto s = std::make_shared<views::error::Snapshot>();
  s->setting = setting.toStdString();
  s->id = static_cast<int64_t>(o.value(QStringLiteral("id")).toDouble());
  const QJsonObject e = o.value(QStringLiteral("end_to_end")).toObject();
  s->kl_mean = e.value(QStringLiteral("kl_mean")).toDouble();
  s->kl_p90 = e.value(QStringLiteral("kl_p90")).toDouble();
  s->kl_max = e.value(QStringLiteral("kl_max")).toDouble();
  s->top1 = e.value(QStringLiteral("top1_agreement")).toDouble();
  s->ppl_float = e.value(QStringLiteral("perplexity_float")).toDouble();
  s->ppl_quant = e.value(QStringLiteral("perplexity_quant")).toDouble();
  const QLocale english(QLocale::English);
  QString status = QStringLiteral("%1 × %2 tokens on %3").arg(b.windows).arg(b.windowLength).arg(b.device);
  if (roundTripMs >= 0) status += QStringLiteral("  ·  refreshed in %1 ms").arg(english.toString(roundTripMs, 'f', 0));
  status += QStringLiteral(" (model %1 ms)").arg(english.toString(o.value(QStringLiteral("ms")).toDouble(), 'f', 0));
  s->status = status.toStdString();

  for (const QJsonValue& v : o.value(QStringLiteral("points")).toArray()) s->points.push_back(pointRow(v.toObject()));
  for (const QJsonValue& v : o.value(QStringLiteral("weights")).toArray()) s->weights.push_back(pointRow(v.toObject()));
  // Per layer: the worst point and the worst weight (the bars' per-layer mode).
  s->layers.resize(static_cast<size_t>(std::max(0, b.layers)));
  for (auto& l : s->layers) l.worst_point_db = l.worst_weight_db = std::numeric_limits<double>::infinity();
  for (const auto* rows : {&s->points, &s->weights})
    for (const views::error::PointRow& r : *rows) {
      if (r.layer < 0 || r.layer >= static_cast<int>(s->layers.size())) continue;
      views::error::LayerRow& l = s->layers[static_cast<size_t>(r.layer)];
      double& worst = rows == &s->points ? l.worst_point_db : l.worst_weight_db;
      std::string& name = rows == &s->points ? l.worst_point : l.worst_weight;
      if (name.empty() || r.sqnr_db < worst) {
        worst = r.sqnr_db;
        name = r.name;
      }
    }

  s->windows = b.windows;
  s->window_length = b.windowLength;
  for (const QString& p : b.pieces) s->pieces.push_back(p.toStdString());
  // kl holds T-1 values per window, for predicting tokens 1..T-1; token 0 of a window has none.
  const QJsonArray kl = o.value(QStringLiteral("kl")).toArray();
  s->token_kl.assign(s->pieces.size(), std::numeric_limits<float>::quiet_NaN());
  std::vector<float> finite;
  for (int w = 0; w < b.windows; ++w)
    for (int t = 1; t < b.windowLength; ++t) {
      const int src = w * (b.windowLength - 1) + (t - 1), dst = w * b.windowLength + t;
      if (src >= kl.size() || dst >= static_cast<int>(s->token_kl.size())) continue;
      s->token_kl[static_cast<size_t>(dst)] = static_cast<float>(kl[src].toDouble());
      finite.push_back(s->token_kl[static_cast<size_t>(dst)]);
    }
  if (!finite.empty()) {
    const size_t k = std::min(finite.size() - 1, static_cast<size_t>(0.99 * static_cast<double>(finite.size() - 1) + 0.5));
    std::nth_element(finite.begin(), finite.begin() + static_cast<std::ptrdiff_t>(k), finite.end());
    s->kl_scale_max = std::max(finite[k], 1e-6f);
  }
  for (const QJsonValue& v : o.value(QStringLiteral("token_sqnr")).toArray())
    s->token_sqnr.push_back(v.isNull() ? std::numeric_limits<float>::infinity() : static_cast<float>(v.toDouble()));
  return s;
}

}  // namespace ms::app
