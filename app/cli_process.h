// CliProcess: one run of `mambascope-cli` at a time, the part every driver of the CLI shared
// (CalibrationProcess, ExportProcess, PreviewProcess, RequantProcess, StateSequenceProcess): starting
// the process, cutting stderr into lines, reading stdout whole or line by line, writing requests to
// stdin, SIGINT then kill for a cancel, and an exit report with the CLI's last stderr line.
//
// start() drops the run in flight: it is killed and nothing it still prints, nor its exit, reaches
// anyone, so a driver never needs to tell a stale signal from a current one. Signals are emitted
// after this object's own state is settled, so a handler may start the next run at once.
//
// What it does not do: build arguments, parse progress or results (each driver knows its command),
// or choose messages (the drivers keep their own wording).
#pragma once

#include <QByteArray>
#include <QMetaType>
#include <QObject>
#include <QPointer>
#include <QProcess>
#include <QString>
#include <QStringList>
#include <QTimer>

namespace ms::app {

class CliProcess : public QObject {
  Q_OBJECT

 public:
  enum class Output {
    Discard,  // stdout goes to the null device (the CLI writes its result to a file)
    Collect,  // stdout is kept whole and handed over with the exit (a --json result)
    Lines,    // every stdout line is an outputLine() as it arrives (a JSON-lines server)
  };

  struct Exit {
    int code = 0;
    bool crashed = false;      // killed by a signal (a kill() included) or crashed
    bool interrupted = false;  // interrupt() was called for this run
    QString lastErrorLine;     // the last non-empty stderr line, trimmed; empty when none
    QByteArray output;         // stdout, with Output::Collect
    bool ok() const { return !crashed && code == 0; }
  };

  explicit CliProcess(QObject* parent = nullptr);
  // Kills a run still in flight and waits for it (up to 3 s): no CLI outlives its driver.
  ~CliProcess() override;

  // $MAMBASCOPE_CLI when set, else mambascope-cli beside the running executable.
  static QString path();

  // Starts `mambascope-cli arguments...`, dropping any run in flight. A failure to start arrives as
  // failedToStart(), possibly before start() returns.
  void start(const QStringList& arguments, Output output);
  // Writes to the run's stdin (nothing when none runs).
  void write(const QByteArray& bytes);
  // SIGINT (the CLI stops at its next check and saves or cleans up); a second call, or no exit
  // within killAfterMs, kills it.
  void interrupt(int killAfterMs);
  // Drops the run in flight: killed, never reported. waitMs > 0 waits that long for it to end
  // (for a driver that cleans up after it), otherwise it is deleted once it has ended.
  void discard(int waitMs = 0);

  bool isRunning() const { return m_process != nullptr; }
  bool isInterrupting() const { return m_process && m_interrupted; }
  // The process id of the current or last run once it started; 0 before.
  qint64 processId() const { return m_pid; }

 Q_SIGNALS:
  void errorLine(const QString& line);  // each stderr line, trimmed, non-empty (\r ends one too)
  void outputLine(const QByteArray& line);  // Output::Lines: each stdout line, without its newline
  void exited(const ms::app::CliProcess::Exit& exit);
  void failedToStart();

 private:
  void readError();
  void readOutput();
  void onFinished(int exitCode, QProcess::ExitStatus status);
  void release(int waitMs);

  QPointer<QProcess> m_process;
  Output m_output = Output::Discard;
  bool m_interrupted = false;
  qint64 m_pid = 0;
  QString m_partialError;
  QByteArray m_partialOutput;
  QByteArray m_collected;
  QString m_lastErrorLine;
  QTimer m_killTimer;
};

}  // namespace ms::app

Q_DECLARE_METATYPE(ms::app::CliProcess::Exit)
