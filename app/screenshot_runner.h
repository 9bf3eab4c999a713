// ScreenshotRunner: the headless mode `mambascope MODEL --screenshot F.png`. Shows the window at a
// fixed size, opens the model through the normal background job, renders the canvas, grabs the
// whole window (widgets via QWidget::grab, the canvas as ImGuiCanvas::renderNow's image on top) and saves it
// atomically; with a statistics file, it opens that after the model and captures once it is read;
// for a statistics view without one, it calibrates the model first (MainWindow::calibrate, the
// default text unless --text) and captures once those statistics are read; for the error view, it
// captures once the Quantization dock's preview delivers its first result; for a method on the
// distributions view (--method, or a tour step), once its preview is there. Every capture also
// waits, at most kDeviceWaitMs from the start, for the status bar's device probe to answer.
// Reports the outcome as finished(exitCode, oneLineError); main() turns it into the
// process exit code. Later issues add views and states; the sequence stays the same.
#pragma once

#include <optional>

#include <QDeadlineTimer>
#include <QImage>
#include <QObject>
#include <QSize>
#include <QString>
#include <QTimer>

#include "app/calibration_panel.h"
#include "core/model/quant_point.h"

namespace ms::app {

class MainWindow;

class ScreenshotRunner : public QObject {
  Q_OBJECT

 public:
  struct Request {
    QString model;
    QString output;
    QSize size{1400, 900};
    std::optional<QuantPoint> select;
    QString stats;                 // opened after the model; the capture waits for it
    int layer = -1;                // --layer: checked against the model (the window shows it)
    bool calibrate = false;        // calibrate when no stats are given (the statistics views)
    CalibrationChoice calibration; // its text (empty: none found), tokens and device
    int tourStep = -1;             // --tour: the teaching tour's step (0-based) applied once the model opens
    bool presentation = false;     // --presentation: the tour's presentation mode (not full screen)
    int timeoutMs = 300000;        // calibrating on two CPU cores takes tens of seconds
  };

  ScreenshotRunner(MainWindow* window, Request request, QObject* parent = nullptr);
  // Call from the running event loop (finished() may be emitted before start() returns).
  void start();

  // How long a capture waits for the device probe (a cold CLI start loads LibTorch: seconds).
  static constexpr int kDeviceWaitMs = 20000;

  // The whole window, with the GL canvas composed in from its framebuffer.
  static QImage grabWindow(MainWindow* window);

 Q_SIGNALS:
  void finished(int exitCode, const QString& error);

 private:
  void capture();
  void fail(const QString& error);
  // Whether the distributions view's preview is the answer to what the view asks for now.
  bool previewIsCurrent() const;

  MainWindow* m_window;
  Request m_request;
  QTimer m_timeout;
  bool m_done = false;
  QDeadlineTimer m_deviceWait;   // until when a capture waits for the device probe
  bool m_captureWanted = false;  // a capture is waiting for the probe
};

}  // namespace ms::app
