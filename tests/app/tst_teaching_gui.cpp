// The teaching tour (Help › Teaching Tour) on the demo Mamba-1, driven as a teacher drives it:
//   - a tour started without statistics calibrates, and puts its step back once they open;
//   - every step is complete: a known view, a layer of the demo model, a text without gaps;
//   - started from the Help menu on a calibrated model, Right / Page Down / Space walk it to the
//     end and each step leaves the view, layer, point, bits and Quantization dock it declares;
//     Left / Page Up walk back; Esc leaves the tour and hides the narration;
//   - presentation mode (F11) re-rasterises the views' fonts at kPresentationScale (16 px body text
//     becomes 28 px), hides the other docks and the tool bar, and F11 again restores them; closing
//     the window ends the tour first (the layout it saves has no narration and no full screen);
//   - the SmoothQuant, Hadamard and KLT steps select their method on the distributions view, and
//     every number their narration quotes (listed in TourStep::quotes) is in the text and equals,
//     as the view prints it, the number of the preview the view draws (mambascope-cli preview's
//     snapshot, waited for); a step without a method clears it again;
//   - `mambascope --tour 2 --presentation --screenshot F.png` renders the outlier step full width:
//     the view's outlier bar is in the picture and the docks are gone; `--tour 6` waits for the
//     Hadamard preview and draws both sides (teal histogram bars left and right).
// Needs the CLI (calibration; MAMBASCOPE_CLI overrides the built one) and an X display with
// OpenGL for the last two (xvfb-run); without DISPLAY they skip loudly.
#include "gl_test_main.h"
#include <QAction>
#include <QDockWidget>
#include <QElapsedTimer>
#include <QImage>
#include <QJsonObject>
#include <QMenuBar>
#include <QProcess>
#include <QSignalSpy>
#include <QTemporaryDir>
#include <QToolBar>
#include <QTreeView>
#include <QtTest>

#include <cstdlib>

#include "app/command_line.h"
#include "app/imgui_canvas.h"
#include "app/main_window.h"
#include "app/preview_process.h"
#include "app/quant_panel.h"
#include "app/teaching_tour.h"
#include "views/text_format.h"
#include "views/theme.h"

using namespace ms;
using namespace ms::app;

namespace {

const QString kDemo = (QString::fromUtf8(MAMBASCOPE_SOURCE_DIR) + QStringLiteral("/resources/models/demo-mamba"));
const QString kAusten = (QString::fromUtf8(MAMBASCOPE_SOURCE_DIR) + QStringLiteral("/resources/texts/austen.txt"));
constexpr int kDemoLayers = 6;

QString cli() { return qEnvironmentVariable("MAMBASCOPE_CLI", QString::fromUtf8(MAMBASCOPE_CLI)); }

bool haveDisplay() {
  return !qEnvironmentVariableIsEmpty("DISPLAY") && QGuiApplication::platformName() != QLatin1String("offscreen");
}

QAction* helpAction(MainWindow& window, const QString& text) {
  for (QAction* menu : window.menuBar()->actions())
    if (menu->menu() && menu->text() == QStringLiteral("&Help"))
      for (QAction* action : menu->menu()->actions())
        if (action->text() == text) return action;
  return nullptr;
}

// Checks that the window shows what step `i` declares; returns an empty string or what differs.
QString mismatch(const MainWindow& window, int i) {
  const TourStep& s = teachingTourSteps()[static_cast<size_t>(i)];
  const QString at = QStringLiteral("step %1: ").arg(i + 1);
  if (window.view() != s.view) return at + QStringLiteral("view %1, expected %2").arg(window.view(), s.view);
  if (s.view == QLatin1String("structure")) {
    const auto& st = window.structureState();
    if (st.layer != s.layer) return at + QStringLiteral("structure layer %1").arg(st.layer);
    if (s.module && st.selected != QuantPoint{s.layer, *s.module, Site::Input})
      return at + QStringLiteral("structure selection is not the step's point");
  } else if (s.view == QLatin1String("channel-maxima")) {
    const auto& st = window.channelMaximaState();
    if (st.layer != s.layer || st.module != *s.module)
      return at + QStringLiteral("channel maxima on layer %1 module %2").arg(st.layer).arg(static_cast<int>(st.module));
  } else if (s.view == QLatin1String("distributions")) {
    const auto& st = window.distributionsState();
    if (st.layer != s.layer || st.module != *s.module || st.bits != s.distributionBits)
      return at + QStringLiteral("distributions on layer %1 module %2 at %3 bits")
                      .arg(st.layer)
                      .arg(static_cast<int>(st.module))
                      .arg(st.bits);
    if (QString::fromStdString(st.method) != s.method || st.alpha != s.alpha)
      return at + QStringLiteral("distributions method '%1' α %2").arg(QString::fromStdString(st.method)).arg(st.alpha);
  } else if (s.view == QLatin1String("state-heatmap")) {
    if (window.stateHeatmapState().layer != s.layer)
      return at + QStringLiteral("state heatmap on layer %1").arg(window.stateHeatmapState().layer);
  } else if (s.view == QLatin1String("error")) {
    const QJsonObject set = window.quantPanel()->setting();
    if (set.value(QStringLiteral("wbits")).toInt() != s.wbits || set.value(QStringLiteral("abits")).toInt() != s.abits ||
        set.value(QStringLiteral("hbits")).toInt() != s.hbits ||
        set.value(QStringLiteral("state_method")).toString() != s.stateMethod)
      return at + QStringLiteral("Quantization dock W%1 A%2 H%3 %4")
                      .arg(set.value(QStringLiteral("wbits")).toInt())
                      .arg(set.value(QStringLiteral("abits")).toInt())
                      .arg(set.value(QStringLiteral("hbits")).toInt())
                      .arg(set.value(QStringLiteral("state_method")).toString());
  }
  return {};
}

// A preview number as the distributions view prints it (views/distributions_view.cpp).
QString shown(const PreviewSnapshot& p, PreviewFigure f) {
  const auto two = [](double v) { return QString::fromStdString(views::fmt("%.2f", v)); };
  const auto one = [](double v) { return QString::fromStdString(views::fmt("%.1f", v)); };
  switch (f) {
    case PreviewFigure::AbsmaxCvBefore: return two(p.before.absmax_cv);
    case PreviewFigure::AbsmaxCvAfter: return two(p.after.absmax_cv);
    case PreviewFigure::VarCvBefore: return two(p.before.var_cv);
    case PreviewFigure::VarCvAfter: return two(p.after.var_cv);
    case PreviewFigure::AbsmaxBefore: return QString::fromStdString(views::num(p.before.absmax));
    case PreviewFigure::AbsmaxAfter: return QString::fromStdString(views::num(p.after.absmax));
    case PreviewFigure::SqnrBefore: return one(p.before.error.sqnr_db);
    case PreviewFigure::SqnrAfter: return one(p.after.error.sqnr_db);
  }
  return {};
}

// Waits for the preview of what the distributions view asks for, then checks the step's quotes
// against it; returns an empty string or what differs.
QString quotesMismatch(const MainWindow& window, int i) {
  const TourStep& s = teachingTourSteps()[static_cast<size_t>(i)];
  const QString at = QStringLiteral("step %1: ").arg(i + 1);
  const auto wanted = views::distributions::preview_request(window.distributionsState());
  const PreviewProcess* preview = window.previewProcess();
  const auto current = [&] {
    const PreviewSnapshot* p = preview->snapshot().get();
    return p && !preview->isRunning() && p->point.str() == wanted.point && p->method == wanted.method &&
           p->bits == wanted.bits && p->alpha == wanted.alpha;
  };
  QElapsedTimer clock;
  clock.start();
  while (!current() && clock.elapsed() < 180000) QTest::qWait(50);
  if (!current()) return at + QStringLiteral("no preview of %1 %2 (%3)").arg(QString::fromStdString(wanted.method),
                                                                            QString::fromStdString(wanted.point),
                                                                            QString::fromStdString(preview->preview().status));
  const PreviewSnapshot& p = *preview->snapshot();
  if (p.point.str() != "layers.5.out_proj.input" || p.tokens != 2048) return at + QStringLiteral("preview of another point or slice");
  for (const PreviewQuote& q : s.quotes) {
    if (!s.text.contains(q.shown)) return at + QStringLiteral("the text does not say %1").arg(q.shown);
    if (shown(p, q.figure) != q.shown)
      return at + QStringLiteral("quotes %1 where the view shows %2 (figure %3)").arg(q.shown, shown(p, q.figure)).arg(static_cast<int>(q.figure));
  }
  return {};
}

}  // namespace

class TestTeachingGui : public QObject {
  Q_OBJECT

 private Q_SLOTS:
  void initTestCase() {
    qputenv("MAMBASCOPE_CLI", cli().toLocal8Bit());
    qputenv("MAMBASCOPE_DATA_DIR", QByteArray(MAMBASCOPE_SOURCE_DIR) + "/resources");
  }

  void everyStepIsComplete() {
    const auto& steps = teachingTourSteps();
    QVERIFY(steps.size() >= 8);  // the brief's eight topics, some in two steps
    QStringList views;
    for (size_t i = 0; i < steps.size(); ++i) {
      const TourStep& s = steps[i];
      QVERIFY2(viewNames().contains(s.view), qPrintable(s.view));
      QVERIFY(s.layer >= 0 && s.layer < kDemoLayers);
      QVERIFY(!s.title.isEmpty());
      QVERIFY2(!s.text.contains(QLatin1Char('@')), qPrintable(s.title));  // no placeholder left
      const int sentences = static_cast<int>(s.text.count(QRegularExpression(QStringLiteral("[.:;] [A-Z]")))) + 1;
      QVERIFY2(sentences >= 2 && sentences <= 6, qPrintable(QStringLiteral("%1: %2 sentences").arg(s.title).arg(sentences)));
      if (s.view == QLatin1String("channel-maxima") || s.view == QLatin1String("distributions")) QVERIFY(s.module);
      if (!views.contains(s.view)) views << s.view;
    }
    QCOMPARE(views.size(), viewNames().size());  // the tour visits every view
    // The command line accepts the tour's steps and only those, and the step decides the view.
    QCOMPARE(parseCommandLine({QStringLiteral("mambascope"), QStringLiteral("--tour"), QStringLiteral("3")}).view,
             steps[2].view);
    QVERIFY(!parseCommandLine({QStringLiteral("mambascope"), QStringLiteral("--tour"), QString::number(steps.size() + 1)})
                 .error.isEmpty());
    QVERIFY(!parseCommandLine({QStringLiteral("mambascope"), QStringLiteral("--presentation")}).error.isEmpty());
  }

  void keysWalkTheTour() {
    // Not shown: runs on the offscreen platform too (no GL frame is needed to walk the tour).
    MainWindow window(MainWindow::Options{false, QStringLiteral("structure")});
    QSignalSpy opened(&window, &MainWindow::modelOpened);
    QSignalSpy statsOpened(&window, &MainWindow::statsOpened);
    window.openModel(kDemo);
    QTRY_COMPARE_WITH_TIMEOUT(opened.size(), 1, 30000);
    CalibrationChoice choice;
    choice.textFile = kAusten;
    choice.maxTokens = 2048;  // the views' layers and points do not depend on how long
    choice.device = QStringLiteral("cpu");
    window.calibrate(choice);
    QTRY_COMPARE_WITH_TIMEOUT(statsOpened.size(), 1, 300000);

    TeachingTour* tour = window.teachingTour();
    QAction* start = helpAction(window, QStringLiteral("&Teaching Tour"));
    QVERIFY(start);
    QCOMPARE(start->shortcut(), QKeySequence(Qt::CTRL | Qt::Key_T));
    QVERIFY(!tour->narrationDock()->isVisibleTo(&window));
    start->trigger();
    QVERIFY(tour->isActive());
    QVERIFY(tour->narrationDock()->isVisibleTo(&window));
    QCOMPARE(tour->current(), 0);

    const Qt::Key forward[] = {Qt::Key_Right, Qt::Key_PageDown, Qt::Key_Space};
    QStringList methods;
    for (int i = 0; i < tour->count(); ++i) {
      QCOMPARE(tour->current(), i);
      const QString why = mismatch(window, i);
      QVERIFY2(why.isEmpty(), qPrintable(why));
      if (tourStepShowsPreview(tour->step())) {
        methods << tour->step().method;
        QVERIFY(tour->step().quotes.size() >= 6);  // CVs, absmax and SQNR, before and after
        const QString wrong = quotesMismatch(window, i);
        QVERIFY2(wrong.isEmpty(), qPrintable(wrong));
      }
      QTest::keyClick(&window, forward[i % 3]);
    }
    QCOMPARE(methods, QStringList({QStringLiteral("smoothquant"), QStringLiteral("hadamard"), QStringLiteral("klt")}));
    // Back to a step without a method: the view shows the statistics again, no preview runs.
    tour->go(3);
    QVERIFY(window.distributionsState().method.empty());
    QVERIFY(!window.previewProcess()->isRunning());
    tour->go(tour->count() - 1);
    QCOMPARE(tour->current(), tour->count() - 1);  // Next on the last step stays there
    QTest::keyClick(&window, Qt::Key_Left);
    QCOMPARE(tour->current(), tour->count() - 2);
    QTest::keyClick(&window, Qt::Key_PageUp);
    QCOMPARE(tour->current(), tour->count() - 3);
    QVERIFY(mismatch(window, tour->count() - 3).isEmpty());
    // Keys reach the tour wherever the focus is in the window, e.g. on the structure tree.
    window.tree()->setFocus();
    QTest::keyClick(window.tree(), Qt::Key_Left);
    QCOMPARE(tour->current(), tour->count() - 4);
    QVERIFY(mismatch(window, tour->count() - 4).isEmpty());

    QTest::keyClick(&window, Qt::Key_Escape);
    QVERIFY(!tour->isActive());
    QVERIFY(!tour->narrationDock()->isVisibleTo(&window));
    const int left = tour->current();
    QTest::keyClick(&window, Qt::Key_Right);  // the tour's keys are gone with it
    QCOMPARE(tour->current(), left);
  }

  void tourCalibratesAModelWithoutStatistics() {
    MainWindow window(MainWindow::Options{false, QStringLiteral("structure")});
    QSignalSpy opened(&window, &MainWindow::modelOpened);
    QSignalSpy statsOpened(&window, &MainWindow::statsOpened);
    window.openModel(kDemo);
    QTRY_COMPARE_WITH_TIMEOUT(opened.size(), 1, 30000);
    QVERIFY(!window.stats());
    QVERIFY(!window.calibration()->isRunning());
    window.teachingTour()->start(1);  // the outlier step needs statistics
    QVERIFY(window.calibration()->isRunning());
    // A shorter run supersedes it (16,384 tokens take minutes on a loaded 2-core machine).
    CalibrationChoice choice;
    choice.textFile = kAusten;
    choice.maxTokens = 2048;
    choice.device = QStringLiteral("cpu");
    window.calibrate(choice);
    QTRY_COMPARE_WITH_TIMEOUT(statsOpened.size(), 1, 240000);
    // The statistics opened on the view's own default (the layer with most outliers); the tour put
    // its step back.
    QVERIFY(mismatch(window, 1).isEmpty());
  }

  void presentationModeScalesTheFonts() {
    if (!haveDisplay()) QSKIP("needs an X display with OpenGL (xvfb-run)");
    MainWindow window(MainWindow::Options{false, QStringLiteral("structure")});
    window.resize(1400, 900);
    window.show();
    QVERIFY(QTest::qWaitForWindowExposed(&window));
    QSignalSpy opened(&window, &MainWindow::modelOpened);
    window.openModel(kDemo);
    QTRY_COMPARE_WITH_TIMEOUT(opened.size(), 1, 30000);
    ImGuiCanvas* canvas = window.canvas();
    canvas->renderNow(2);
    if (canvas->bodyFontSize() != 16.0f) QSKIP("DejaVu Sans not installed (fonts-dejavu-core): the default font has its own size");

    QAction* present = helpAction(window, QStringLiteral("&Presentation Mode"));
    QVERIFY(present);
    QCOMPARE(present->shortcut(), QKeySequence(Qt::Key_F11));
    auto* structureDock = window.findChild<QDockWidget*>(QStringLiteral("structureDock"));
    auto* toolBar = window.findChild<QToolBar*>(QStringLiteral("viewToolBar"));
    QVERIFY(structureDock && structureDock->isVisible() && toolBar->isVisible());

    present->trigger();  // F11: starts the tour if needed
    TeachingTour* tour = window.teachingTour();
    QVERIFY(tour->isActive());
    QVERIFY(tour->presentation());
    QVERIFY(present->isChecked());
    canvas->renderNow(2);
    QCOMPARE(canvas->uiScale(), views::kPresentationScale);
    QCOMPARE(canvas->bodyFontSize(), 16.0f * views::kPresentationScale);
    QVERIFY(!structureDock->isVisible());
    QVERIFY(!toolBar->isVisible());
    QVERIFY(tour->narrationDock()->isVisible());

    present->trigger();
    QVERIFY(!tour->presentation());
    canvas->renderNow(2);
    QCOMPARE(canvas->bodyFontSize(), 16.0f);
    QVERIFY(structureDock->isVisible() && toolBar->isVisible());

    // Esc leaves presentation mode together with the tour.
    present->trigger();
    QTest::keyClick(&window, Qt::Key_Escape);
    QVERIFY(!tour->isActive() && !tour->presentation() && !present->isChecked());
    canvas->renderNow(2);
    QCOMPARE(canvas->bodyFontSize(), 16.0f);

    // Closing the window ends the tour before the window saves its layout: no narration, no
    // full screen, the other docks back.
    present->trigger();
    QVERIFY(tour->presentation() && !structureDock->isVisibleTo(&window));
    window.close();
    QVERIFY(!tour->isActive() && !tour->presentation());
    QVERIFY(!window.isFullScreen());
    QVERIFY(structureDock->isVisibleTo(&window));
    QVERIFY(!tour->narrationDock()->isVisibleTo(&window));
  }

  void screenshotOfTheOutlierStep() {
    if (!haveDisplay()) QSKIP("needs an X display with OpenGL (xvfb-run)");
    QTemporaryDir dir;
    const QString stats = dir.filePath(QStringLiteral("stats.safetensors"));
    QProcess calibrate;
    calibrate.start(cli(), {QStringLiteral("calibrate"), kDemo, QStringLiteral("--file"), kAusten, QStringLiteral("--out"),
                            stats, QStringLiteral("--max-tokens"), QStringLiteral("2048"), QStringLiteral("--seq-len"),
                            QStringLiteral("512"), QStringLiteral("--batch"), QStringLiteral("4"),
                            QStringLiteral("--device"), QStringLiteral("cpu")});
    QVERIFY(calibrate.waitForFinished(300000));
    QCOMPARE(calibrate.exitCode(), 0);

    const QString out = dir.filePath(QStringLiteral("tour.png"));
    QProcess app;
    QProcessEnvironment env = QProcessEnvironment::systemEnvironment();
    env.insert(QStringLiteral("QT_QPA_PLATFORM"), QStringLiteral("xcb"));
    env.insert(QStringLiteral("XDG_RUNTIME_DIR"), QDir::tempPath());
    app.setProcessEnvironment(env);
    app.start(QCoreApplication::applicationDirPath() + QStringLiteral("/mambascope"),
              {kDemo, QStringLiteral("--stats"), stats, QStringLiteral("--tour"), QStringLiteral("2"),
               QStringLiteral("--presentation"), QStringLiteral("--screenshot"), out});
    QVERIFY(app.waitForFinished(120000));
    QVERIFY2(app.exitCode() == 0, app.readAllStandardError().constData());
    const QImage image(out);
    QCOMPARE(image.size(), QSize(1400, 900));
    // Step 2 is the channel maxima of layers.3.out_proj.input: its outlier bar (Okabe–Ito
    // vermillion) stands in the picture, drawn large.
    int vermillion = 0;
    for (int y = 0; y < image.height(); ++y)
      for (int x = 0; x < image.width(); ++x)
        if (image.pixelColor(x, y).name() == QStringLiteral("#e8612c")) ++vermillion;
    QVERIFY2(vermillion > 300, qPrintable(QStringLiteral("%1 outlier pixels").arg(vermillion)));
    // No docks on the left: the canvas starts at the window's edge (its background colour).
    QCOMPARE(image.pixelColor(8, 300).name(), QStringLiteral("#1e1f22"));

    // Step 6, Hadamard, at a projector's 1920x1080 (the before/after plots need the height that
    // 1.75x fonts and the narration leave there): the picture waits for the preview, so both sides
    // are drawn: teal (Palette::activation) histogram bars in the left half and in the right half.
    const QString hadamard = dir.filePath(QStringLiteral("tour6.png"));
    app.start(QCoreApplication::applicationDirPath() + QStringLiteral("/mambascope"),
              {kDemo, QStringLiteral("--stats"), stats, QStringLiteral("--tour"), QStringLiteral("6"),
               QStringLiteral("--presentation"), QStringLiteral("--size"), QStringLiteral("1920x1080"),
               QStringLiteral("--screenshot"), hadamard});
    QVERIFY(app.waitForFinished(180000));
    QVERIFY2(app.exitCode() == 0, app.readAllStandardError().constData());
    const QImage after(hadamard);
    QCOMPARE(after.size(), QSize(1920, 1080));
    int left = 0, right = 0;
    for (int y = 0; y < after.height(); ++y)
      for (int x = 0; x < after.width(); ++x) {
        const QColor c = after.pixelColor(x, y);
        if (std::abs(c.red() - 0x2F) < 24 && std::abs(c.green() - 0xA5) < 24 && std::abs(c.blue() - 0x9A) < 24)
          ++(x < after.width() / 2 ? left : right);
      }
    QVERIFY2(left > 2000 && right > 2000, qPrintable(QStringLiteral("teal pixels: %1 left, %2 right").arg(left).arg(right)));
  }
};

MS_GL_TEST_MAIN(TestTeachingGui)
#include "tst_teaching_gui.moc"
