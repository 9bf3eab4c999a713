// StatusMonitor: the right side of the main window's status bar: the device the app's
// mambascope-cli jobs run on, and memory (the app's own resident set and, while jobs run, each
// mambascope-cli process's).
//
// The app is torch-free, so it cannot ask LibTorch which device `--device auto` picks; the CLI
// can. probeDevice() runs one tiny forward (`bench forward --preset tiny-mamba`, random weights,
// one token; about 0.3 s on the CPU) in the background once and shows the "device" it reports.
// Memory is VmRSS from /proc/PID/status, read on a one-second timer (a few hundred bytes per
// process); the jobs are the running QProcess children of the watched object (the window: its
// calibration, preview, error-preview worker and export dialogs all parent their processes there).
// Progress stays where each job already shows it (the Calibration dock, the export dialog).
#pragma once

#include <memory>

#include <QList>
#include <QObject>
#include <QPointer>
#include <QString>
#include <QTimer>

class QLabel;
class QProcess;
class QTemporaryDir;
class QWidget;

namespace ms::app {

// VmRSS of a /proc/PID/status text, in bytes; -1 when the line is missing.
qint64 parseVmRss(const QByteArray& procStatus);
// Resident bytes of process `pid` (0: this process); -1 when it cannot be read.
qint64 residentBytes(qint64 pid);
// The CLI's device description as the status bar shows it: "cpu (2 threads)" -> "CPU (2 threads)",
// "cuda:0" -> "CUDA cuda:0", "cuda:0 (NVIDIA H100 …)" -> "CUDA cuda:0 (NVIDIA H100 …)".
QString deviceLabel(const QString& cliDevice);
// 1024-based, three significant figures: "812 KiB", "182 MiB", "1.21 GiB".
QString bytesText(qint64 bytes);

struct JobMemory {
  QString command;  // the mambascope-cli command: "calibrate", "requant-serve", ...
  qint64 pid = 0;
  qint64 bytes = -1;  // -1: not readable (the process just ended)
};
// "app 182 MiB · calibrate 1.21 GiB · requant-serve 640 MiB"
QString memoryText(qint64 appBytes, const QList<JobMemory>& jobs);

class StatusMonitor : public QObject {
  Q_OBJECT

 public:
  // `watched`: whose QProcess children count as jobs. The labels are parented to `parent`'s
  // widget when it is one (the window adds them to its status bar).
  StatusMonitor(QObject* watched, QWidget* parent);
  ~StatusMonitor() override;

  // Asks the CLI once which device `--device auto` picks (non-blocking; deviceKnown() follows).
  void probeDevice();
  QString deviceText() const { return m_device; }  // empty until the probe answered
  bool probeRunning() const { return m_probe != nullptr; }
  // Running mambascope-cli processes under the watched object, with their resident memory.
  QList<JobMemory> jobs() const;
  // Rereads memory now (the timer calls it every second).
  void refresh();

  QLabel* deviceWidget() const { return m_deviceLabel; }
  QLabel* memoryWidget() const { return m_memoryLabel; }

 Q_SIGNALS:
  void deviceKnown(const QString& device);  // deviceText(), or a one-line reason it is unknown

 private:
  void onProbeFinished();

  QPointer<QObject> m_watched;
  QLabel* m_deviceLabel = nullptr;
  QLabel* m_memoryLabel = nullptr;
  QTimer m_timer;
  QPointer<QProcess> m_probe;
  std::unique_ptr<QTemporaryDir> m_probeDir;  // bench's --out report, gone with the monitor
  QString m_device;
};

}  // namespace ms::app
