// ExportProcess: a quantized export from the app, run as `mambascope-cli quantize` in a QProcess
// (the app stays torch-free; GUI and CLI share one exporter). Modelled on CalibrationProcess: each
// start() gets a job id and supersedes the previous run; the CLI's progress lines on stderr
// ("quantize: 45% (10/24 tokens, 3 tok/s)", "statistics: ...", "eval: ...", one label per phase)
// become progressChanged; its summary (--json on stdout) and report.json become finished().
//
// Cancel: SIGINT first, on which the CLI stops between tensors or batches, removes its temporary
// directory and exits 1 ("cancelled"); the export's directory never appears (core/io/atomic_dir.h).
// A second cancel(), or no exit within killAfterMs, kills the process; then this class removes the
// CLI's temporary sibling itself (`.<name>.tmp-<pid>` beside the target), so no cancel leaves debris.
//
// Not here: choosing the scheme (ExportDialog), opening the report.
#pragma once

#include <optional>

#include <QMetaType>
#include <QObject>
#include <QString>
#include <QStringList>

#include "app/cli_process.h"

namespace ms::app {

struct ExportRequest {
  QString model;                         // a model path as open_checkpoint takes it
  QString out;                           // the directory to create (must not exist)
  QString format = QStringLiteral("hf"); // hf, packed, gguf
  QString ggufType;                      // f16, q8_0, q4_0 (gguf needs one; empty otherwise)
  QString methods = QStringLiteral("rtn");  // --method list, e.g. "hadamard,rtn"
  int wbits = 8;
  QString granularity = QStringLiteral("channel");  // tensor, channel, group:G
  bool symmetric = true;
  bool evaluate = true;                  // false: --no-eval (no end-to-end metrics in the report)
  QString tokenizer;                     // --tokenizer FILE; empty: the model's own
};

struct ExportProgress {
  QString phase;          // the CLI's label: transform, calibrate, gptq, quantize, statistics, eval
  double fraction = 0.0;  // of this phase, [0, 1]
  qint64 done = 0, total = 0;
};

class ExportProcess : public QObject {
  Q_OBJECT

 public:
  using JobId = quint64;

  explicit ExportProcess(QObject* parent = nullptr);
  ~ExportProcess() override;

  // The `quantize` arguments for a request (exposed for tests).
  static QStringList arguments(const ExportRequest& request);
  // One stderr line of the CLI as progress, or nullopt for any other line.
  static std::optional<ExportProgress> parseProgressLine(const QString& line);
  // Where the CLI writes before the rename (`.<name>.tmp-<pid>` beside `out`).
  static QString temporaryDirectory(const QString& out, qint64 pid);

  JobId start(const ExportRequest& request);
  // SIGINT; a second cancel() or killAfterMs without an exit kills (and cleans up).
  void cancel(int killAfterMs = 60000);
  void stop();  // kills the run and drops whatever it would still report (cleans up)
  bool isRunning() const { return m_cli.isRunning(); }
  bool isCancelling() const { return m_cli.isInterrupting(); }
  JobId currentJob() const { return m_current; }

 Q_SIGNALS:
  void progressChanged(quint64 job, const ms::app::ExportProgress& progress);
  // `out` holds the export; `summary`: the CLI's JSON summary; `report`: report.json's text.
  void finished(quint64 job, const QString& out, const QByteArray& summary, const QByteArray& report);
  void cancelled(quint64 job);
  void failed(quint64 job, const QString& message);
  void runningChanged(bool running);

 private:
  void onExited(const CliProcess::Exit& exit);
  void stopProcess();
  void removeTemporaryDirectory();

  CliProcess m_cli{this};  // a child, so its QProcess is in the window's tree (StatusMonitor lists it)
  ExportRequest m_request;
  JobId m_current = 0;
  JobId m_lastId = 0;
  QString m_lastError;  // the last stderr line that was not progress
};

}  // namespace ms::app

Q_DECLARE_METATYPE(ms::app::ExportProgress)
