// PreviewProcess: the distributions view's "after" side, `mambascope-cli preview ... --json` run in
// a QProcess (the app stays torch-free, as CalibrationProcess does for calibration). One run per
// request; latest wins: a request equal to the newest one does nothing, a different one kills the
// run in flight, whose output is then never read. A finished run's JSON becomes an immutable
// PreviewSnapshot (core/model/preview_snapshot.h) that the view draws.
//
// What it does not do: choose the request (views::distributions::preview_request), draw.
#pragma once

#include <memory>

#include <QObject>
#include <QPointer>
#include <QProcess>
#include <QString>
#include <QStringList>

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
  };

  explicit PreviewProcess(QObject* parent = nullptr);
  ~PreviewProcess() override;

  static QStringList arguments(const Options& options, const views::distributions::PreviewRequest& request);

  // Runs the request unless it is the newest already asked for (an empty request stops any run).
  void request(const Options& options, const views::distributions::PreviewRequest& request);
  void stop();
  bool isRunning() const { return m_process != nullptr; }
  // What the view draws: the newest snapshot and "computing…" or the last error.
  views::distributions::Preview preview() const { return {m_snapshot, m_status.toStdString()}; }
  const std::shared_ptr<const PreviewSnapshot>& snapshot() const { return m_snapshot; }

 Q_SIGNALS:
  void snapshotReady(std::shared_ptr<const ms::PreviewSnapshot> snapshot);
  void failed(const QString& message);

 private:
  void onFinished(QProcess* process, int exitCode, QProcess::ExitStatus status);

  QPointer<QProcess> m_process;
  Options m_options;
  views::distributions::PreviewRequest m_request;
  std::shared_ptr<const PreviewSnapshot> m_snapshot;
  QString m_status;
};

}  // namespace ms::app
