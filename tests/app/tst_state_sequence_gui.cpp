// The state heatmap's sequence mode on the demo Mamba-1 under a real GL context (Xvfb): the
// Sequence toggle runs `mambascope-cli states` (layer 5, the first 64 tokens of the shipped text,
// H4 DSQ) in the background; Space plays and pauses, → and ← step; at token 5 the snapshot the
// view draws holds the file's numbers, read here byte for byte without the app's reader; another
// layer starts a new run and turning the mode off cancels it. Skips loudly without DISPLAY.
#include "gl_test_main.h"
#include <QApplication>
#include <QFile>
#include <QProcess>
#include <QSignalSpy>
#include <QTemporaryDir>
#include <QtTest>

#include <cstring>

#include <nlohmann/json.hpp>

#include "app/imgui_canvas.h"
#include "app/main_window.h"
#include "app/state_sequence_process.h"
#include "window_fixture.h"

using namespace ms;
using namespace ms::app;

namespace {

const QString kModel = (QString::fromUtf8(MAMBASCOPE_SOURCE_DIR) + QStringLiteral("/resources/models/demo-mamba"));
const QString kText = (QString::fromUtf8(MAMBASCOPE_SOURCE_DIR) + QStringLiteral("/resources/texts/austen.txt"));

// One float of a safetensors tensor at a flat index, from the raw bytes.
float raw_value(const QByteArray& bytes, const std::string& name, int64_t index) {
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | static_cast<uint8_t>(bytes[i]);
  const nlohmann::json header = nlohmann::json::parse(bytes.mid(8, static_cast<qsizetype>(n)).toStdString());
  const int64_t begin = header.at(name).at("data_offsets")[0].get<int64_t>();
  float v = 0.0f;
  std::memcpy(&v, bytes.constData() + 8 + n + begin + index * 4, 4);
  return v;
}

void key(ImGuiCanvas* canvas, Qt::Key k) {
  QTest::keyClick(canvas, k);
  canvas->renderNow(2);
}

}  // namespace

class TestStateSequenceGui : public QObject {
  Q_OBJECT

 private Q_SLOTS:
  void initTestCase() {
    if (qEnvironmentVariableIsEmpty("DISPLAY") || QGuiApplication::platformName() == QLatin1String("offscreen"))
      QSKIP("no DISPLAY: the GL canvas needs X (run the tests under xvfb-run -a -s '-screen 0 1600x1000x24')");
    qputenv("MAMBASCOPE_CLI", MAMBASCOPE_CLI);
    QVERIFY(m_dir.isValid());
    QProcess cli;
    cli.start(QString::fromUtf8(MAMBASCOPE_CLI),
              {"calibrate", kModel, "--file", kText, "--max-tokens", "256", "--seq-len", "256", "--batch", "1",
               "--device", "cpu", "--out", m_dir.filePath("stats.safetensors")});
    QVERIFY(cli.waitForFinished(300000));
    QVERIFY2(cli.exitCode() == 0, cli.readAllStandardError().constData());
  }

  void playStepAndMatchTheFile() {
    MainWindow::Options options{false, QStringLiteral("state-heatmap")};
    options.layer = 5;
    MainWindow window(options);
    QVERIFY(test::open_window_with_stats(window, kModel, m_dir.filePath("stats.safetensors"), 60000));
    QCOMPARE(window.stateHeatmapState().layer, 5);
    ImGuiCanvas* canvas = window.canvas();
    StateSequenceProcess* sequence = window.stateSequenceProcess();

    window.setStateSequence(true);
    canvas->renderNow(2);  // the first frame asks for the run
    QVERIFY(sequence->isRunning());
    QTRY_VERIFY_WITH_TIMEOUT(!sequence->isRunning(), 240000);
    QVERIFY2(sequence->snapshot(), sequence->sequence().status.c_str());
    const auto snap = sequence->snapshot();
    QCOMPARE(snap->layer, 5);
    QCOMPARE(snap->hbits, 4);
    QCOMPARE(snap->state_method, std::string("dsq"));
    QCOMPARE(snap->tokens, int64_t{64});
    QCOMPARE(snap->rows, int64_t{512});  // the demo's E 512 × N 16
    QCOMPARE(snap->states, int64_t{16});
    canvas->renderNow(2);
    QCOMPARE(window.stateHeatmapState().token, 0);

    // Space plays, Space pauses; then → and ← step (and stop playing) until token 5.
    key(canvas, Qt::Key_Space);
    QVERIFY(window.stateHeatmapState().playing);
    key(canvas, Qt::Key_Space);
    QVERIFY(!window.stateHeatmapState().playing);
    for (int i = 0; i < 70 && window.stateHeatmapState().token != 5; ++i)
      key(canvas, window.stateHeatmapState().token < 5 ? Qt::Key_Right : Qt::Key_Left);
    QCOMPARE(window.stateHeatmapState().token, 5);
    key(canvas, Qt::Key_Right);
    QCOMPARE(window.stateHeatmapState().token, 6);
    key(canvas, Qt::Key_Left);
    QCOMPARE(window.stateHeatmapState().token, 5);

    // What the view draws at token 5 is the file's numbers (channel 7, state 3; the scales).
    const QByteArray bytes = [&] {
      QFile f(sequence->outputPath());
      return f.open(QIODevice::ReadOnly) ? f.readAll() : QByteArray();
    }();
    QVERIFY(!bytes.isEmpty());
    const int64_t cell = (5 * 512 + 7) * 16 + 3;
    const float fl = raw_value(bytes, "float_states", cell), q = raw_value(bytes, "quant_states", cell);
    QCOMPARE(snap->at(SequenceSide::Float, 5, 7, 3), fl);
    QCOMPARE(snap->at(SequenceSide::Quantized, 5, 7, 3), q);
    QCOMPARE(snap->at(SequenceSide::Difference, 5, 7, 3), q - fl);
    QCOMPARE(snap->channel_scales_at(5)[7], raw_value(bytes, "channel_scales", 5 * 512 + 7));
    QCOMPARE(snap->state_scales_at(5)[3], raw_value(bytes, "state_scales", 5 * 16 + 3));
    // H4 moves the state somewhere at token 5 (else the Difference tab would show nothing).
    float moved = 0.0f;
    for (int64_t r = 0; r < 512; ++r)
      for (int64_t n = 0; n < 16; ++n) moved = std::max(moved, std::abs(snap->at(SequenceSide::Difference, 5, r, n)));
    QVERIFY(moved > 0.0f);
    QVERIFY(snap->difference_absmax >= moved);

    // Another layer starts a new run; turning the mode off cancels it and keeps the old snapshot.
    window.selectPoint(QuantPoint{4, Module::Ssm, Site::State});
    canvas->renderNow(2);
    QVERIFY(sequence->isRunning());
    window.setStateSequence(false);
    canvas->renderNow(2);
    QVERIFY(!sequence->isRunning());
    QCOMPARE(sequence->sequence().status, std::string("cancelled"));
    QCOMPARE(sequence->snapshot()->layer, 5);
  }

  // The state quantizer chosen for the sequence (its combo boxes: method, DSQ variant) reaches
  // `mambascope-cli states`: its arguments carry it, and the file the run writes (read back as
  // the snapshot the view draws) records that quantizer.
  void quantizerChoiceReachesTheCommand() {
    StateSequenceProcess::Request r;
    r.model = kModel;
    r.method = QStringLiteral("tensor");
    QStringList args = StateSequenceProcess::arguments(r, QStringLiteral("out.safetensors"));
    QCOMPARE(args.at(args.indexOf(QStringLiteral("--state-method")) + 1), QStringLiteral("tensor"));
    QVERIFY(!args.contains(QStringLiteral("--dsq-variant")));  // DSQ's alone
    r.method = QStringLiteral("dsq");
    r.dsqVariant = QStringLiteral("abs.max");
    args = StateSequenceProcess::arguments(r, QStringLiteral("out.safetensors"));
    QCOMPARE(args.at(args.indexOf(QStringLiteral("--dsq-variant")) + 1), QStringLiteral("abs.max"));

    MainWindow::Options options{false, QStringLiteral("state-heatmap")};
    options.layer = 5;
    MainWindow window(options);
    QVERIFY(test::open_window_with_stats(window, kModel, m_dir.filePath("stats.safetensors"), 60000));
    ImGuiCanvas* canvas = window.canvas();
    StateSequenceProcess* sequence = window.stateSequenceProcess();
    window.setStateSequence(true);
    window.setStateSequenceQuantizer(QStringLiteral("dsq"), QStringLiteral("abs.max"));
    canvas->renderNow(2);  // the frame asks for the run
    QVERIFY(sequence->isRunning());
    QTRY_VERIFY_WITH_TIMEOUT(!sequence->isRunning(), 240000);
    QVERIFY2(sequence->snapshot(), sequence->sequence().status.c_str());
    QCOMPARE(sequence->snapshot()->state_method, std::string("dsq"));
    QCOMPARE(sequence->snapshot()->dsq_variant, std::string("abs.max"));

    window.setStateSequenceQuantizer(QStringLiteral("channel"));
    canvas->renderNow(2);
    QVERIFY(sequence->isRunning());  // another quantizer: a new run
    QTRY_VERIFY_WITH_TIMEOUT(!sequence->isRunning(), 240000);
    QCOMPARE(sequence->snapshot()->state_method, std::string("channel"));
    canvas->renderNow(2);
    QVERIFY(!sequence->isRunning());  // the view has what it asked for: no new run
  }

 private:
  QTemporaryDir m_dir;
};

MS_GL_TEST_MAIN(TestStateSequenceGui)
#include "tst_state_sequence_gui.moc"
