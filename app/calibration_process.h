// CalibrationProcess: calibration from the app, run as the sibling `mambascope-cli calibrate` in a
// QProcess. The app stays torch-free (its cold start and its link stay small); the CLI already
// calibrates, reports progress on stderr and saves partial statistics on SIGINT.
//
// Each start() gets a job id and supersedes the previous run (that process is killed and whatever
// it still reports is dropped), as JobTracker does for threaded jobs. Progress lines of the CLI
// ("calibrate: 45% (1234/5000 tokens, 300 tok/s)") become progressChanged with rate and ETA.
// cancel() sends SIGINT first, so the CLI writes what it collected (marked cancelled) after its
// current batch; a second cancel() (or a long wait) kills the process. The statistics file is not read here:
// finished() hands its path to the window, which loads it through the normal stats job.
//
// What it does not do: choose the text (CalibrationRequest says which file), or clean up the
// statistics file (it lives in the caller's directory).
#pragma once

#include <optional>

#include <QObject>
#include <QString>
#include <QStringList>

#include "app/cli_process.h"

namespace ms::app {

struct CalibrationRequest {
  QString model;        // a model path as open_checkpoint takes it
  QString text;         // a UTF-8 text file (the shipped default, one the user chose, or typed text saved)
  QString out;          // the statistics file to write (.safetensors)
  qint64 maxTokens = 0; // 0: the whole text
  QString device;       // cpu, cuda or auto; empty: the CLI's default
  QString tokenizer;    // --tokenizer FILE for layouts that ship none; empty: the model's own
  int seqLen = 512;     // short sequences batch well on the CPU and still reach the state's steady range
  int batch = 4;
};

struct CalibrationProgress {
  double fraction = 0.0;  // [0, 1]
  qint64 done = 0, total = 0;  // tokens
  double rate = 0.0;      // tokens per second, as the CLI measured it
  double etaSeconds = -1.0;  // -1: not known yet
};

class CalibrationProcess : public QObject {
  Q_OBJECT

 public:
  using JobId = quint64;

  explicit CalibrationProcess(QObject* parent = nullptr);
  ~CalibrationProcess() override;

  // $MAMBASCOPE_CLI when set, else mambascope-cli beside the running executable.
  static QString cliPath();
  // The arguments given to the CLI for a request (exposed for tests).
  static QStringList arguments(const CalibrationRequest& request);
  // One stderr line of `mambascope-cli calibrate` as progress, or nullopt for any other line.
  static std::optional<CalibrationProgress> parseProgressLine(const QString& line);

  // Starts a run, superseding any running one. Failures to start arrive as failed() later.
  JobId start(const CalibrationRequest& request);
  // SIGINT to the current run: the CLI stops after its current batch and saves what it has (a
  // batch can take tens of seconds on a loaded CPU). A second cancel(), or killAfterMs without an
  // exit, kills it instead (nothing is saved).
  void cancel(int killAfterMs = 120000);
  bool isCancelling() const { return m_cli.isInterrupting(); }
  // Kills the current run and drops whatever it would still report (a new model, a closed window).
  void stop();
  bool isRunning() const { return m_cli.isRunning(); }
  JobId currentJob() const { return m_current; }

 Q_SIGNALS:
  void progressChanged(quint64 job, const ms::app::CalibrationProgress& progress);
  // The statistics file is written; `cancelled`: it holds only the tokens seen before cancel().
  // A run cancelled before its first batch saved nothing: statsPath is empty, cancelled true.
  void finished(quint64 job, const QString& statsPath, bool cancelled);
  // One line: what went wrong (the CLI's own error line when it gave one).
  void failed(quint64 job, const QString& message);
  void runningChanged(bool running);

 private:
  void onExited(const CliProcess::Exit& exit);
  void stopProcess();

  CliProcess m_cli{this};  // a child, so its QProcess is in the window's tree (StatusMonitor lists it)
  CalibrationRequest m_request;
  JobId m_current = 0;
  JobId m_lastId = 0;
  QString m_lastError;    // the last stderr line that was not progress
};

}  // namespace ms::app
