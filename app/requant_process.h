// RequantProcess: the live error preview's worker, `mambascope-cli requant-serve MODEL`, kept
// running in a QProcess while a model is open (the app stays torch-free, as CalibrationProcess
// does for calibration). The server loads the model and runs the float batch once, then answers
// one JSON setting per line (core/quant/requant_setting.h) with one JSON result line.
//
// Latest wins at both ends: request() gives each setting a new id and writes it at once; the
// server skips requests that a newer one has already overtaken, and here any reply whose id is
// older than the newest reply delivered (or than a newer request, for errors) is dropped, so a
// slow answer never overwrites a newer one. Each delivered result becomes an immutable
// views::error::Snapshot (snapshotFrom), with the round trip measured from request() to the reply.
//
// What it does not do: choose the setting (QuantPanel), draw (views/error_view.h).
#pragma once

#include <memory>
#include <optional>

#include <QElapsedTimer>
#include <QHash>
#include <QJsonObject>
#include <QObject>
#include <QString>
#include <QStringList>

#include "app/cli_process.h"
#include "views/error_view.h"

namespace ms::app {

// What the server said about its cached batch when it became ready.
struct RequantBatch {
  int windows = 0, windowLength = 0, layers = 0;
  QStringList pieces;   // one per token
  QStringList points;   // the result's point order
  QString device;
  double setupMs = 0;
};

class RequantProcess : public QObject {
  Q_OBJECT

 public:
  explicit RequantProcess(QObject* parent = nullptr);
  ~RequantProcess() override;

  struct Options {
    QString model;
    QString tokenizer;    // --tokenizer for layouts that ship none
    QString text;         // the calibration text; empty: the CLI's shipped default
    int windows = 2;      // the cached batch: windows × seqLen tokens
    int seqLen = 128;
    QString device;       // empty: the CLI's default
    // One compute thread: the UI keeps a core, and LibTorch's OpenMP threads spinning against a
    // busy second core made a setting take seconds instead of a few hundred ms (bench requant on
    // the demo model, loaded 2-core machine: 2 threads median 3.5 s, 1 thread 0.35 s).
    int threads = 1;
  };
  static QStringList arguments(const Options& options);

  // Starts the server for a model (stopping any other). Requests made before it is ready wait.
  void start(const Options& options);
  void stop();
  bool isRunning() const { return m_cli.isRunning(); }
  bool isReady() const { return m_batch.has_value(); }
  const std::optional<RequantBatch>& batch() const { return m_batch; }

  // Sends a setting (without "id": one is assigned). Returns the id.
  qint64 request(QJsonObject setting);
  qint64 latestRequest() const { return m_lastId; }

  // The snapshot of one result line (a parsed "result" object) for a batch; `setting` describes
  // the setting for the header, `roundTripMs` the time from request to reply (< 0: unknown).
  static std::shared_ptr<const views::error::Snapshot> snapshotFrom(const RequantBatch& batch, const QJsonObject& result,
                                                                    const QString& setting, double roundTripMs);
  // "W4 channel sym · A8 dynamic token · H8 dsq" (+ "· 2 layer overrides").
  static QString describe(const QJsonObject& setting);

 Q_SIGNALS:
  void ready(const ms::app::RequantBatch& batch);
  void snapshotReady(std::shared_ptr<const ms::views::error::Snapshot> snapshot);
  // One line: a refused request (the server keeps running) or a failed server.
  void failed(const QString& message);
  void runningChanged(bool running);

 private:
  void onLine(const QByteArray& line);
  void onGone(const QString& message);
  void forgetServer();
  void send(const QJsonObject& setting);

  CliProcess m_cli{this};  // a child, so its QProcess is in the window's tree (StatusMonitor lists it)
  Options m_options;
  std::optional<RequantBatch> m_batch;
  qint64 m_lastId = 0;
  qint64 m_delivered = 0;                 // newest id delivered
  std::optional<QJsonObject> m_pending;   // the newest request made before the server was ready
  QHash<qint64, QJsonObject> m_inFlight;  // id -> setting, until answered
  QHash<qint64, qint64> m_sentAt;         // id -> m_clock ms
  QElapsedTimer m_clock;
};

}  // namespace ms::app
