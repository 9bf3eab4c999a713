// Set-up the app's GUI tests share: a MainWindow shown at the size the views' pixel checks assume,
// a model (and statistics) opened in it, and waiting for the Quantization dock's newest answer.
// Each helper returns false, with a warning that says what did not happen, so a test writes
// QVERIFY(open_window_with_stats(...)) and fails on the right line.
#pragma once

#include <memory>

#include <QElapsedTimer>
#include <QSignalSpy>
#include <QString>
#include <QtTest>

#include "app/imgui_canvas.h"
#include "app/main_window.h"
#include "app/quant_panel.h"
#include "app/requant_process.h"

namespace ms::test {

// Resizes the window to 1400 x 900, shows it and waits until it is exposed.
[[nodiscard]] inline bool show_window(app::MainWindow& window) {
  window.resize(1400, 900);
  window.show();
  if (QTest::qWaitForWindowExposed(&window)) return true;
  qWarning("the window was not exposed");
  return false;
}

// Opens `model` in the window and waits for modelOpened.
[[nodiscard]] inline bool open_model(app::MainWindow& window, const QString& model, int timeoutMs = 30000) {
  QSignalSpy opened(&window, &app::MainWindow::modelOpened);
  window.openModel(model);
  if (QTest::qWaitFor([&] { return opened.size() == 1; }, timeoutMs)) return true;
  qWarning("%s did not open within %d ms", qPrintable(model), timeoutMs);
  return false;
}

// Shows the window, opens `model`, then `stats`, waiting for each (timeoutMs apiece).
[[nodiscard]] inline bool open_window_with_stats(app::MainWindow& window, const QString& model, const QString& stats,
                                                 int timeoutMs = 30000) {
  if (!show_window(window) || !open_model(window, model, timeoutMs)) return false;
  QSignalSpy opened(&window, &app::MainWindow::statsOpened);
  window.openStats(stats);
  if (QTest::qWaitFor([&] { return opened.size() == 1; }, timeoutMs)) return true;
  qWarning("%s did not open within %d ms", qPrintable(stats), timeoutMs);
  return false;
}

// Waits until the Quantization dock shows the answer to its newest request; null on a timeout.
inline std::shared_ptr<const views::error::Snapshot> wait_for_latest(app::QuantPanel* panel, int timeoutMs = 120000) {
  QElapsedTimer t;
  t.start();
  while (t.elapsed() < timeoutMs) {
    const auto& s = panel->snapshot();
    if (s && s->id == panel->process()->latestRequest()) return s;
    QTest::qWait(20);
  }
  return nullptr;
}

// Clicks the error view's text strip until a token is selected: it fills the bottom of the canvas
// with lines packed with tokens, so a click a little above the bottom, left of the legend, lands on
// one (tried at a few heights, as a click can fall in the 1-2 px between tokens or lines). Returns
// the selected token, -1 when no click selected one.
inline int click_a_token(app::MainWindow& window) {
  app::ImGuiCanvas* canvas = window.canvas();
  for (int dy = 40; dy <= 120 && window.errorState().selected_token < 0; dy += 9) {
    const QPoint at(canvas->width() / 4, canvas->height() - dy);
    QMouseEvent move(QEvent::MouseMove, QPointF(at), QPointF(canvas->mapToGlobal(at)), Qt::NoButton, Qt::NoButton,
                     Qt::NoModifier);
    QCoreApplication::sendEvent(canvas, &move);
    canvas->renderNow(2);
    QTest::mousePress(canvas, Qt::LeftButton, {}, at);
    canvas->renderNow(2);
    QTest::mouseRelease(canvas, Qt::LeftButton, {}, at);
    canvas->renderNow(2);
  }
  return window.errorState().selected_token;
}

}  // namespace ms::test
