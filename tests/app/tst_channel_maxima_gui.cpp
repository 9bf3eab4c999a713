// The channel-maxima view under a real GL context (Xvfb), driven with the mouse as a user would:
// hovering a bar shows a tooltip, clicking a heatmap row selects that layer in the view and the
// tree, and the point radio buttons follow the tree. Skips loudly without DISPLAY.
#include "gl_test_main.h"
#include <QSignalSpy>
#include <QTemporaryDir>
#include <QTreeView>
#include <QtTest>

#include <imgui.h>

#include "app/imgui_canvas.h"
#include "app/main_window.h"
#include "app/structure_model.h"
#include "tiny_model.h"
#include "tiny_stats.h"
#include "window_fixture.h"

using namespace ms;
using namespace ms::app;

class TestChannelMaximaGui : public QObject {
  Q_OBJECT

 private Q_SLOTS:
  void initTestCase() {
    if (qEnvironmentVariableIsEmpty("DISPLAY") || QGuiApplication::platformName() == QLatin1String("offscreen"))
      QSKIP("no DISPLAY: the GL canvas needs X (run the tests under xvfb-run -a -s '-screen 0 1600x1000x24')");
    QVERIFY(m_dir.isValid());
    ms::test::write_tiny_mamba1(m_dir.filePath(QStringLiteral("m1")));
    ms::test::write_tiny_mamba1_stats(m_dir.filePath(QStringLiteral("s.safetensors")).toStdString());
  }

  void heatmapClickSelectsLayer() {
    MainWindow::Options options{false, QStringLiteral("channel-maxima")};
    options.layer = 0;
    MainWindow window(options);
    QVERIFY(test::open_window_with_stats(window, m_dir.filePath(QStringLiteral("m1")), m_dir.filePath(QStringLiteral("s.safetensors"))));
    QCOMPARE(window.channelMaximaState().layer, 0);
    ImGuiCanvas* canvas = window.canvas();
    canvas->renderNow(3);

    // The last heatmap row (layer 2 of 3) sits just above the channel axis at the canvas bottom.
    const QPoint row2(canvas->width() / 2, canvas->height() - 80);
    QTest::mouseMove(canvas, row2);
    canvas->renderNow(2);
    QTest::mouseClick(canvas, Qt::LeftButton, {}, row2);
    canvas->renderNow(4);
    QTRY_COMPARE(window.channelMaximaState().layer, 2);
    QTRY_COMPARE(window.structureModel()->layerOf(window.tree()->currentIndex()), 2);

    // The tree picks another point: the view shows it.
    window.selectPoint(QuantPoint{1, Module::DtProj, Site::Input});
    QCOMPARE(window.channelMaximaState().layer, 1);
    QVERIFY(window.channelMaximaState().module == Module::DtProj);
  }

 private:
  QTemporaryDir m_dir;
};

MS_GL_TEST_MAIN(TestChannelMaximaGui)
#include "tst_channel_maxima_gui.moc"
