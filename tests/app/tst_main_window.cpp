// MainWindow's open flow without showing it (no GL needed): a model opened in the background
// fills the tree, summary and canvas state; a second open supersedes the first; a bad path
// reports its one-line message and keeps the previous model; tree and canvas selection agree.
#include <QSignalSpy>
#include <QTemporaryDir>
#include <QTreeView>
#include <QtTest>

#include "app/main_window.h"
#include "app/structure_model.h"
#include "tiny_model.h"

using namespace ms;
using namespace ms::app;

class TestMainWindow : public QObject {
  Q_OBJECT

 private Q_SLOTS:
  void initTestCase() {
    QVERIFY(m_dir.isValid());
    ms::test::write_tiny_mamba1(m_dir.filePath(QStringLiteral("m1")));
    ms::test::write_tiny_mamba2(m_dir.filePath(QStringLiteral("m2")));
  }

  void newerOpenWins() {
    MainWindow window(MainWindow::Options{false, QStringLiteral("structure")});
    QSignalSpy opened(&window, &MainWindow::modelOpened);
    window.openModel(m_dir.filePath(QStringLiteral("m1")));
    window.openModel(m_dir.filePath(QStringLiteral("m2")));
    QTRY_COMPARE(opened.size(), 1);
    QCOMPARE(opened.at(0).at(0).toString(), m_dir.filePath(QStringLiteral("m2")));
    QVERIFY(window.jobs()->waitForIdle(5000));
    QCoreApplication::processEvents();
    QCOMPARE(opened.size(), 1);   // m1's result, if it finished later, was dropped
    QVERIFY(window.snapshot()->config.is_mamba2());
    QCOMPARE(window.structureModel()->rowCount(), 5);  // embedding, 2 layers, norm_f, lm_head
    QCOMPARE(window.structureState().layer, 0);
  }

  void badPathKeepsModel() {
    MainWindow window(MainWindow::Options{false, QStringLiteral("structure")});
    QSignalSpy opened(&window, &MainWindow::modelOpened);
    QSignalSpy failed(&window, &MainWindow::modelFailed);
    window.openModel(m_dir.filePath(QStringLiteral("m1")));
    QTRY_COMPARE(opened.size(), 1);
    window.openModel(m_dir.filePath(QStringLiteral("nowhere")));
    QTRY_COMPARE(failed.size(), 1);
    const QString message = failed.at(0).at(1).toString();
    QVERIFY2(message.contains(QStringLiteral("nowhere")), qPrintable(message));
    QVERIFY(!message.contains(QLatin1Char('\n')));
    QVERIFY(window.snapshot());
    QCOMPARE(window.snapshot()->config.n_layer, ms::test::kM1Layers);
  }

  void treeSelectionDrivesCanvas() {
    MainWindow window(MainWindow::Options{false, QStringLiteral("structure")});
    QSignalSpy opened(&window, &MainWindow::modelOpened);
    window.openModel(m_dir.filePath(QStringLiteral("m1")));
    QTRY_COMPARE(opened.size(), 1);
    const QuantPoint point{2, Module::DtProj, Site::Input};
    window.selectPoint(point);
    QCOMPARE(window.structureState().layer, 2);
    QVERIFY(window.structureState().selected.has_value());
    QCOMPARE(window.structureState().selected->str(), std::string("layers.2.dt_proj.input"));
    window.selectLayer(1);
    QCOMPARE(window.structureState().layer, 1);
    QVERIFY(!window.structureState().selected.has_value());
    QCOMPARE(window.structureModel()->layerOf(window.tree()->currentIndex()), 1);
  }

 private:
  QTemporaryDir m_dir;
};

QTEST_MAIN(TestMainWindow)
#include "tst_main_window.moc"
