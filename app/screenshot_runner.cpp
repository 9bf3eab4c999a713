// ScreenshotRunner (see screenshot_runner.h).
#include "app/screenshot_runner.h"

#include <cmath>

#include <QDir>
#include <QFileInfo>
#include <QGuiApplication>
#include <QPainter>
#include <QSaveFile>

#include "app/imgui_canvas.h"
#include "app/main_window.h"
#include "app/preview_process.h"
#include "app/quant_panel.h"
#include "app/state_sequence_process.h"
#include "app/status_monitor.h"
#include "app/teaching_tour.h"

namespace ms::app {

ScreenshotRunner::ScreenshotRunner(MainWindow* window, Request request, QObject* parent)
    : QObject(parent), m_window(window), m_request(std::move(request)) {
  m_timeout.setSingleShot(true);
  connect(&m_timeout, &QTimer::timeout, this,
          [this] { fail(QStringLiteral("%1: timed out after %2 s").arg(m_request.model).arg(m_request.timeoutMs / 1000)); });
  connect(m_window, &MainWindow::modelOpened, this, [this] {
    const int layers = static_cast<int>(m_window->snapshot()->layers.size());
    if (m_request.layer >= layers) {  // a picture of another layer than asked would mislead
      fail(QStringLiteral("--layer %1: %2 has %3 layers (0 to %4)")
               .arg(m_request.layer)
               .arg(m_request.model)
               .arg(layers)
               .arg(layers - 1));
      return;
    }
    if (m_request.select) m_window->selectPoint(*m_request.select);
    if (m_request.tourStep >= 0) {  // it sets the view; statistics opened later put it back on its step
      m_window->teachingTour()->setCalibratesWhenNeeded(false);  // this runner opens or calibrates them
      m_window->teachingTour()->start(m_request.tourStep);
      if (m_request.presentation) m_window->teachingTour()->setPresentation(true, false);
    }
    if (!m_request.stats.isEmpty()) {
      m_window->openStats(m_request.stats);
      return;
    }
    if (m_window->view() == QLatin1String("error")) {  // waits for the preview's first result
      QuantPanel* panel = m_window->quantPanel();
      // The answer to the newest setting (a tour step moves the dock's sliders after the first).
      connect(panel, &QuantPanel::snapshotChanged, this, [this, panel] {
        if (panel->snapshot() && panel->snapshot()->id == panel->process()->latestRequest())
          QTimer::singleShot(50, this, &ScreenshotRunner::capture);
      });
      connect(panel, &QuantPanel::failed, this, [this](const QString& message) { fail(message); });
      return;  // the window started the preview when the model opened on this view
    }
    if (m_request.calibrate) {
      if (m_request.calibration.textFile.isEmpty()) {
        fail(QStringLiteral("no calibration text: resources/texts/austen.txt is missing (packaging/setup.sh "
                            "extracts it); give --text FILE, or --stats FILE from mambascope-cli calibrate"));
        return;
      }
      m_window->calibrate(m_request.calibration);
      return;
    }
    // Let the tree and docks settle (layout happens in posted events) before grabbing.
    QTimer::singleShot(50, this, &ScreenshotRunner::capture);
  });
  connect(m_window, &MainWindow::statsOpened, this, [this] {
    // A method's before/after waits for its preview (mambascope-cli preview), which the first frame asks for.
    // A tour step asks for it when the model opens, so it may have arrived before the statistics.
    if (m_window->view() == QLatin1String("distributions") && !m_window->distributionsState().method.empty()) {
      PreviewProcess* preview = m_window->previewProcess();
      if (previewIsCurrent()) {
        QTimer::singleShot(50, this, &ScreenshotRunner::capture);
        return;
      }
      connect(preview, &PreviewProcess::snapshotReady, this, [this] {
        if (previewIsCurrent()) QTimer::singleShot(50, this, &ScreenshotRunner::capture);
      });
      connect(preview, &PreviewProcess::failed, this, [this](const QString& message) { fail(message); });
      m_window->canvas()->renderNow(1);
      return;
    }
    // The state heatmap's sequence mode waits for its file (mambascope-cli states), asked for by the first frame.
    if (m_window->view() == QLatin1String("state-heatmap") && m_window->stateHeatmapState().sequence) {
      connect(m_window->stateSequenceProcess(), &StateSequenceProcess::snapshotReady, this,
              [this] { QTimer::singleShot(50, this, &ScreenshotRunner::capture); });
      connect(m_window->stateSequenceProcess(), &StateSequenceProcess::failed, this, [this](const QString& message) { fail(message); });
      m_window->canvas()->renderNow(1);
      return;
    }
    QTimer::singleShot(50, this, &ScreenshotRunner::capture);
  });
  connect(m_window, &MainWindow::modelFailed, this, [this](const QString&, const QString& message) { fail(message); });
  connect(m_window, &MainWindow::statsFailed, this, [this](const QString&, const QString& message) { fail(message); });
  connect(m_window, &MainWindow::calibrationFailed, this, [this](const QString& message) { fail(message); });
}

void ScreenshotRunner::start() {
  // The offscreen platform has no OpenGL windows (BUILD-NOTES.md); say so instead of crashing.
  if (QGuiApplication::platformName() == QLatin1String("offscreen")) {
    fail(QStringLiteral("--screenshot needs a display with OpenGL (offscreen platform); run under xvfb-run"));
    return;
  }
  const QFileInfo out(m_request.output);
  if (!out.absoluteDir().exists()) {
    fail(QStringLiteral("%1: directory does not exist").arg(out.absolutePath()));
    return;
  }
  m_window->canvas()->setInputEnabled(false);  // the Xvfb pointer sits mid-screen: no hover
  m_window->resize(m_request.size);
  m_window->move(0, 0);
  m_window->show();
  m_timeout.start(m_request.timeoutMs);
  // The status bar's device label: the probe runs beside the model's opening, and capture() waits
  // for its answer (at most kDeviceWaitMs from here) so the picture says "Device: CPU (…)", not "…".
  m_deviceWait.setRemainingTime(kDeviceWaitMs);
  StatusMonitor* monitor = m_window->statusMonitor();
  connect(monitor, &StatusMonitor::deviceKnown, this, [this] {
    if (m_captureWanted) QTimer::singleShot(0, this, &ScreenshotRunner::capture);
  });
  monitor->probeDevice();
  m_window->openModel(m_request.model);
}

bool ScreenshotRunner::previewIsCurrent() const {
  const PreviewProcess* preview = m_window->previewProcess();
  const PreviewSnapshot* p = preview->snapshot().get();
  const views::distributions::PreviewRequest wanted = views::distributions::preview_request(m_window->distributionsState());
  return p && !preview->isRunning() && p->point.str() == wanted.point && p->method == wanted.method && p->bits == wanted.bits &&
         (wanted.method != "smoothquant" || std::abs(p->alpha - wanted.alpha) <= 1e-5);  // α goes as %g
}

QImage ScreenshotRunner::grabWindow(MainWindow* window) {
  ImGuiCanvas* canvas = window->canvas();
  // Widgets added since the last paint (the summary rows) reach the backing store only after a
  // repaint; grab() draws from it. The canvas's native window is not in it: its image goes on top.
  window->repaint();
  QCoreApplication::processEvents();
  // Three frames: ImGui measures on the first and draws hover-free, settled content after.
  const QImage gl = canvas->renderNow(3);
  QImage image = window->grab().toImage().convertToFormat(QImage::Format_RGB32);
  if (!gl.isNull()) {
    QPainter painter(&image);
    painter.drawImage(QRect(canvas->mapTo(window, QPoint(0, 0)), canvas->size()), gl);
  }
  return image;
}

void ScreenshotRunner::capture() {
  if (m_done) return;
  if (m_window->statusMonitor()->probeRunning() && m_deviceWait.remainingTime() > 0) {
    if (!m_captureWanted) QTimer::singleShot(m_deviceWait.remainingTime(), this, &ScreenshotRunner::capture);
    m_captureWanted = true;  // deviceKnown or the deadline calls again
    return;
  }
  if (!m_window->canvas()->isInitialized()) m_window->canvas()->renderNow(1);
  if (!m_window->canvas()->isInitialized()) {
    fail(QStringLiteral("OpenGL context could not be created for the canvas"));
    return;
  }
  const QImage image = grabWindow(m_window);
  // QSaveFile writes beside the target and renames on commit: no half-written PNG, ever.
  QSaveFile file(m_request.output);
  if (!file.open(QIODevice::WriteOnly) || !image.save(&file, "PNG") || !file.commit()) {
    fail(QStringLiteral("%1: cannot write: %2").arg(m_request.output, file.errorString()));
    return;
  }
  m_done = true;
  m_timeout.stop();
  Q_EMIT finished(0, QString());
}

void ScreenshotRunner::fail(const QString& error) {
  if (m_done) return;
  m_done = true;
  m_timeout.stop();
  QString line = error;
  line.replace(QLatin1Char('\n'), QLatin1Char(' '));  // the contract is one line
  Q_EMIT finished(1, line);
}

}  // namespace ms::app
