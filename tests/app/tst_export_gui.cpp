// File › Export Quantized… driven as a user drives it (no GL needed: the window is not shown):
// open the demo model, press Ctrl+E, choose hf and W8, export into a temporary folder and find the
// checkpoint, mambascope.json and the report; start another export and cancel it (SIGINT, and a
// second time killed outright) and find nothing left in the folder or beside it. Needs the built
// CLI and the extracted texts.
#include <QAction>
#include <QCheckBox>
#include <QComboBox>
#include <QDir>
#include <QJsonDocument>
#include <QJsonArray>
#include <QJsonObject>
#include <QLabel>
#include <QLineEdit>
#include <QPlainTextEdit>
#include <QProgressBar>
#include <QPushButton>
#include <QSignalSpy>
#include <QSpinBox>
#include <QTemporaryDir>
#include <QtTest>

#include "app/export_dialog.h"
#include "app/export_process.h"
#include "app/main_window.h"

using namespace ms;
using namespace ms::app;

namespace {
const QString kDemo = (QString::fromUtf8(MAMBASCOPE_SOURCE_DIR) + QStringLiteral("/resources/models/demo-mamba"));

QJsonObject readJson(const QString& path) {
  QFile f(path);
  if (!f.open(QIODevice::ReadOnly)) return {};
  return QJsonDocument::fromJson(f.readAll()).object();
}
QStringList entries(const QString& dir) {
  return QDir(dir).entryList(QDir::AllEntries | QDir::Hidden | QDir::NoDotAndDotDot, QDir::Name);
}
}  // namespace

class TestExportGui : public QObject {
  Q_OBJECT
  QTemporaryDir tmp_;

  // Opens the demo model and the dialog through its shortcut.
  ExportDialog* openDialog(MainWindow& window) {
    QSignalSpy opened(&window, &MainWindow::modelOpened);
    window.openModel(kDemo);
    if (!QTest::qWaitFor([&] { return opened.size() == 1; }, 30000)) return nullptr;
    QAction* action = nullptr;
    for (QAction* a : window.findChildren<QAction*>())
      if (a->shortcut() == QKeySequence(Qt::CTRL | Qt::Key_E)) action = a;
    if (!action) return nullptr;
    action->trigger();
    return window.findChild<ExportDialog*>();
  }

 private Q_SLOTS:
  void initTestCase() {
    QVERIFY(tmp_.isValid());
    qputenv("MAMBASCOPE_CLI", MAMBASCOPE_CLI);
    qputenv("MAMBASCOPE_DATA_DIR", QByteArray(MAMBASCOPE_SOURCE_DIR) + "/resources");
  }

  void argumentsAndProgressLines() {
    ExportRequest r;
    r.model = QStringLiteral("/m");
    r.out = QStringLiteral("/o");
    r.wbits = 4;
    r.granularity = QStringLiteral("group:64");
    r.symmetric = false;
    r.evaluate = false;
    QCOMPARE(ExportProcess::arguments(r),
             QStringList({"quantize", "/m", "--method", "rtn", "--out", "/o", "--format", "hf", "--json", "--wbits",
                          "4", "--granularity", "group:64", "--asym", "--no-eval"}));
    r.format = QStringLiteral("gguf");
    r.ggufType = QStringLiteral("q4_0");
    r.evaluate = true;
    QCOMPARE(ExportProcess::arguments(r), QStringList({"quantize", "/m", "--method", "rtn", "--out", "/o", "--format",
                                                       "gguf", "--json", "--gguf-type", "q4_0"}));
    const auto p = ExportProcess::parseProgressLine(QStringLiteral("eval: 45% (460/1024 tokens, 300 tok/s)"));
    QVERIFY(p.has_value());
    QCOMPARE(p->phase, QStringLiteral("eval"));
    QCOMPARE(p->done, 460);
    QCOMPARE(p->total, 1024);
    const auto w = ExportProcess::parseProgressLine(QStringLiteral("quantize: 29% (18/62 tensors, 40 tensors/s)"));
    QVERIFY(w.has_value());
    QCOMPARE(w->phase, QStringLiteral("quantize"));
    QCOMPARE(w->total, 62);
    QVERIFY(!ExportProcess::parseProgressLine(QStringLiteral("error: something: 45% (1/2 tokens, 3 tok/s)")));
    QCOMPARE(ExportProcess::temporaryDirectory(QStringLiteral("/a/b/out/"), 42), QStringLiteral("/a/b/.out.tmp-42"));
  }

  // The weight bits follow the format: HF checkpoints take every RTN width 2..15, packed codes
  // 2..8 (a wider choice clamps to 8); the request carries the box's value.
  void bitsFollowFormat() {
    ExportDialog dialog(kDemo);
    QSpinBox* bits = dialog.bitsBox();
    QCOMPARE(dialog.formatBox()->currentData().toString(), QStringLiteral("hf"));
    QCOMPARE(bits->minimum(), 2);
    QCOMPARE(bits->maximum(), 15);
    bits->setValue(12);
    QCOMPARE(dialog.request().wbits, 12);
    dialog.formatBox()->setCurrentIndex(dialog.formatBox()->findData(QStringLiteral("packed")));
    QCOMPARE(bits->maximum(), 8);
    QCOMPARE(dialog.request().wbits, 8);
    dialog.formatBox()->setCurrentIndex(dialog.formatBox()->findData(QStringLiteral("hf")));
    QCOMPARE(bits->maximum(), 15);
    bits->setValue(15);
    QCOMPARE(dialog.request().wbits, 15);
  }

  void exportHfW8() {
    MainWindow window(MainWindow::Options{false, QStringLiteral("structure")});
    ExportDialog* dialog = openDialog(window);
    QVERIFY(dialog);
    dialog->formatBox()->setCurrentIndex(dialog->formatBox()->findData(QStringLiteral("hf")));
    QVERIFY(!dialog->ggufTypeBox()->isEnabled());
    dialog->methodsBox()->setCurrentText(QStringLiteral("rtn"));
    dialog->bitsBox()->setValue(8);
    dialog->granularityBox()->setCurrentText(QStringLiteral("channel"));
    const QString out = tmp_.filePath(QStringLiteral("demo-w8"));
    dialog->outputEdit()->setText(out);
    QSignalSpy finished(dialog, &ExportDialog::exportFinished);
    QSignalSpy failed(dialog, &ExportDialog::exportFailed);
    QTest::mouseClick(dialog->exportButton(), Qt::LeftButton);
    QVERIFY(dialog->process()->isRunning());
    QVERIFY(!dialog->exportButton()->isEnabled());
    QTRY_VERIFY_WITH_TIMEOUT(finished.size() == 1 || failed.size() == 1, 300000);
    QVERIFY2(failed.isEmpty(), failed.isEmpty() ? "" : qPrintable(failed.first().first().toString()));

    for (const char* f : {"model.safetensors", "config.json", "tokenizer.json", "mambascope.json", "report.json", "report.html"})
      QVERIFY2(QFileInfo(out + "/" + f).isFile(), f);
    const QJsonObject scheme = readJson(out + "/mambascope.json");
    QCOMPARE(scheme.value("format").toString(), QStringLiteral("hf"));
    QCOMPARE(scheme.value("weights").toObject().value("bits").toInt(), 8);
    QCOMPARE(scheme.value("weights").toObject().value("granularity").toString(), QStringLiteral("channel"));
    QCOMPARE(scheme.value("methods").toArray().first().toString(), QStringLiteral("rtn"));
    QCOMPARE(entries(tmp_.path()), QStringList{"demo-w8"});  // nothing else beside it
    // The summary shows the report's numbers, and the report can be opened.
    const QJsonObject e = readJson(out + "/report.json").value("end_to_end").toObject();
    QVERIFY(e.value("perplexity_quant").toDouble() > 0);
    const QString summary = dialog->summaryView()->toPlainText();
    QVERIFY2(summary.contains(QString::number(e.value("perplexity_quant").toDouble(), 'f', 3)), qPrintable(summary));
    QVERIFY(dialog->openReportButton()->isEnabled());
    QCOMPARE(dialog->reportPath(), out + "/report.html");
  }

  void cancelLeavesNoDebris() {
    MainWindow window(MainWindow::Options{false, QStringLiteral("structure")});
    ExportDialog* dialog = openDialog(window);
    QVERIFY(dialog);
    QTemporaryDir parent(tmp_.filePath(QStringLiteral("cancel-XXXXXX")));
    QVERIFY(parent.isValid());
    // SIGINT once the CLI reports progress (it is inside its temporary directory by then), then
    // a kill: the CLI cleans up after the first, ExportProcess after the second.
    for (const bool kill : {false, true}) {
      const QString out = parent.filePath(kill ? QStringLiteral("killed") : QStringLiteral("cancelled"));
      dialog->formatBox()->setCurrentIndex(dialog->formatBox()->findData(QStringLiteral("gguf")));
      dialog->outputEdit()->setText(out);
      QSignalSpy progress(dialog->process(), &ExportProcess::progressChanged);
      QSignalSpy cancelled(dialog, &ExportDialog::exportCancelled);
      QSignalSpy finished(dialog, &ExportDialog::exportFinished);
      dialog->startExport();
      QTRY_VERIFY_WITH_TIMEOUT(!progress.isEmpty() || finished.size() == 1, 120000);
      QVERIFY2(finished.isEmpty(), "the export finished before it could be cancelled");
      // The CLI is writing into its temporary sibling: what a careless cancel would leave behind.
      QVERIFY2(entries(parent.path()).join(',').contains(QStringLiteral(".tmp-")), qPrintable(entries(parent.path()).join(',')));
      QTest::mouseClick(dialog->cancelButton(), Qt::LeftButton);  // "Cancel" while running
      if (kill) dialog->process()->cancel();                       // asked twice: killed
      QTRY_VERIFY_WITH_TIMEOUT(cancelled.size() == 1, 120000);
      QVERIFY(!dialog->process()->isRunning());
      QVERIFY(!QFileInfo::exists(out));
      QCOMPARE(entries(parent.path()), QStringList());  // no temporary sibling either
      QVERIFY(dialog->statusLabel()->text().contains(QStringLiteral("Cancelled")));
      QVERIFY(dialog->exportButton()->isEnabled());
    }
  }
};

QTEST_MAIN(TestExportGui)
#include "tst_export_gui.moc"
