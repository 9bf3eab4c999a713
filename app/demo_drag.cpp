// DemoDrag (see demo_drag.h).
#include "app/demo_drag.h"

#include <QJsonObject>
#include <QSlider>

#include "app/frame_stats.h"
#include "app/imgui_canvas.h"
#include "app/main_window.h"
#include "app/quant_panel.h"

namespace ms::app {
namespace {
constexpr int kStepMs = 16;             // one slider step per 60 Hz frame
constexpr int kFirstResultTimeoutMs = 300000;  // requant-serve loads LibTorch and runs the float batch first
}  // namespace

DemoDrag::DemoDrag(MainWindow* window, double seconds, FrameStats* stats, QObject* parent)
    : QObject(parent), m_window(window), m_seconds(seconds), m_stats(stats) {
  m_timer.setTimerType(Qt::PreciseTimer);
  m_timer.setInterval(kStepMs);
  connect(&m_timer, &QTimer::timeout, this, &DemoDrag::step);
  QuantPanel* panel = window->quantPanel();
  connect(panel, &QuantPanel::snapshotChanged, this, [this] {
    if (m_started) ++m_results;
    else start();
  });
  connect(panel, &QuantPanel::failed, this, [this](const QString& message) {
    if (!m_started) Q_EMIT finished(1, QStringLiteral("--demo-drag: the error preview failed: %1").arg(message));
  });
  QTimer::singleShot(kFirstResultTimeoutMs, this, [this] {
    if (!m_started) Q_EMIT finished(1, QStringLiteral("--demo-drag: no error-view result within %1 s").arg(kFirstResultTimeoutMs / 1000));
  });
}

void DemoDrag::start() {
  m_started = true;
  m_startMs = FrameStats::sinceMainMs();
  m_window->quantPanel()->bitsSlider('W')->setSliderDown(true);
  m_clock.start();
  m_timer.start();
}

void DemoDrag::step() {
  if (m_clock.elapsed() >= static_cast<qint64>(m_seconds * 1000.0)) {
    stop();
    return;
  }
  QSlider* slider = m_window->quantPanel()->bitsSlider('W');
  int next = slider->sliderPosition() + m_direction;
  if (next > slider->maximum() || next < slider->minimum()) {
    m_direction = -m_direction;
    next = slider->sliderPosition() + m_direction;
  }
  slider->setSliderPosition(next);  // tracking on: valueChanged, and so a request, as a mouse drag
  ++m_steps;
  m_window->canvas()->requestFrames(2);
}

void DemoDrag::stop() {
  m_timer.stop();
  m_window->quantPanel()->bitsSlider('W')->setSliderDown(false);
  QJsonObject drag;
  drag[QStringLiteral("slider")] = QStringLiteral("W bits (Quantization dock)");
  drag[QStringLiteral("view")] = m_window->view();
  drag[QStringLiteral("step_ms")] = kStepMs;
  drag[QStringLiteral("start_ms")] = m_startMs;
  drag[QStringLiteral("end_ms")] = FrameStats::sinceMainMs();
  drag[QStringLiteral("slider_steps")] = m_steps;
  drag[QStringLiteral("results_during_drag")] = m_results;
  if (m_stats) m_stats->setDrag(drag);
  Q_EMIT finished(0, {});
}

}  // namespace ms::app
