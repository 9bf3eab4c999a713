// FrameStats (see frame_stats.h).
#include "app/frame_stats.h"

#include <chrono>
#include <ctime>

#include <unistd.h>

#include <QCoreApplication>
#include <QFile>
#include <QGuiApplication>
#include <QJsonArray>
#include <QJsonDocument>
#include <QSaveFile>
#include <QTimer>

namespace ms::app {
namespace {

qint64 g_mainSteadyNs = 0;
qint64 g_mainBootNs = 0;

qint64 clockNs(clockid_t clock) {
  timespec t{};
  clock_gettime(clock, &t);
  return static_cast<qint64>(t.tv_sec) * 1000000000 + t.tv_nsec;
}

qint64 steadyNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

// Field 22 of /proc/self/stat: the process's start in clock ticks since boot (-1 if unreadable).
// The command name (field 2) may hold spaces and parentheses, so count from its closing ')'.
qint64 processStartTicks() {
  QFile file(QStringLiteral("/proc/self/stat"));
  if (!file.open(QIODevice::ReadOnly)) return -1;
  const QByteArray stat = file.readAll();
  const int close = stat.lastIndexOf(')');
  if (close < 0) return -1;
  const QList<QByteArray> fields = stat.mid(close + 2).split(' ');  // fields[0] is field 3
  if (fields.size() < 20) return -1;
  bool ok = false;
  const qint64 ticks = fields[19].toLongLong(&ok);
  return ok ? ticks : -1;
}

double round3(double v) { return static_cast<double>(qRound64(v * 1000.0)) / 1000.0; }

}  // namespace

void FrameStats::markMainEntered() {
  g_mainSteadyNs = steadyNs();
  g_mainBootNs = clockNs(CLOCK_BOOTTIME);
}

double FrameStats::sinceMainMs() { return static_cast<double>(steadyNs() - g_mainSteadyNs) * 1e-6; }

FrameStats::FrameStats(QString output, QObject* parent) : QObject(parent), m_output(std::move(output)) {}

FrameStats::~FrameStats() {
  if (m_canvas) m_canvas->setFrameObserver({});
}

void FrameStats::attach(ImGuiCanvas* canvas) {
  m_canvas = canvas;
  canvas->setFrameObserver([this](const ImGuiCanvas::FrameTiming& timing) { onPainted(timing); });
  connect(canvas, &ImGuiCanvas::frameSwapped, this, &FrameStats::onSwapped);
  m_lastProcessCpuMs = static_cast<double>(clockNs(CLOCK_PROCESS_CPUTIME_ID)) * 1e-6;
}

void FrameStats::markModelOpened() {
  if (m_modelOpenedMs < 0) m_modelOpenedMs = sinceMainMs();
}

void FrameStats::onPainted(const ImGuiCanvas::FrameTiming& timing) {
  Frame frame;
  frame.startMs = static_cast<double>(timing.startNs - g_mainSteadyNs) * 1e-6;
  frame.buildMs = static_cast<double>(timing.buildNs) * 1e-6;
  frame.buildCpuMs = static_cast<double>(timing.buildCpuNs) * 1e-6;
  frame.submitMs = static_cast<double>(timing.submitNs) * 1e-6;
  frame.submitCpuMs = static_cast<double>(timing.submitCpuNs) * 1e-6;
  frame.paintEndThreadCpuMs = static_cast<double>(timing.endThreadCpuNs) * 1e-6;
  frame.showsModel = m_modelOpenedMs >= 0;
  // A paint into an image (renderNow) is never swapped: the next paint leaves it unpresented.
  m_frames.push_back(frame);
  m_paintPending = true;
}

void FrameStats::onSwapped() {
  if (!m_paintPending) return;
  m_paintPending = false;
  Frame& frame = m_frames.back();
  frame.presentedMs = sinceMainMs();
  frame.presentCpuMs = static_cast<double>(clockNs(CLOCK_THREAD_CPUTIME_ID)) * 1e-6 - frame.paintEndThreadCpuMs;
  const double cpu = static_cast<double>(clockNs(CLOCK_PROCESS_CPUTIME_ID)) * 1e-6;
  frame.processCpuMs = cpu - m_lastProcessCpuMs;
  m_lastProcessCpuMs = cpu;
  if (m_quitAfterFrames <= 0 || m_modelFramesPresented >= m_quitAfterFrames) return;
  if (frame.showsModel && ++m_modelFramesPresented == m_quitAfterFrames)
    QTimer::singleShot(0, qApp, &QCoreApplication::quit);
  else if (m_canvas)
    m_canvas->requestFrames(1);  // an idle canvas draws nothing: ask for the frames still to count
}

QString FrameStats::write() const {
  QJsonObject root;
  const qint64 ticks = processStartTicks();
  const long hz = sysconf(_SC_CLK_TCK);
  // Both on the boot clock; the kernel's start time has one tick's resolution (10 ms at 100 Hz).
  const double startToMain = ticks >= 0 && hz > 0
                                 ? static_cast<double>(g_mainBootNs) * 1e-6 - static_cast<double>(ticks) * 1000.0 / hz
                                 : -1;
  root[QStringLiteral("clock_ticks_per_second")] = static_cast<double>(hz);
  root[QStringLiteral("process_start_to_main_ms")] = round3(startToMain);
  if (m_canvas) {
    root[QStringLiteral("gl_renderer")] = m_canvas->glRenderer();
    root[QStringLiteral("gl_version")] = m_canvas->glVersion();
  }
  root[QStringLiteral("qt_platform")] = QGuiApplication::platformName();
  const auto firstPresented = [this](bool withModel) -> const Frame* {
    for (const Frame& f : m_frames)
      if (f.presentedMs >= 0 && (!withModel || f.showsModel)) return &f;
    return nullptr;
  };
  if (const Frame* f = firstPresented(false)) {
    root[QStringLiteral("main_to_first_frame_ms")] = round3(f->presentedMs);
    if (startToMain >= 0) root[QStringLiteral("process_start_to_first_frame_ms")] = round3(startToMain + f->presentedMs);
  }
  if (m_modelOpenedMs >= 0) root[QStringLiteral("main_to_model_opened_ms")] = round3(m_modelOpenedMs);
  if (const Frame* f = firstPresented(true)) {
    root[QStringLiteral("main_to_first_model_frame_ms")] = round3(f->presentedMs);
    if (startToMain >= 0)
      root[QStringLiteral("process_start_to_first_model_frame_ms")] = round3(startToMain + f->presentedMs);
  }

  QJsonArray frames;
  double previous = -1;
  for (const Frame& f : m_frames) {
    QJsonObject o;
    o[QStringLiteral("start_ms")] = round3(f.startMs);
    o[QStringLiteral("build_ms")] = round3(f.buildMs);
    o[QStringLiteral("build_cpu_ms")] = round3(f.buildCpuMs);
    o[QStringLiteral("submit_ms")] = round3(f.submitMs);
    o[QStringLiteral("submit_cpu_ms")] = round3(f.submitCpuMs);
    if (f.presentedMs >= 0) {
      o[QStringLiteral("presented_ms")] = round3(f.presentedMs);
      o[QStringLiteral("paint_end_to_presented_ms")] = round3(f.presentedMs - f.startMs - f.buildMs - f.submitMs);
      o[QStringLiteral("paint_end_to_presented_cpu_ms")] = round3(f.presentCpuMs);
      if (previous >= 0) o[QStringLiteral("interval_ms")] = round3(f.presentedMs - previous);
      o[QStringLiteral("process_cpu_ms")] = round3(f.processCpuMs);
      previous = f.presentedMs;
    }
    o[QStringLiteral("shows_model")] = f.showsModel;
    frames.append(o);
  }
  root[QStringLiteral("frames")] = frames;
  if (!m_drag.isEmpty()) root[QStringLiteral("drag")] = m_drag;

  QSaveFile file(m_output);
  if (!file.open(QIODevice::WriteOnly)) return QStringLiteral("%1: cannot write: %2").arg(m_output, file.errorString());
  file.write(QJsonDocument(root).toJson(QJsonDocument::Indented));
  if (!file.commit()) return QStringLiteral("%1: cannot write: %2").arg(m_output, file.errorString());
  return {};
}

}  // namespace ms::app
