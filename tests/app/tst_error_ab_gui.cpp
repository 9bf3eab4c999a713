// A/B comparison in the Error view (issue 6), driven as a user drives it on the demo Mamba-1:
//   - Pin as A at W4 A8 H8 (DSQ), then the H slider to 4: the comparison holds both results, and
//     every number of A and B is the number requant-serve replied for that setting, compared
//     exactly with the JSON of an independent requant-serve run (same batch, one thread: the
//     replies are bit-identical across runs);
//   - Δ is B − A exactly: the end-to-end metrics and the table's SQNR and MSE columns (both exact
//     SQNR: 0), and the A/B table's CSV (File › Export Table) reads back those numbers;
//   - Swap: the old B is A, the controls show A's old setting and the recomputed B equals the old
//     A bit for bit; Clear A leaves A/B (no comparison, the single-scheme table again);
//   - a new model clears A;
//   - a workspace keeps A's setting: opened again, A's result is asked for again and pinned (the
//     same numbers), and the controls are B's setting again;
//   - under a real GL context: the shortcut Ctrl+Shift+A pins, and a picture of the view in A/B
//     mode is written ($MAMBASCOPE_AB_SCREENSHOT, else a temporary file): amber A and blue B bars;
//   - a click on a token of the text strip in A/B mode (through the ImGui input queue) selects it
//     and stays selected: every point's SQNR at that token under A and under B, and Δ = B − A, are
//     the two results' per-token values exactly; Clear A keeps the token for the single scheme.
// Needs the built CLI (`mambascope-cli requant-serve`) and the extracted texts.
#include <QComboBox>
#include <QDir>
#include <QImage>
#include <QMouseEvent>
#include <QFile>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QProcess>
#include <QPushButton>
#include <QSlider>
#include <QTemporaryDir>
#include <QtTest>

#include <cmath>
#include <cstdlib>
#include <limits>

#include "app/calibration_process.h"
#include "app/imgui_canvas.h"
#include "app/main_window.h"
#include "app/quant_panel.h"
#include "app/requant_process.h"
#include "app/screenshot_runner.h"
#include "views/error_ab.h"
#include "views/tables.h"
#include "gl_test_main.h"
#include "window_fixture.h"

using namespace ms;
using namespace ms::app;

namespace {
const QString kDemo = (QString::fromUtf8(MAMBASCOPE_SOURCE_DIR) + QStringLiteral("/resources/models/demo-mamba"));
using SnapshotPtr = std::shared_ptr<const views::error::Snapshot>;

double sqnrOf(const QJsonValue& v) { return v.isNull() ? std::numeric_limits<double>::infinity() : v.toDouble(); }
double parsed(const std::string& text) { return std::strtod(text.c_str(), nullptr); }  // "inf" and "nan" too

// An independent requant-serve (the app's arguments) answering each setting in turn: the JSON
// the app's snapshots must hold.
QList<QJsonObject> serve(const QList<QJsonObject>& settings) {
  QProcess p;
  p.start(CalibrationProcess::cliPath(), RequantProcess::arguments(RequantProcess::Options{kDemo}));
  QList<QJsonObject> replies;
  if (!p.waitForStarted(10000)) return replies;
  const auto nextLine = [&p]() -> QJsonObject {
    while (!p.canReadLine())
      if (!p.waitForReadyRead(120000)) return {};
    return QJsonDocument::fromJson(p.readLine()).object();
  };
  if (nextLine().value(QStringLiteral("type")).toString() != QLatin1String("ready")) return replies;
  int id = 0;
  for (QJsonObject s : settings) {  // one at a time: a request overtaken by a newer one is skipped
    s.insert(QStringLiteral("id"), ++id);
    p.write(QJsonDocument(s).toJson(QJsonDocument::Compact) + '\n');
    replies << nextLine();
  }
  p.closeWriteChannel();  // ends the server
  if (!p.waitForFinished(10000)) {
    p.kill();
    p.waitForFinished(3000);
  }
  return replies;
}

// Every number of `s` equals the reply's.
void compareWithReply(const views::error::Snapshot& s, const QJsonObject& reply) {
  QCOMPARE(reply.value(QStringLiteral("type")).toString(), QStringLiteral("result"));
  const QJsonObject e = reply.value(QStringLiteral("end_to_end")).toObject();
  QVERIFY(s.kl_mean == e.value(QStringLiteral("kl_mean")).toDouble());
  QVERIFY(s.kl_p90 == e.value(QStringLiteral("kl_p90")).toDouble());
  QVERIFY(s.top1 == e.value(QStringLiteral("top1_agreement")).toDouble());
  QVERIFY(s.ppl_quant == e.value(QStringLiteral("perplexity_quant")).toDouble());
  QVERIFY(s.ppl_float == e.value(QStringLiteral("perplexity_float")).toDouble());
  for (const auto& [rows, key] : {std::pair{&s.points, "points"}, std::pair{&s.weights, "weights"}}) {
    const QJsonArray json = reply.value(QLatin1String(key)).toArray();
    QCOMPARE(rows->size(), size_t(json.size()));
    for (size_t i = 0; i < rows->size(); ++i) {
      const QJsonObject o = json[static_cast<int>(i)].toObject();
      const views::error::PointRow& r = (*rows)[i];
      QCOMPARE(QString::fromStdString(r.name), o.value(QStringLiteral("point")).toString());
      QVERIFY2(r.sqnr_db == sqnrOf(o.value(QStringLiteral("sqnr_db"))), r.name.c_str());
      QVERIFY2(r.mse == o.value(QStringLiteral("mse")).toDouble(), r.name.c_str());
      QVERIFY2(r.max_abs == o.value(QStringLiteral("max_abs_error")).toDouble(), r.name.c_str());
    }
  }
}

}  // namespace

class TestErrorAbGui : public QObject {
  Q_OBJECT

 private Q_SLOTS:
  void initTestCase() {
    qputenv("MAMBASCOPE_CLI", MAMBASCOPE_CLI);
    qputenv("MAMBASCOPE_DATA_DIR", QByteArray(MAMBASCOPE_SOURCE_DIR) + "/resources");
    qRegisterMetaType<SnapshotPtr>();
  }

  void shortDescriptions() {
    QCOMPARE(QuantPanel::shortDescription(QJsonObject{{"wbits", 4}, {"abits", 8}, {"hbits", 8}, {"granularity", "channel"},
                                                      {"symmetric", true}, {"state_method", "dsq"}, {"act_scale", "dynamic"},
                                                      {"act_granularity", "token"}}),
             QStringLiteral("W4 A8 H8 dsq"));
    QCOMPARE(QuantPanel::shortDescription(QJsonObject{{"wbits", 3}, {"abits", 16}, {"hbits", 4}, {"granularity", "group:64"},
                                                      {"symmetric", false}, {"state_method", "tensor"},
                                                      {"layers", QJsonObject{{"2", QJsonObject{{"hbits", 8}}}}}}),
             QStringLiteral("W3 group:64 asym A16 H4 tensor +1 layer"));
  }

  // Δ's rule without a server: both exact is no change, one exact side is an infinite change.
  void deltaRule() {
    const double inf = std::numeric_limits<double>::infinity();
    QCOMPARE(views::error::ab_delta(inf, inf), 0.0);
    QCOMPARE(views::error::ab_delta(20.5, inf), inf);
    QCOMPARE(views::error::ab_delta(inf, 20.5), -inf);
    QCOMPARE(views::error::ab_delta(20.5, 14.25), 14.25 - 20.5);
  }

  void pinMoveSwapClear() {
    MainWindow window(MainWindow::Options{false, QStringLiteral("error")});
    QuantPanel* panel = window.quantPanel();
    QSignalSpy opened(&window, &MainWindow::modelOpened);
    window.openModel(kDemo);
    QTRY_COMPARE_WITH_TIMEOUT(opened.size(), 1, 30000);
    QVERIFY(!panel->pinButton()->isEnabled() || panel->snapshot());  // nothing to pin before a result
    const SnapshotPtr a = test::wait_for_latest(panel);
    QVERIFY2(a, "no reply from requant-serve");
    QVERIFY(!panel->comparison());
    QVERIFY(panel->pinButton()->isEnabled());
    QVERIFY(!panel->swapButton()->isEnabled());
    panel->pinButton()->click();  // the window is not shown: click() is the user's click
    QCOMPARE(panel->pinned(), a);
    const QJsonObject settingA = panel->pinnedSetting();
    QCOMPARE(settingA, panel->setting());
    QVERIFY(panel->comparison());  // A against itself until B moves: every Δ 0
    for (const auto& m : panel->comparison()->metrics) QCOMPARE(m.delta, 0.0);

    // B: the state at 4 bits (a slider move; A stays as pinned).
    panel->bitsSlider('H')->setValue(QuantPanel::positionOf(4));
    const SnapshotPtr b = test::wait_for_latest(panel);
    QVERIFY(b);
    QCOMPARE(panel->pinned(), a);
    const auto c = panel->comparison();
    QVERIFY(c);
    QCOMPARE(c->a, a);
    QCOMPARE(c->b, b);
    QCOMPARE(c->a_label, std::string("A: W4 A8 H8 dsq"));
    QCOMPARE(c->b_label, std::string("B: W4 A8 H4 dsq"));
    const QJsonObject settingB = panel->snapshotSetting();
    QCOMPARE(settingB.value(QStringLiteral("hbits")).toInt(), 4);

    // The exact numbers requant-serve gives for A and for B.
    const QList<QJsonObject> replies = serve({settingA, settingB});
    QCOMPARE(replies.size(), 2);
    compareWithReply(*c->a, replies[0]);
    compareWithReply(*c->b, replies[1]);
    const QJsonObject ea = replies[0].value(QStringLiteral("end_to_end")).toObject();
    const QJsonObject eb = replies[1].value(QStringLiteral("end_to_end")).toObject();
    QCOMPARE(c->metrics.size(), size_t(3));
    QVERIFY(c->metrics[0].a == ea.value(QStringLiteral("perplexity_quant")).toDouble());
    QVERIFY(c->metrics[0].b == eb.value(QStringLiteral("perplexity_quant")).toDouble());
    QVERIFY(c->metrics[1].a == ea.value(QStringLiteral("kl_mean")).toDouble());
    QVERIFY(c->metrics[1].b == eb.value(QStringLiteral("kl_mean")).toDouble());
    QVERIFY(c->metrics[2].a == 100.0 * ea.value(QStringLiteral("top1_agreement")).toDouble());
    QVERIFY(c->metrics[2].b == 100.0 * eb.value(QStringLiteral("top1_agreement")).toDouble());
    for (const auto& m : c->metrics) QVERIFY2(m.delta == m.b - m.a, m.name.c_str());
    QVERIFY(c->metrics[1].delta > 0);  // H4 hurts more than H8: a real difference, not zeros

    // The table: one row per point and weight, A, B and Δ = B − A exactly (from the JSON).
    const views::Table& t = c->table;
    QCOMPARE(t.columns[3].name, std::string("SQNR A (dB)"));
    QCOMPARE(t.columns[5].name, std::string("Δ SQNR (dB)"));
    QCOMPARE(t.rows.size(), b->points.size() + b->weights.size());
    QJsonArray rowsA = replies[0].value(QStringLiteral("points")).toArray(), rowsB = replies[1].value(QStringLiteral("points")).toArray();
    for (const QJsonValue& v : replies[0].value(QStringLiteral("weights")).toArray()) rowsA << v;
    for (const QJsonValue& v : replies[1].value(QStringLiteral("weights")).toArray()) rowsB << v;
    int changed = 0, bothExact = 0;
    for (size_t i = 0; i < t.rows.size(); ++i) {
      const auto& cells = t.rows[i].cells;
      const QJsonObject ja = rowsA[static_cast<int>(i)].toObject(), jb = rowsB[static_cast<int>(i)].toObject();
      QCOMPARE(QString::fromStdString(cells[0].exact), jb.value(QStringLiteral("point")).toString());
      const double sa = sqnrOf(ja.value(QStringLiteral("sqnr_db"))), sb = sqnrOf(jb.value(QStringLiteral("sqnr_db")));
      QVERIFY(parsed(cells[3].exact) == sa);
      QVERIFY(parsed(cells[4].exact) == sb);
      if (std::isinf(sa) && std::isinf(sb)) {
        QCOMPARE(parsed(cells[5].exact), 0.0);
        ++bothExact;
      } else {
        QVERIFY2(parsed(cells[5].exact) == sb - sa, cells[0].exact.c_str());
      }
      const double ma = ja.value(QStringLiteral("mse")).toDouble(), mb = jb.value(QStringLiteral("mse")).toDouble();
      QVERIFY(parsed(cells[6].exact) == ma && parsed(cells[7].exact) == mb);
      QVERIFY(parsed(cells[8].exact) == (ma == mb ? 0.0 : mb - ma));
      if (sb != sa) ++changed;
    }
    QVERIFY(changed > 0);
    // H is the state's bits: points of layer 0 upstream of its state are untouched (Δ 0).
    QCOMPARE(t.rows[0].cells[0].exact, std::string("layers.0.in_proj.input"));
    QCOMPARE(parsed(t.rows[0].cells[5].exact), 0.0);
    qInfo("A/B table: %zu rows, %d changed, %d exact in both; Δ mean KL %.6g nats, Δ ppl %.4f, Δ top-1 %.2f points",
          t.rows.size(), changed, bothExact, c->metrics[1].delta, c->metrics[0].delta, c->metrics[2].delta);

    // File › Export Table in A/B mode writes that table; the CSV reads back the same numbers.
    QString name;
    QVERIFY(window.currentTable(&name));
    QCOMPARE(name, QStringLiteral("error-ab-points.csv"));
    QTemporaryDir dir;
    const QString csvPath = dir.filePath(name);
    QCOMPARE(window.exportTable(csvPath), QString());
    QFile csvFile(csvPath);
    QVERIFY(csvFile.open(QIODevice::ReadOnly));
    const auto records = views::parse_csv(csvFile.readAll().toStdString());
    QVERIFY(records);
    QCOMPARE(records->size(), t.rows.size() + 1);
    QCOMPARE((*records)[0][5], std::string("Δ SQNR (dB)"));
    for (size_t i = 0; i < t.rows.size(); ++i)
      for (size_t k = 3; k < 9; ++k) {
        const double x = parsed((*records)[i + 1][k]), y = parsed(t.rows[i].cells[k].exact);
        QVERIFY((std::isnan(x) && std::isnan(y)) || x == y);
      }

    // Swap: the old B becomes A; the controls take A's setting and the recomputed B is A's result.
    panel->swapButton()->click();  // the window is not shown: click() is the user's click
    QCOMPARE(panel->pinned(), b);
    QCOMPARE(panel->pinnedSetting(), settingB);
    QCOMPARE(panel->setting(), settingA);
    QCOMPARE(QuantPanel::bitsOf(panel->bitsSlider('H')->value()), 8);
    QCOMPARE(panel->comparison()->a_label, std::string("A: W4 A8 H4 dsq"));
    const SnapshotPtr b2 = test::wait_for_latest(panel);
    QVERIFY(b2 && b2 != a);
    compareWithReply(*b2, replies[0]);
    const auto swapped = panel->comparison();
    QCOMPARE(swapped->a, b);
    QCOMPARE(swapped->b, b2);
    QCOMPARE(swapped->b_label, std::string("B: W4 A8 H8 dsq"));
    for (size_t i = 0; i < swapped->metrics.size(); ++i) QVERIFY(swapped->metrics[i].delta == -c->metrics[i].delta);

    // Clear A: back to the single-scheme view and table.
    panel->clearAButton()->click();  // the window is not shown: click() is the user's click
    QVERIFY(!panel->pinned());
    QVERIFY(!panel->comparison());
    QVERIFY(!panel->clearAButton()->isEnabled());
    QVERIFY(window.currentTable(&name));
    QCOMPARE(name, QStringLiteral("error-points.csv"));

    // A new model (here: the same one again, a new worker and batch) clears A.
    QVERIFY(panel->pinA());
    QVERIFY(panel->comparison());
    window.openModel(kDemo);
    QTRY_COMPARE_WITH_TIMEOUT(opened.size(), 2, 30000);
    QVERIFY(!panel->pinned());
    QVERIFY(!panel->comparison());
  }

  void workspaceRestoresA() {
    QTemporaryDir dir;
    const QString ws = dir.filePath(QStringLiteral("ab.mambascope-workspace"));
    QJsonObject settingA, settingB;
    SnapshotPtr a;
    {
      MainWindow window(MainWindow::Options{false, QStringLiteral("error")});
      QuantPanel* panel = window.quantPanel();
      QSignalSpy opened(&window, &MainWindow::modelOpened);
      window.openModel(kDemo);
      QTRY_COMPARE_WITH_TIMEOUT(opened.size(), 1, 30000);
      a = test::wait_for_latest(panel);
      QVERIFY(a && panel->pinA());
      settingA = panel->pinnedSetting();
      panel->bitsSlider('W')->setValue(QuantPanel::positionOf(3));
      QVERIFY(test::wait_for_latest(panel));
      settingB = panel->setting();
      QCOMPARE(window.saveWorkspace(ws), QString());
    }
    MainWindow window(MainWindow::Options{false, QStringLiteral("structure")});
    QuantPanel* panel = window.quantPanel();
    QSignalSpy restored(&window, &MainWindow::workspaceOpened);
    window.openWorkspace(ws);
    QTRY_COMPARE_WITH_TIMEOUT(restored.size(), 1, 60000);
    QTRY_VERIFY_WITH_TIMEOUT(panel->comparison() && panel->comparison()->b->id == panel->process()->latestRequest(), 60000);
    QCOMPARE(panel->pinnedSetting(), settingA);
    QCOMPARE(panel->setting(), settingB);
    QCOMPARE(panel->snapshotSetting(), settingB);
    QVERIFY(panel->pinned()->kl_mean == a->kl_mean);  // recomputed on the same batch: the same bits
    QVERIFY(panel->pinned()->ppl_quant == a->ppl_quant);
    QCOMPARE(panel->comparison()->b_label, std::string("B: W3 A8 H8 dsq"));
  }

  void shortcutAndPicture() {
    if (qEnvironmentVariableIsEmpty("DISPLAY") || QGuiApplication::platformName() == QLatin1String("offscreen"))
      QSKIP("no DISPLAY: the GL canvas needs X (run the tests under xvfb-run -a -s '-screen 0 1600x1000x24')");
    MainWindow window(MainWindow::Options{false, QStringLiteral("error")});
    window.canvas()->setInputEnabled(false);  // the Xvfb pointer sits mid-screen: no hover
    window.resize(1400, 900);
    window.move(0, 0);
    window.show();
    QVERIFY(QTest::qWaitForWindowExposed(&window));
    window.activateWindow();
    QSignalSpy opened(&window, &MainWindow::modelOpened);
    window.openModel(kDemo);
    QTRY_COMPARE_WITH_TIMEOUT(opened.size(), 1, 30000);
    QuantPanel* panel = window.quantPanel();
    const SnapshotPtr a = test::wait_for_latest(panel);
    QVERIFY(a);
    QTest::keyClick(&window, Qt::Key_A, Qt::ControlModifier | Qt::ShiftModifier);  // Pin as A
    QTRY_COMPARE_WITH_TIMEOUT(panel->pinned(), a, 5000);
    // B: the state at 4 bits with one scale per tensor (the README's contrast to DSQ).
    panel->stateMethodBox()->setCurrentIndex(panel->stateMethodBox()->findData(QStringLiteral("tensor")));
    panel->bitsSlider('H')->setValue(QuantPanel::positionOf(4));
    QVERIFY(test::wait_for_latest(panel));
    QVERIFY(panel->comparison());
    QCOMPARE(panel->comparison()->b_label, std::string("B: W4 A8 H4 tensor"));
    const QImage image = ScreenshotRunner::grabWindow(&window);
    QString out = qEnvironmentVariable("MAMBASCOPE_AB_SCREENSHOT");
    QTemporaryDir dir;
    if (out.isEmpty()) out = dir.filePath(QStringLiteral("error-ab.png"));
    QVERIFY(image.save(out));
    // Both schemes' bars are drawn: amber (A, Palette::selection) and blue (B, Palette::weight).
    int amber = 0, blue = 0;
    for (int y = 0; y < image.height(); ++y)
      for (int x = image.width() / 3; x < image.width(); ++x) {
        const QColor col = image.pixelColor(x, y);
        if (std::abs(col.red() - 0xFF) < 16 && std::abs(col.green() - 0xB4) < 16 && std::abs(col.blue() - 0x3C) < 16) ++amber;
        if (std::abs(col.red() - 0x4C) < 16 && std::abs(col.green() - 0x82) < 16 && std::abs(col.blue() - 0xE0) < 16) ++blue;
      }
    QVERIFY2(amber > 500, qPrintable(QStringLiteral("%1 amber pixels").arg(amber)));
    QVERIFY2(blue > 500, qPrintable(QStringLiteral("%1 blue pixels").arg(blue)));
    // Ctrl+Shift+Backspace clears A.
    QTest::keyClick(&window, Qt::Key_Backspace, Qt::ControlModifier | Qt::ShiftModifier);
    QTRY_VERIFY_WITH_TIMEOUT(!panel->comparison(), 5000);
  }

  void clickATokenComparesAAndB() {
    if (qEnvironmentVariableIsEmpty("DISPLAY") || QGuiApplication::platformName() == QLatin1String("offscreen"))
      QSKIP("no DISPLAY: the GL canvas needs X (run the tests under xvfb-run -a -s '-screen 0 1600x1000x24')");
    MainWindow window(MainWindow::Options{false, QStringLiteral("error")});
    QVERIFY(test::show_window(window) && test::open_model(window, kDemo));
    QuantPanel* panel = window.quantPanel();
    QVERIFY(test::wait_for_latest(panel));
    QVERIFY(panel->pinA());  // A: W4 A8 H8 dsq
    panel->stateMethodBox()->setCurrentIndex(panel->stateMethodBox()->findData(QStringLiteral("tensor")));
    panel->bitsSlider('H')->setValue(QuantPanel::positionOf(4));
    QVERIFY(test::wait_for_latest(panel));
    const auto c = panel->comparison();
    QVERIFY(c && c->b_label == "B: W4 A8 H4 tensor");
    ImGuiCanvas* canvas = window.canvas();
    canvas->renderNow(3);
    QCOMPARE(window.errorState().selected_token, -1);
    const int token = test::click_a_token(window);
    QVERIFY2(token > 0, "no token selected by the clicks in A/B mode");
    canvas->renderNow(2);
    QCOMPARE(window.errorState().selected_token, token);  // A/B keeps it (it used to drop it)

    // What the bars and the token table show: each point at that token, from both results' data.
    const int tokens = c->b->windows * c->b->window_length;
    QCOMPARE(c->a->windows * c->a->window_length, tokens);
    const auto rows = views::error::points_at_token(*c, token);
    QCOMPARE(rows.size(), c->b->points.size());
    int differ = 0;
    for (size_t p = 0; p < rows.size(); ++p) {
      const auto& r = rows[p];
      QCOMPARE(r.name, c->b->points[p].name);
      QCOMPARE(r.name, c->a->points[p].name);  // one model, one order
      const double a = c->a->token_sqnr[p * size_t(tokens) + size_t(token)];
      const double b = c->b->token_sqnr[p * size_t(tokens) + size_t(token)];
      QVERIFY2(r.a_db == a && r.b_db == b, r.name.c_str());
      if (std::isinf(a) && std::isinf(b)) QCOMPARE(r.delta, 0.0);
      else QVERIFY2(r.delta == b - a, r.name.c_str());
      if (r.state && r.delta != 0.0) ++differ;
    }
    QVERIFY(differ > 0);  // H4 per tensor against H8 DSQ moves the states at this token
    qInfo("token %d: %zu points, %d states differ; %s A %.3f dB, B %.3f dB", token, rows.size(), differ,
          rows[4].name.c_str(), rows[4].a_db, rows[4].b_db);
    QCOMPARE(window.exportView(QDir::temp().filePath(QStringLiteral("mambascope-error-ab-token.png"))), QString());

    // Clear A: the single-scheme view keeps the token.
    panel->clearAButton()->click();
    canvas->renderNow(2);
    QVERIFY(!panel->comparison());
    QCOMPARE(window.errorState().selected_token, token);
  }
};

MS_GL_TEST_MAIN(TestErrorAbGui)
#include "tst_error_ab_gui.moc"
