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
#include "tiny_stats.h"

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

  void statsFollowTheTreeAndRefuseAnotherModel() {
    const QString good = m_dir.filePath(QStringLiteral("m1-stats.safetensors"));
    const QString other = m_dir.filePath(QStringLiteral("two-layers.safetensors"));
    ms::test::write_tiny_mamba1_stats(good.toStdString());
    ms::test::write_tiny_mamba1_stats(other.toStdString(), 2);
    MainWindow window(MainWindow::Options{false, QStringLiteral("structure")});
    QSignalSpy opened(&window, &MainWindow::modelOpened);
    QSignalSpy statsOpened(&window, &MainWindow::statsOpened);
    QSignalSpy statsFailed(&window, &MainWindow::statsFailed);
    window.openModel(m_dir.filePath(QStringLiteral("m1")));
    QTRY_COMPARE(opened.size(), 1);
    window.openStats(good);
    QTRY_COMPARE(statsOpened.size(), 1);
    QVERIFY(window.stats());
    QCOMPARE(window.view(), QStringLiteral("channel-maxima"));
    QCOMPARE(window.channelMaximaState().layer, window.stats()->layer_with_most_outliers());

    // A quant point picked in the tree becomes the view's point.
    window.selectPoint(QuantPoint{2, Module::XProj, Site::Input});
    QCOMPARE(window.channelMaximaState().layer, 2);
    QVERIFY(window.channelMaximaState().module == Module::XProj);
    window.selectPoint(QuantPoint{1, Module::OutProj, Site::Weight});  // a weight: the point stays
    QCOMPARE(window.channelMaximaState().layer, 1);
    QVERIFY(window.channelMaximaState().module == Module::XProj);

    // Statistics of a 2-layer model: one line naming the file and both layer counts; the good
    // statistics stay.
    window.openStats(other);
    QTRY_COMPARE(statsFailed.size(), 1);
    const QString message = statsFailed.at(0).at(1).toString();
    QVERIFY2(message.contains(other) && message.contains(QStringLiteral("2 layers")) &&
                 message.contains(QStringLiteral("has 3")),
             qPrintable(message));
    QVERIFY(!message.contains(QLatin1Char('\n')));
    QVERIFY(window.stats());
    QCOMPARE(window.stats()->n_layers, 3);

    // A new model drops the old model's statistics.
    window.openModel(m_dir.filePath(QStringLiteral("m2")));
    QTRY_COMPARE(opened.size(), 2);
    QVERIFY(!window.stats());
  }

 private:
  QTemporaryDir m_dir;
};

QTEST_MAIN(TestMainWindow)
#include "tst_main_window.moc"
