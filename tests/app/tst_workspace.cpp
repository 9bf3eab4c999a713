// Workspaces (app/workspace.h, File › Save Workspace / Open Workspace), driving MainWindow:
//   - save → open in a fresh window restores every field: model, statistics, view, each view's
//     selection, the Quantization dock's setting (global bits, granularity, symmetry, state method,
//     activation scale, two layer overrides, one equal to the global bits), the Calibration
//     dock's typed text, tokens and device, and a hidden dock of the layout;
//   - paths under the workspace's folder are stored relative: the folder moved elsewhere opens;
//     paths outside it stay absolute;
//   - statistics calibrated in the app are copied beside the workspace and reopen from there;
//   - a workspace naming a missing statistics file opens the model and reports that file;
//     a missing model is reported and the rest (layout, Calibration dock) restored;
//   - a newer version, no version, and a file that is not JSON are refused with one line naming
//     the file.
#include <QCheckBox>
#include <QComboBox>
#include <QDockWidget>
#include <QFile>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QPlainTextEdit>
#include <QSignalSpy>
#include <QSlider>
#include <QSpinBox>
#include <QTemporaryDir>
#include <QtTest>

#include "app/main_window.h"
#include "app/quant_panel.h"
#include "app/workspace.h"
#include "tiny_model.h"
#include "tiny_stats.h"

using namespace ms;
using namespace ms::app;

namespace {

QJsonObject readJson(const QString& path) {
  QFile file(path);
  return file.open(QIODevice::ReadOnly) ? QJsonDocument::fromJson(file.readAll()).object() : QJsonObject();
}

void writeJson(const QString& path, const QJsonObject& o) {
  QFile file(path);
  QVERIFY(file.open(QIODevice::WriteOnly));
  file.write(QJsonDocument(o).toJson());
}

QStringList openAndWait(MainWindow& window, const QString& path, bool* ok) {
  QSignalSpy opened(&window, &MainWindow::workspaceOpened);
  QSignalSpy failed(&window, &MainWindow::workspaceFailed);
  window.openWorkspace(path);
  *ok = QTest::qWaitFor([&] { return opened.size() + failed.size() > 0; }, 30000) && failed.isEmpty();
  return opened.isEmpty() ? QStringList() : opened.front().at(1).toStringList();
}

}  // namespace

class TestWorkspace : public QObject {
  Q_OBJECT
  QTemporaryDir m_dir;

  QString path(const QString& name) const { return m_dir.filePath(name); }

  // A project folder with the tiny Mamba-1 and its statistics.
  void makeProject(const QString& folder) {
    QVERIFY(QDir().mkpath(folder));
    test::write_tiny_mamba1(folder + QStringLiteral("/m1"));
    test::write_tiny_mamba1_stats((folder + QStringLiteral("/stats.safetensors")).toStdString());
  }

  // Opens the project in `window` and changes every field a workspace records.
  void setUpEverything(MainWindow& window, const QString& folder) {
    QSignalSpy opened(&window, &MainWindow::modelOpened);
    window.openModel(folder + QStringLiteral("/m1"));
    QTRY_COMPARE(opened.size(), 1);
    QSignalSpy statsOpened(&window, &MainWindow::statsOpened);
    window.openStats(folder + QStringLiteral("/stats.safetensors"));
    QTRY_COMPARE(statsOpened.size(), 1);
    window.setView(QStringLiteral("channel-maxima"));
    window.selectPoint(QuantPoint{2, Module::XProj, Site::Input});
    window.setDistributionsBits(5);

    QuantPanel* q = window.quantPanel();
    q->bitsSlider('W')->setValue(QuantPanel::positionOf(3));
    q->bitsSlider('A')->setValue(QuantPanel::positionOf(6));
    q->findChild<QComboBox*>(QStringLiteral("weightGranularity"))->setCurrentIndex(3);  // group:32
    q->findChild<QCheckBox*>()->setChecked(false);
    q->stateMethodBox()->setCurrentIndex(1);                                           // per tensor
    q->findChild<QComboBox*>(QStringLiteral("actScale"))->setCurrentIndex(1);          // static
    q->scopeBox()->setCurrentIndex(q->scopeBox()->findData(1));
    q->bitsSlider('H')->setValue(QuantPanel::positionOf(4));
    q->scopeBox()->setCurrentIndex(q->scopeBox()->findData(2));
    q->bitsSlider('W')->setValue(QuantPanel::positionOf(5));
    q->bitsSlider('W')->setValue(QuantPanel::positionOf(3));  // an override equal to the global bits
    q->scopeBox()->setCurrentIndex(0);

    CalibrationPanel* c = window.calibrationPanel();
    c->sourceBox()->setCurrentIndex(c->sourceBox()->count() - 1);  // typed text
    c->typedTextEdit()->setPlainText(QStringLiteral("Elinor, the eldest daughter,\n\"whose advice\" was so effectual"));
    c->tokensBox()->setValue(5000);
    for (QComboBox* box : c->findChildren<QComboBox*>())
      if (box->findText(QStringLiteral("cuda")) >= 0) box->setCurrentText(QStringLiteral("cpu"));
    window.findChild<QDockWidget*>(QStringLiteral("calibrationDock"))->hide();
  }

 private Q_SLOTS:
  void initTestCase() {
    QVERIFY(m_dir.isValid());
    qputenv("MAMBASCOPE_CLI", MAMBASCOPE_CLI);
    qputenv("MAMBASCOPE_DATA_DIR", QByteArray(MAMBASCOPE_SOURCE_DIR) + "/resources");
  }

  void roundTripRestoresEveryField() {
    const QString project = path(QStringLiteral("project"));
    makeProject(project);
    const QString ws = project + QStringLiteral("/session") + kWorkspaceSuffix;
    QJsonObject quant;
    CalibrationChoice choice;
    views::structure::ViewState structure;
    {
      MainWindow a(MainWindow::Options{false, QStringLiteral("structure")});
      setUpEverything(a, project);
      quant = a.quantPanel()->setting();
      QCOMPARE(quant.value(QStringLiteral("layers")).toObject(),
               (QJsonObject{{QStringLiteral("1"), QJsonObject{{QStringLiteral("hbits"), 4}}},
                            {QStringLiteral("2"), QJsonObject{{QStringLiteral("wbits"), 3}}}}));
      QCOMPARE(quant.value(QStringLiteral("act_granularity")).toString(), QStringLiteral("tensor"));
      choice = a.calibrationPanel()->choice();
      structure = a.structureState();
      QVERIFY(structure.selected);
      QCOMPARE(a.saveWorkspace(ws), QString());
    }
    const QJsonObject json = readJson(ws);
    QCOMPARE(json.value(QStringLiteral("version")).toInt(), 1);
    QCOMPARE(json.value(QStringLiteral("model")).toString(), QStringLiteral("m1"));  // relative: under the folder
    QCOMPARE(json.value(QStringLiteral("stats")).toArray(), QJsonArray{QStringLiteral("stats.safetensors")});

    // The folder moves as one.
    const QString moved = path(QStringLiteral("moved"));
    QVERIFY(QDir().rename(project, moved));
    MainWindow b(MainWindow::Options{false, QStringLiteral("structure")});
    bool ok = false;
    const QStringList problems = openAndWait(b, moved + QStringLiteral("/session") + kWorkspaceSuffix, &ok);
    QVERIFY(ok);
    QCOMPARE(problems, QStringList());
    QVERIFY(b.snapshot());
    QCOMPARE(QString::fromStdString(b.snapshot()->path), moved + QStringLiteral("/m1"));
    QVERIFY(b.stats());
    QCOMPARE(b.stats()->n_layers, int64_t(3));
    QCOMPARE(b.view(), QStringLiteral("channel-maxima"));
    QCOMPARE(b.channelMaximaState().layer, 2);
    QCOMPARE(b.channelMaximaState().module, Module::XProj);
    QCOMPARE(b.distributionsState().layer, 2);
    QCOMPARE(b.distributionsState().bits, 5);
    QCOMPARE(b.structureState().layer, structure.layer);
    QVERIFY(b.structureState().selected == structure.selected);
    QCOMPARE(b.quantPanel()->setting(), quant);
    const CalibrationChoice restored = b.calibrationPanel()->choice();
    QCOMPARE(restored.typedText, choice.typedText);
    QCOMPARE(restored.textFile, QString());
    QCOMPARE(restored.maxTokens, qint64(5000));
    QCOMPARE(restored.device, QStringLiteral("cpu"));
    QVERIFY(b.findChild<QDockWidget*>(QStringLiteral("calibrationDock"))->isHidden());
    QVERIFY(!b.findChild<QDockWidget*>(QStringLiteral("summaryDock"))->isHidden());
    QVERIFY(QDir().rename(moved, project));
  }

  void pathsOutsideStayAbsolute() {
    Workspace w;
    w.model = path(QStringLiteral("project/m1"));
    w.stats << path(QStringLiteral("elsewhere/s.safetensors"));
    const QString ws = path(QStringLiteral("project/sub/x")) + kWorkspaceSuffix;
    const QJsonObject json = workspaceToJson(w, ws);
    QCOMPARE(json.value(QStringLiteral("model")).toString(), QDir::cleanPath(path(QStringLiteral("project/m1"))));
    QCOMPARE(json.value(QStringLiteral("stats")).toArray().at(0).toString(), QDir::cleanPath(path(QStringLiteral("elsewhere/s.safetensors"))));
    Workspace back;
    QCOMPARE(workspaceFromJson(QJsonDocument(json).toJson(), ws, &back), QString());
    QCOMPARE(back.model, QDir::cleanPath(w.model));
    QCOMPARE(back.stats, QStringList{QDir::cleanPath(w.stats.front())});
  }

  // The distributions view's bits stop at 15 (its slider; the quantizers' int16 codes). A workspace
  // written when the slider reached 16 opens at 15, as does a tour or script asking for 16.
  void distributionsBitsStopAt15() {
    Workspace w;
    w.model = path(QStringLiteral("project/m1"));
    w.distributions.bits = 16;
    const QString ws = path(QStringLiteral("project/x")) + kWorkspaceSuffix;
    Workspace back;
    QCOMPARE(workspaceFromJson(QJsonDocument(workspaceToJson(w, ws)).toJson(), ws, &back), QString());
    QCOMPARE(back.distributions.bits, 15);
    MainWindow window(MainWindow::Options{false, QStringLiteral("structure")});
    window.setDistributionsBits(16);
    QCOMPARE(window.distributionsState().bits, 15);
    window.setDistributionsBits(12);
    QCOMPARE(window.distributionsState().bits, 12);
  }

  void missingStatsKeepsTheModel() {
    const QString project = path(QStringLiteral("nostats"));
    makeProject(project);
    const QString ws = project + QStringLiteral("/s") + kWorkspaceSuffix;
    {
      MainWindow a(MainWindow::Options{false, QStringLiteral("structure")});
      setUpEverything(a, project);
      QCOMPARE(a.saveWorkspace(ws), QString());
    }
    const QString stats = project + QStringLiteral("/stats.safetensors");
    QVERIFY(QFile::remove(stats));
    MainWindow b(MainWindow::Options{false, QStringLiteral("structure")});
    bool ok = false;
    const QStringList problems = openAndWait(b, ws, &ok);
    QVERIFY(ok);
    QCOMPARE(problems.size(), 1);
    QVERIFY2(problems.front().startsWith(stats) && problems.front().contains(QLatin1String("not there")),
             qPrintable(problems.front()));
    QVERIFY(b.snapshot());  // the model is open
    QCOMPARE(b.snapshot()->config.n_layer, test::kM1Layers);
    QVERIFY(!b.stats());
    QCOMPARE(b.view(), QStringLiteral("channel-maxima"));  // the view is restored; it says there are no statistics
    QCOMPARE(b.quantPanel()->setting().value(QStringLiteral("wbits")).toInt(), 3);
    QCOMPARE(b.calibrationPanel()->choice().maxTokens, qint64(5000));

    // No model either: named, and the Calibration dock still restored.
    QVERIFY(QDir(project + QStringLiteral("/m1")).removeRecursively());
    MainWindow c(MainWindow::Options{false, QStringLiteral("structure")});
    const QStringList noModel = openAndWait(c, ws, &ok);
    QVERIFY(ok);
    QCOMPARE(noModel.size(), 1);
    QVERIFY2(noModel.front().startsWith(project + QStringLiteral("/m1")), qPrintable(noModel.front()));
    QVERIFY(!c.snapshot());
    QCOMPARE(c.calibrationPanel()->choice().maxTokens, qint64(5000));
  }

  void appCalibratedStatisticsAreKept() {
    // Statistics calibrated in the app live in a temporary folder that goes with the window: the
    // workspace keeps a copy beside itself.
    MainWindow a(MainWindow::Options{false, QStringLiteral("structure")});
    QSignalSpy opened(&a, &MainWindow::modelOpened);
    a.openModel((QString::fromUtf8(MAMBASCOPE_SOURCE_DIR) + QStringLiteral("/resources/models/demo-mamba")));
    QTRY_COMPARE_WITH_TIMEOUT(opened.size(), 1, 30000);
    QSignalSpy statsOpened(&a, &MainWindow::statsOpened);
    CalibrationChoice choice = a.calibrationPanel()->choice();
    choice.maxTokens = 600;
    a.calibrate(choice);
    QTRY_COMPARE_WITH_TIMEOUT(statsOpened.size(), 1, 120000);
    const QString folder = path(QStringLiteral("calibrated"));
    QVERIFY(QDir().mkpath(folder));
    const QString ws = folder + QStringLiteral("/austen") + kWorkspaceSuffix;
    QCOMPARE(a.saveWorkspace(ws), QString());
    QCOMPARE(readJson(ws).value(QStringLiteral("stats")).toArray(), QJsonArray{QStringLiteral("austen-stats.safetensors")});
    QVERIFY(QFileInfo::exists(folder + QStringLiteral("/austen-stats.safetensors")));
    MainWindow b(MainWindow::Options{false, QStringLiteral("structure")});
    bool ok = false;
    QCOMPARE(openAndWait(b, ws, &ok), QStringList());
    QVERIFY(ok && b.stats());
    QCOMPARE(b.stats()->tokens, a.stats()->tokens);
    QCOMPARE(b.stats()->tokens, int64_t(600));
  }

  void refusesWhatItCannotRead() {
    const QString project = path(QStringLiteral("refuse"));
    makeProject(project);
    const QString good = project + QStringLiteral("/good") + kWorkspaceSuffix;
    {
      MainWindow a(MainWindow::Options{false, QStringLiteral("structure")});
      setUpEverything(a, project);
      QCOMPARE(a.saveWorkspace(good), QString());
    }
    const QJsonObject json = readJson(good);
    QJsonObject newer = json;
    newer.insert(QStringLiteral("version"), 2);
    QJsonObject unversioned = json;
    unversioned.remove(QStringLiteral("version"));
    const QString newerPath = project + QStringLiteral("/newer") + kWorkspaceSuffix;
    const QString unversionedPath = project + QStringLiteral("/unversioned") + kWorkspaceSuffix;
    const QString garbagePath = project + QStringLiteral("/garbage") + kWorkspaceSuffix;
    writeJson(newerPath, newer);
    writeJson(unversionedPath, unversioned);
    {
      QFile f(garbagePath);
      QVERIFY(f.open(QIODevice::WriteOnly));
      f.write("{\"format\": \"mambascope-workspace\", ");
    }
    const std::pair<QString, QString> cases[] = {{newerPath, QStringLiteral("version 2 is newer")},
                                                 {unversionedPath, QStringLiteral("no \"version\"")},
                                                 {garbagePath, QStringLiteral("not JSON")}};
    for (const auto& [file, words] : cases) {
      MainWindow w(MainWindow::Options{false, QStringLiteral("structure")});
      QSignalSpy failed(&w, &MainWindow::workspaceFailed);
      QSignalSpy opened(&w, &MainWindow::workspaceOpened);
      w.openWorkspace(file);
      QCOMPARE(failed.size(), 1);
      const QString message = failed.front().at(1).toString();
      QVERIFY2(message.startsWith(file) && message.contains(words) && !message.contains(QLatin1Char('\n')), qPrintable(message));
      QVERIFY(opened.isEmpty());
      QVERIFY(!w.snapshot());
      QVERIFY(!w.findChild<QDockWidget*>(QStringLiteral("calibrationDock"))->isHidden());  // nothing applied
    }
  }
};

QTEST_MAIN(TestWorkspace)
#include "tst_workspace.moc"
