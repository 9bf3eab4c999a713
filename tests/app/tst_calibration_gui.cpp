// The Calibration dock driven as a user drives it (no GL needed: the window is not shown): open
// the demo model, press Calibrate, watch the progress bar, get the statistics views; cancel a long
// run with the Cancel button and get the partial statistics; calibrate on typed text, whose token
// count must equal what `mambascope-cli tokenize` says. Needs the built CLI and the extracted texts.
#include <QComboBox>
#include <QPlainTextEdit>
#include <QProcess>
#include <QProgressBar>
#include <QPushButton>
#include <QSignalSpy>
#include <QSpinBox>
#include <QtTest>

#include "app/calibration_panel.h"
#include "app/main_window.h"
#include "window_fixture.h"

using namespace ms;
using namespace ms::app;

namespace {
const QString kDemo = (QString::fromUtf8(MAMBASCOPE_SOURCE_DIR) + QStringLiteral("/resources/models/demo-mamba"));
const QString kAusten = (QString::fromUtf8(MAMBASCOPE_SOURCE_DIR) + QStringLiteral("/resources/texts/austen.txt"));
}  // namespace

class TestCalibrationGui : public QObject {
  Q_OBJECT

 private Q_SLOTS:
  void initTestCase() {
    qputenv("MAMBASCOPE_CLI", MAMBASCOPE_CLI);
    qputenv("MAMBASCOPE_DATA_DIR", QByteArray(MAMBASCOPE_SOURCE_DIR) + "/resources");
    QVERIFY2(QFileInfo(kAusten).isFile(), "resources/texts/austen.txt missing: run resources/training/extract_texts.sh");
  }

  void progressFormat() {
    CalibrationProgress p;
    p.done = 4096;
    p.total = 16384;
    p.rate = 1650.4;
    p.etaSeconds = 7.45;
    QCOMPARE(progressText(p), QStringLiteral("4,096 / 16,384 tokens · 1,650 tok/s · 8 s left"));
    p.etaSeconds = 125.0;
    QCOMPARE(progressText(p), QStringLiteral("4,096 / 16,384 tokens · 1,650 tok/s · 2 min 5 s left"));
    p.done = p.total;
    QCOMPARE(progressText(p), QStringLiteral("16,384 / 16,384 tokens · 1,650 tok/s"));
  }

  void calibrateButtonFeedsTheViews() {
    MainWindow window(MainWindow::Options{false, QStringLiteral("state-heatmap")});
    CalibrationPanel* panel = window.calibrationPanel();
    QVERIFY(!panel->calibrateButton()->isEnabled());  // no model yet
    // The shipped texts are offered, Austen chosen by default.
    QCOMPARE(panel->sourceBox()->currentData().toString(), kAusten);
    QVERIFY(panel->sourceBox()->findData((QString::fromUtf8(MAMBASCOPE_SOURCE_DIR) + QStringLiteral("/resources/texts/moby-dick.txt"))) >= 0);

    QSignalSpy statsOpened(&window, &MainWindow::statsOpened);
    QVERIFY(test::open_model(window, kDemo));
    QVERIFY(panel->calibrateButton()->isEnabled());
    QVERIFY(!panel->cancelButton()->isEnabled());
    panel->tokensBox()->setValue(3000);
    panel->calibrateButton()->click();  // the window is not shown: no mouse events reach it
    QVERIFY(window.calibration()->isRunning());
    QVERIFY(!panel->calibrateButton()->isEnabled());
    QVERIFY(panel->cancelButton()->isEnabled());
    QTRY_COMPARE_WITH_TIMEOUT(statsOpened.size(), 1, 120000);
    QCOMPARE(window.stats()->tokens, 3000);
    QVERIFY(!window.stats()->cancelled);
    QCOMPARE(window.view(), QStringLiteral("state-heatmap"));  // a statistics view stays where it is
    QCOMPARE(window.stateHeatmapState().layer, window.stats()->state_layer_with_most_outliers());
    QVERIFY(panel->calibrateButton()->isEnabled());
    QCOMPARE(panel->progressBar()->value(), 1000);
  }

  void cancelButtonKeepsWhatWasCollected() {
    MainWindow window(MainWindow::Options{false, QStringLiteral("structure")});
    QSignalSpy statsOpened(&window, &MainWindow::statsOpened);
    QVERIFY(test::open_model(window, kDemo));
    CalibrationPanel* panel = window.calibrationPanel();
    panel->tokensBox()->setValue(400000);
    QSignalSpy progress(window.calibration(), &CalibrationProcess::progressChanged);
    panel->calibrateButton()->click();  // the window is not shown: no mouse events reach it
    QVERIFY2(progress.wait(120000), "no progress from the CLI");
    QVERIFY2(panel->progressBar()->format().contains(QStringLiteral("/ 400,000 tokens")),
             qPrintable(panel->progressBar()->format()));
    QVERIFY(panel->progressBar()->value() > 0);
    panel->cancelButton()->click();
    QTRY_COMPARE_WITH_TIMEOUT(statsOpened.size(), 1, 60000);
    QVERIFY(window.stats()->cancelled);
    QVERIFY(window.stats()->tokens > 0 && window.stats()->tokens < 400000);
    QCOMPARE(window.view(), QStringLiteral("channel-maxima"));  // from the structure, the statistics
  }

  void typedText() {
    MainWindow window(MainWindow::Options{false, QStringLiteral("distributions")});
    QSignalSpy statsOpened(&window, &MainWindow::statsOpened);
    QVERIFY(test::open_model(window, kDemo));
    CalibrationPanel* panel = window.calibrationPanel();
    const QString text = QStringLiteral("It is a truth universally acknowledged, that a single man in possession of a "
                                        "good fortune, must be in want of a wife. — Élisabeth, naïve café\n");
    panel->sourceBox()->setCurrentIndex(panel->sourceBox()->findText(QStringLiteral("Typed text")));
    QVERIFY(panel->choice().textFile.isEmpty());
    QVERIFY(!panel->calibrateButton()->isEnabled());  // nothing typed yet
    panel->typedTextEdit()->setPlainText(text);
    QCOMPARE(panel->choice().typedText, text);
    panel->calibrateButton()->click();  // the window is not shown: no mouse events reach it
    QTRY_COMPARE_WITH_TIMEOUT(statsOpened.size(), 1, 120000);

    // The same text through `mambascope-cli tokenize` (byte for byte: the app wrote it as UTF-8).
    QProcess tokenize;
    tokenize.start(QString::fromUtf8(MAMBASCOPE_CLI), {QStringLiteral("tokenize"), kDemo, QStringLiteral("--text"), text});
    QVERIFY(tokenize.waitForFinished(60000));
    QCOMPARE(tokenize.exitCode(), 0);
    const qsizetype ids = QString::fromUtf8(tokenize.readAllStandardOutput()).split(QLatin1Char(' '), Qt::SkipEmptyParts).size();
    QVERIFY(ids > 10);
    QCOMPARE(window.stats()->tokens, static_cast<int64_t>(ids));
  }
};

QTEST_MAIN(TestCalibrationGui)
#include "tst_calibration_gui.moc"
