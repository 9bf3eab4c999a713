// PreviewProcess: the distributions view's "after" side, computed by mambascope-cli (the app stays
// torch-free, as CalibrationProcess does for calibration). A finished request's JSON becomes an
// immutable PreviewSnapshot (core/model/preview_snapshot.h) that the view draws.
//
// It keeps one `mambascope-cli preview --serve` per (model, tokenizer, text, tokens, threads) and
// sends each request to it as a JSON line, so a method choice pays for the preview alone, not for
// starting the CLI, loading torch, the model and the text (issue 6). A server that cannot start
// or dies is not tried again for those options: every request then runs as its own one-shot
// `mambascope-cli preview ... --json`, as before the server existed (and with setServerEnabled(false)).
//
// Latest wins: a request equal to the newest does nothing; a different one makes whatever is in
// flight stale (a one-shot run is killed; the server drops queued requests itself, and an answer
// to an older id is ignored).
//
// What it does not do: choose the request (views::distributions::preview_request), draw.
#pragma once

#include <memory>

#include <QJsonObject>
#include <QObject>
#include <QString>
#include <QStringList>

#include "app/cli_process.h"
#include "core/model/preview_snapshot.h"
#include "views/distributions_view.h"

namespace ms::app {

class PreviewProcess : public QObject {
  Q_OBJECT

 public:
  struct Options {
    QString model;
    QString tokenizer;    // --tokenizer for layouts that ship none
    QString text;         // empty: the CLI's shipped default text
    int maxTokens = 2048; // the calibration slice: the first tokens of the text
    int threads = 1;      // one: the UI keeps a core (see RequantProcess)
    bool sameServer(const Options& o) const {
      return model == o.model && tokenizer == o.tokenizer && text == o.text && maxTokens == o.maxTokens &&
             threads == o.threads;
    }
  };

  explicit PreviewProcess(QObject* parent = nullptr);
  ~PreviewProcess() override;

  // The one-shot run's arguments, and the server's and its request line for the same preview.
  static QStringList arguments(const Options& options, const views::distributions::PreviewRequest& request);
  static QStringList serverArguments(const Options& options);
  static QJsonObject serverRequest(qint64 id, const views::distributions::PreviewRequest& request);

  // Asks for the request unless it is the newest already asked for (an empty request stops any run).
  void request(const Options& options, const views::distributions::PreviewRequest& request);
  // Drops the request in flight and ends the server.
  void stop();
  // false: every request from now on runs as its own process (how it was before the server; kept
  // for comparisons and as a way around a misbehaving server).
  void setServerEnabled(bool enabled) { m_serverEnabled = enabled; }
  // Whether the newest request is still being computed.
  bool isRunning() const { return m_waiting; }
  // Whether the newest snapshot came from the server rather than a one-shot run.
  bool snapshotWasServed() const { return m_snapshotServed; }
  // What the view draws: the newest snapshot and "computing…" or the last error.
  views::distributions::Preview preview() const { return {m_snapshot, m_status.toStdString()}; }
  const std::shared_ptr<const PreviewSnapshot>& snapshot() const { return m_snapshot; }

 Q_SIGNALS:
  void snapshotReady(std::shared_ptr<const ms::PreviewSnapshot> snapshot);
  void failed(const QString& message);

 private:
  void startServer();
  void sendToServer();
  void runOneShot();
  void onServerLine(const QByteArray& line);
  void onServerGone(const QString& why);
  void deliver(const QByteArray& json, bool served);
  void fail(const QString& message);

  CliProcess m_server{this};   // `preview --serve` for m_serverOptions (children: StatusMonitor lists them)
  CliProcess m_oneShot{this};  // the fallback: one `preview --json` run
  Options m_options;
  Options m_serverOptions;
  bool m_serverEnabled = true;
  bool m_serverReady = false;
  bool m_serverBroken = false;  // it failed for m_serverOptions: one-shot runs from now on
  views::distributions::PreviewRequest m_request;
  qint64 m_requestId = 0;  // the newest request's id on the server
  bool m_waiting = false;  // the newest request has no answer yet
  std::shared_ptr<const PreviewSnapshot> m_snapshot;
  bool m_snapshotServed = false;
  QString m_status;
};

}  // namespace ms::app
