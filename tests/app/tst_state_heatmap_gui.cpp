// The state heatmap view under a real GL context (Xvfb), driven with the mouse as a user would:
// the wheel over the map zooms the channel axis about the pointer, a drag pans it; a state point
// picked in the tree shows that layer; File › Export View saves the canvas. Skips loudly without
// DISPLAY.
#include "gl_test_main.h"
#include <QSignalSpy>
#include <QTemporaryDir>
#include <QTreeView>
#include <QWheelEvent>
#include <QtTest>

#include "app/imgui_canvas.h"
#include "app/main_window.h"
#include "app/structure_model.h"
#include "tiny_model.h"
#include "tiny_stats.h"
#include "window_fixture.h"

using namespace ms;
using namespace ms::app;

namespace {

// Statistics for tiny_model.h's Mamba-1 (3 layers, E = 32, N = 4) with state maps.
void write_stats_with_states(const std::string& path) {
  test::StatsWriter w;
  for (int l = 0; l < 3; ++l) {
    for (const auto& [module, width] : test::tiny_mamba1_widths())
      w.f32(QuantPoint{l, module, Site::Input}.str() + ".absmax", {width}, std::vector<float>(static_cast<std::size_t>(width), 1.0f));
    std::vector<float> absmax;
    for (int r = 0; r < 32; ++r)
      for (int n = 0; n < 4; ++n) absmax.push_back(0.01f * static_cast<float>((r * 7 + n * 3) % 50 + 1 + l));
    std::vector<float> mean_abs(absmax);
    for (float& v : mean_abs) v *= 0.25f;
    const std::string key = "layers." + std::to_string(l) + ".ssm.state";
    w.f32(key + ".absmax", {32, 4}, absmax);
    w.f32(key + ".mean_abs", {32, 4}, mean_abs);
  }
  w.write(path);
}

void wheel(QWidget* widget, QPoint at, int notches) {
  QWheelEvent event(at, widget->mapToGlobal(at), QPoint(), QPoint(0, 120 * notches), Qt::NoButton, Qt::NoModifier,
                    Qt::NoScrollPhase, false);
  QCoreApplication::sendEvent(widget, &event);
}

// A pointer move delivered synchronously: QTest::mouseMove without a button goes through the X
// server under Xvfb and may arrive after the next frame, so the wheel would find no hover.
void hover(QWidget* widget, QPoint at) {
  QMouseEvent event(QEvent::MouseMove, QPointF(at), QPointF(widget->mapToGlobal(at)), Qt::NoButton,
                    Qt::NoButton, Qt::NoModifier);
  QCoreApplication::sendEvent(widget, &event);
}

}  // namespace

class TestStateHeatmapGui : public QObject {
  Q_OBJECT

 private Q_SLOTS:
  void initTestCase() {
    if (qEnvironmentVariableIsEmpty("DISPLAY") || QGuiApplication::platformName() == QLatin1String("offscreen"))
      QSKIP("no DISPLAY: the GL canvas needs X (run the tests under xvfb-run -a -s '-screen 0 1600x1000x24')");
    QVERIFY(m_dir.isValid());
    test::write_tiny_mamba1(m_dir.filePath(QStringLiteral("m1")));
    write_stats_with_states(m_dir.filePath(QStringLiteral("s.safetensors")).toStdString());
  }

  void zoomPanResetAndNextLayer() {
    MainWindow::Options options{false, QStringLiteral("state-heatmap")};
    options.layer = 0;
    MainWindow window(options);
    QVERIFY(test::open_window_with_stats(window, m_dir.filePath(QStringLiteral("m1")), m_dir.filePath(QStringLiteral("s.safetensors"))));
    QCOMPARE(window.view(), QStringLiteral("state-heatmap"));
    QCOMPARE(window.stateHeatmapState().layer, 0);
    ImGuiCanvas* canvas = window.canvas();
    canvas->renderNow(3);

    // The map fills the lower two thirds of the canvas left of the state margin and legend.
    const QPoint over(canvas->width() * 2 / 5, canvas->height() * 7 / 10);
    hover(canvas, over);
    canvas->renderNow(2);
    QVERIFY(!window.stateHeatmapState().zoom.zoomed());
    wheel(canvas, over, 1);
    canvas->renderNow(3);
    const views::plot::Zoom zoomed = window.stateHeatmapState().zoom;
    QVERIFY2(std::abs((zoomed.hi - zoomed.lo) - 0.8) < 1e-9,  // one notch: 20 % in
             qPrintable(QStringLiteral("[%1, %2]").arg(zoomed.lo).arg(zoomed.hi)));
    QVERIFY(zoomed.lo > 0.0 && zoomed.hi < 1.0);  // about the pointer, not an edge

    // Dragging left moves the window right (towards higher channels), by the dragged share.
    QTest::mousePress(canvas, Qt::LeftButton, {}, over);
    canvas->renderNow(2);
    for (int dx = 20; dx <= 100; dx += 20) {
      QTest::mouseMove(canvas, over - QPoint(dx, 0));
      canvas->renderNow(1);
    }
    QTest::mouseRelease(canvas, Qt::LeftButton, {}, over - QPoint(100, 0));
    canvas->renderNow(3);
    const views::plot::Zoom panned = window.stateHeatmapState().zoom;
    QVERIFY2(panned.lo > zoomed.lo, qPrintable(QStringLiteral("%1 -> %2").arg(zoomed.lo).arg(panned.lo)));
    QVERIFY(std::abs((panned.hi - panned.lo) - 0.8) < 1e-9);  // panning keeps the width

    // (The double click that resets the zoom is not driven here: ImGui times double clicks by its
    // frame clock, and frames of a loaded Xvfb can take longer than its 0.3 s.)

    // The tree picks layer 2's state: the view follows.
    window.selectPoint(QuantPoint{2, Module::Ssm, Site::State});
    QCOMPARE(window.stateHeatmapState().layer, 2);

    // File › Export View: the canvas alone, at its size, with the map's top colour in it (the
    // layer's largest element is viridis' end, #fde725).
    const QString png = m_dir.filePath(QStringLiteral("view.png"));
    QCOMPARE(window.exportView(png), QString());
    const QImage image(png);
    QCOMPARE(image.size(), canvas->size() * canvas->devicePixelRatio());
    int top = 0;
    for (int y = 0; y < image.height(); ++y)
      for (int x = 0; x < image.width(); ++x) top += image.pixelColor(x, y).name() == QStringLiteral("#fde725");
    QVERIFY2(top >= 10, qPrintable(QString::number(top)));
    const QString refused = window.exportView(m_dir.filePath(QStringLiteral("no-such-dir/view.png")));
    QVERIFY2(refused.contains(QStringLiteral("no-such-dir")) && !refused.contains(QLatin1Char('\n')), qPrintable(refused));
  }

 private:
  QTemporaryDir m_dir;
};

MS_GL_TEST_MAIN(TestStateHeatmapGui)
#include "tst_state_heatmap_gui.moc"
