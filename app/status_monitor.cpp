// StatusMonitor (see status_monitor.h).
#include "app/status_monitor.h"

#include <cmath>

#include <QFile>
#include <QFileInfo>
#include <QJsonDocument>
#include <QJsonObject>
#include <QLabel>
#include <QProcess>
#include <QTemporaryDir>
#include <QWidget>

#include "app/calibration_process.h"
#include "app/cli_process_util.h"

namespace ms::app {

qint64 parseVmRss(const QByteArray& procStatus) {
  // "VmRSS:\t  186244 kB" (the kernel always writes kB, meaning KiB).
  for (const QByteArray& line : procStatus.split('\n')) {
    if (!line.startsWith("VmRSS:")) continue;
    const QList<QByteArray> parts = line.mid(6).simplified().split(' ');
    bool ok = false;
    const qint64 kib = parts.value(0).toLongLong(&ok);
    return ok ? kib * 1024 : -1;
  }
  return -1;
}

qint64 residentBytes(qint64 pid) {
  QFile file(pid > 0 ? QStringLiteral("/proc/%1/status").arg(pid) : QStringLiteral("/proc/self/status"));
  if (!file.open(QIODevice::ReadOnly)) return -1;
  return parseVmRss(file.readAll());  // a /proc file reports size 0: read until EOF
}

QString deviceLabel(const QString& cliDevice) {
  if (cliDevice.startsWith(QLatin1String("cpu"))) return QStringLiteral("CPU") + cliDevice.mid(3);
  if (cliDevice.startsWith(QLatin1String("cuda"))) {
    // The CLI names the card after the index: "cuda:0 (NVIDIA H100 80GB HBM3)".
    const qsizetype open = cliDevice.indexOf(QLatin1String(" ("));
    if (open > 0 && cliDevice.endsWith(QLatin1Char(')')))
      return cliDevice.mid(open + 2, cliDevice.size() - open - 3) + QStringLiteral(" (") + cliDevice.left(open) +
             QLatin1Char(')');
    return QStringLiteral("CUDA ") + cliDevice;
  }
  return cliDevice;
}

QString bytesText(qint64 bytes) {
  if (bytes < 0) return QStringLiteral("?");
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double v = static_cast<double>(bytes);
  int u = 0;
  while (v >= 1000.0 && u < 4) {  // 1000, not 1024: "1010 KiB" would read as four figures
    v /= 1024.0;
    ++u;
  }
  const int decimals = u == 0 || v >= 100.0 ? 0 : v >= 10.0 ? 1 : 2;
  return QStringLiteral("%1 %2").arg(v, 0, 'f', decimals).arg(QLatin1String(units[u]));
}

QString memoryText(qint64 appBytes, const QList<JobMemory>& jobs) {
  QString text = QStringLiteral("app %1").arg(bytesText(appBytes));
  for (const JobMemory& job : jobs) text += QStringLiteral(" · %1 %2").arg(job.command, bytesText(job.bytes));
  return text;
}

StatusMonitor::StatusMonitor(QObject* watched, QWidget* parent) : QObject(parent), m_watched(watched) {
  m_deviceLabel = new QLabel(parent);
  m_deviceLabel->setObjectName(QStringLiteral("deviceStatus"));
  m_deviceLabel->setToolTip(tr("Where mambascope-cli runs the app's jobs by default (--device auto), as the CLI "
                               "reports it. The Calibration dock can pick another device."));
  m_deviceLabel->setText(tr("Device: …"));
  m_memoryLabel = new QLabel(parent);
  m_memoryLabel->setObjectName(QStringLiteral("memoryStatus"));
  for (QLabel* label : {m_deviceLabel, m_memoryLabel}) label->setContentsMargins(8, 0, 8, 0);
  m_memoryLabel->setToolTip(tr("Resident memory (VmRSS) of the app and of each mambascope-cli job it runs, "
                               "refreshed every second"));
  m_timer.setInterval(1000);
  connect(&m_timer, &QTimer::timeout, this, &StatusMonitor::refresh);
  m_timer.start();
  refresh();
}

StatusMonitor::~StatusMonitor() { discardProcess(m_probe, this); }

void StatusMonitor::probeDevice() {
  if (m_probe) return;
  m_probeDir = std::make_unique<QTemporaryDir>();
  auto* process = new QProcess(this);
  m_probe = process;
  process->setProcessChannelMode(QProcess::SeparateChannels);
  connect(process, &QProcess::finished, this, &StatusMonitor::onProbeFinished);
  connect(process, &QProcess::errorOccurred, this, [this](QProcess::ProcessError error) {
    if (error == QProcess::FailedToStart) onProbeFinished();
  });
  m_deviceLabel->setText(tr("Device: asking mambascope-cli…"));
  process->start(CalibrationProcess::cliPath(),
                 {QStringLiteral("bench"), QStringLiteral("forward"), QStringLiteral("--preset"), QStringLiteral("tiny-mamba"),
                  QStringLiteral("--batch"), QStringLiteral("1"), QStringLiteral("--seq-len"), QStringLiteral("1"),
                  QStringLiteral("--iters"), QStringLiteral("1"), QStringLiteral("--json"), QStringLiteral("--out"),
                  m_probeDir->filePath(QStringLiteral("device.json"))});
}

void StatusMonitor::onProbeFinished() {
  QProcess* process = m_probe;
  if (!process) return;
  m_probe = nullptr;
  const QJsonObject report = QJsonDocument::fromJson(process->readAllStandardOutput()).object();
  const QString device = report.value(QStringLiteral("device")).toString();
  if (!device.isEmpty()) {
    m_device = deviceLabel(device);
    m_deviceLabel->setText(tr("Device: %1").arg(m_device));
    Q_EMIT deviceKnown(m_device);
  } else {
    const QString why = process->error() == QProcess::FailedToStart
                            ? tr("%1 not found").arg(CalibrationProcess::cliPath())
                            : QString::fromUtf8(process->readAllStandardError()).trimmed().section(QLatin1Char('\n'), -1);
    m_deviceLabel->setText(tr("Device: unknown"));
    m_deviceLabel->setToolTip(why);
    Q_EMIT deviceKnown(why);
  }
  discardProcess(process, this);
  m_probeDir.reset();
}

QList<JobMemory> StatusMonitor::jobs() const {
  QList<JobMemory> list;
  if (!m_watched) return list;
  for (QProcess* process : m_watched->findChildren<QProcess*>()) {
    if (process == m_probe || process->state() != QProcess::Running) continue;
    const qint64 pid = process->processId();
    list.append({process->arguments().value(0, QFileInfo(process->program()).fileName()), pid, residentBytes(pid)});
  }
  return list;
}

void StatusMonitor::refresh() { m_memoryLabel->setText(tr("Memory: %1").arg(memoryText(residentBytes(0), jobs()))); }

}  // namespace ms::app
