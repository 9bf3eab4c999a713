// StateSequenceProcess: the state heatmap's sequence mode, `mambascope-cli states` run in a
// QProcess (the app stays torch-free, as PreviewProcess does for the distributions view). The CLI
// writes one layer's state token by token (float and quantized, with the quantizer's scales) to a
// file in a temporary folder this object owns; the finished file becomes an immutable
// StateSequenceSnapshot (core/model/state_sequence_file.h) that the view draws. Latest wins: a
// request equal to the newest does nothing, a different one kills the run in flight (cancel).
#pragma once

#include <memory>

#include <QObject>
#include <QString>
#include <QStringList>
#include <QTemporaryDir>

#include "app/cli_process.h"
#include "core/model/state_sequence_file.h"
#include "views/state_heatmap_view.h"

namespace ms::app {

class StateSequenceProcess : public QObject {
  Q_OBJECT

 public:
  struct Request {
    QString model;
    QString tokenizer;     // --tokenizer for layouts that ship none
    QString text;          // empty: the CLI's shipped calibration text
    int layer = 0;
    int maxTokens = 64;    // the first tokens of the text
    int hbits = 4;
    QString method = QStringLiteral("dsq");             // --state-method: dsq, tensor, channel, state
    QString dsqVariant = QStringLiteral("abs.mean.sqrt");  // --dsq-variant, with dsq only
    int threads = 1;       // one: the UI keeps a core
    bool operator==(const Request&) const = default;
  };

  explicit StateSequenceProcess(QObject* parent = nullptr);
  ~StateSequenceProcess() override;

  static QStringList arguments(const Request& request, const QString& out);

  // Runs the request unless it is the newest already asked for; an empty model stops any run.
  void request(const Request& request);
  void stop();  // cancels the run in flight (the newest request is forgotten)
  bool isRunning() const { return m_cli.isRunning(); }
  // What the view draws: the newest snapshot and "computing…" or the last error.
  views::state_heatmap::Sequence sequence() const { return {m_snapshot, m_status.toStdString(), isRunning()}; }
  const std::shared_ptr<const StateSequenceSnapshot>& snapshot() const { return m_snapshot; }
  QString outputPath() const { return m_out; }  // the newest finished file

 Q_SIGNALS:
  void snapshotReady(std::shared_ptr<const ms::StateSequenceSnapshot> snapshot);
  void failed(const QString& message);

 private:
  void onExited(const CliProcess::Exit& exit);

  CliProcess m_cli{this};  // a child, so its QProcess is in the window's tree (StatusMonitor lists it)
  QString m_runOut;  // where the run in flight writes
  QTemporaryDir m_dir;
  int m_runs = 0;
  Request m_request;
  bool m_haveRequest = false;
  QString m_out;
  std::shared_ptr<const StateSequenceSnapshot> m_snapshot;
  QString m_status;
};

}  // namespace ms::app
