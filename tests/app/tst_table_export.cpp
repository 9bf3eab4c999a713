// Tables as CSV (views/tables.h, app/table_export.h, File › Export Table as CSV):
//   - the error view's table and the outlier list of a small hand-made snapshot give exactly the
//     expected CSV text (header, forward order, points then weights, shortest round-trip numbers,
//     "inf" for an exact point, CRLF) and the view's shown text beside it;
//   - RFC 4180 quoting round-trips (commas, quotes, CR/LF, empty and non-ASCII fields), with the
//     exact quoted text checked once, and malformed CSV is refused;
//   - in the window: the error view saves the live preview's snapshot (every row, exact numbers);
//     the structure view saves the Summary dock's rows, the channel-maxima view the
//     outlier list of the layer and point it shows, a view without a table or an unwritable path
//     gives a one-line reason and leaves no file.
#include <QFile>
#include <QSignalSpy>
#include <QTemporaryDir>
#include <QtTest>

#include "app/main_window.h"
#include "app/summary_panel.h"
#include "app/table_export.h"
#include "tiny_model.h"
#include "tiny_stats.h"
#include "views/tables.h"

using namespace ms;
using namespace ms::app;

namespace {

QByteArray readAll(const QString& path) {
  QFile file(path);
  return file.open(QIODevice::ReadOnly) ? file.readAll() : QByteArray();
}

}  // namespace

class TestTableExport : public QObject {
  Q_OBJECT

 private Q_SLOTS:
  void errorTableCsv() {
    views::error::Snapshot s;
    s.points = {{"layers.0.in_proj.input", 0, false, 31.25, 0.001, 0.999, 0.5},
                {"layers.0.ssm.state", 0, true, INFINITY, 0.0, 1.0, 0.0}};
    s.weights = {{"layers.0.in_proj.weight", 0, false, 20.5, 1e-7, 0.99999, 0.0625}};
    const views::Table t = views::error_point_table(s);
    QCOMPARE(QString::fromStdString(views::to_csv(t)),
             QStringLiteral("point,layer,kind,SQNR (dB),MSE,cosine,max error\r\n"
                            "layers.0.in_proj.input,0,activation,31.25,0.001,0.999,0.5\r\n"
                            "layers.0.ssm.state,0,state,inf,0,1,0\r\n"
                            "layers.0.in_proj.weight,0,weight,20.5,1e-07,0.99999,0.0625\r\n"));
    // What the view prints from the same rows (layer and kind are its colours, not columns).
    QCOMPARE(t.rows[0].cells[3].shown, std::string("31.2 dB"));
    QCOMPARE(t.rows[1].cells[3].shown, std::string("exact"));
    QCOMPARE(t.rows[2].cells[4].shown, std::string("1e-07"));
    QCOMPARE(t.rows[2].cells[5].shown, std::string("0.999990"));
    QCOMPARE(t.rows[1].tag, int(views::kStateRow));
    QCOMPARE(t.rows[2].tag, int(views::kWeightRow));
    QVERIFY(!t.columns[1].in_view && !t.columns[2].in_view);
  }

  void outlierTableCsv() {
    ChannelMaxima m;
    m.point = QuantPoint{3, Module::OutProj, Site::Input};
    m.outliers = {{328, 45.4f, 17.0}, {12, 9.5f, 3.5625}};
    const views::Table t = views::outlier_table(m);
    QCOMPARE(QString::fromStdString(views::to_csv(t)),
             QStringLiteral("point,channel,absmax,× mean\r\n"
                            "layers.3.out_proj.input,328,45.4,17\r\n"
                            "layers.3.out_proj.input,12,9.5,3.5625\r\n"));
    QCOMPARE(t.rows[0].cells[2].shown, std::string("45.400"));  // views::num
    QCOMPARE(t.rows[1].cells[3].shown, std::string("3.6"));
    // Numbers read back as the values the snapshot held.
    QVERIFY(std::stof(views::exact_number(45.4f)) == 45.4f);
    QVERIFY(std::stod(views::exact_number(0.1 + 0.2)) == 0.1 + 0.2);
    QCOMPARE(views::exact_number(0.1 + 0.2), std::string("0.30000000000000004"));
  }

  void quotingRoundTrips() {
    const std::vector<std::string> fields = {"plain", "a,b", "say \"hi\"", "two\nlines", "cr\r\nlf", "",
                                             " spaced ", "\"", "é ü ×", "trailing,"};
    views::Table t;
    for (std::size_t i = 0; i < fields.size(); ++i) t.columns.push_back({"c" + std::to_string(i)});
    t.rows.emplace_back();
    for (const std::string& f : fields) t.rows.back().cells.push_back({f, f});
    t.rows.emplace_back();
    for (std::size_t i = fields.size(); i-- > 0;) t.rows.back().cells.push_back({fields[i], fields[i]});
    const std::string csv = views::to_csv(t);
    QVERIFY(csv.find("plain,\"a,b\",\"say \"\"hi\"\"\",\"two\nlines\",\"cr\r\nlf\",, spaced ,\"\"\"\"") != std::string::npos);
    const auto records = views::parse_csv(csv);
    QVERIFY(records);
    QCOMPARE(records->size(), std::size_t(3));
    for (std::size_t i = 0; i < fields.size(); ++i) {
      QCOMPARE((*records)[0][i], t.columns[i].name);
      QCOMPARE((*records)[1][i], fields[i]);
      QCOMPARE((*records)[2][i], fields[fields.size() - 1 - i]);
    }
    QVERIFY(!views::parse_csv("a\"b,c\r\n"));   // a quote inside an unquoted field
    QVERIFY(!views::parse_csv("\"abc,d\r\n"));  // unterminated
    QVERIFY(!views::parse_csv("\"a\"b\r\n"));   // text after the closing quote
  }

  void errorViewExportsItsSnapshot() {
    // The real error preview (mambascope-cli requant-serve on the demo Mamba-1): the CSV holds
    // every point and weight of the snapshot the view draws, numbers reading back exactly.
    qputenv("MAMBASCOPE_CLI", MAMBASCOPE_CLI);
    qputenv("MAMBASCOPE_DATA_DIR", QByteArray(MAMBASCOPE_SOURCE_DIR) + "/resources");
    MainWindow window(MainWindow::Options{false, QStringLiteral("error")});
    QSignalSpy opened(&window, &MainWindow::modelOpened);
    window.openModel((QString::fromUtf8(MAMBASCOPE_SOURCE_DIR) + QStringLiteral("/resources/models/demo-mamba")));
    QTRY_COMPARE_WITH_TIMEOUT(opened.size(), 1, 30000);
    QTRY_VERIFY_WITH_TIMEOUT(window.quantPanel()->snapshot(), 120000);
    const auto snapshot = window.quantPanel()->snapshot();
    QTemporaryDir dir;
    QString name;
    QVERIFY(window.currentTable(&name));
    QCOMPARE(name, QStringLiteral("error-points.csv"));
    const QString file = dir.filePath(name);
    QCOMPARE(window.exportTable(file), QString());
    const auto records = views::parse_csv(readAll(file).toStdString());
    QVERIFY(records);
    QCOMPARE(records->size(), 1 + snapshot->points.size() + snapshot->weights.size());
    QVERIFY(!snapshot->weights.empty());
    for (std::size_t i = 0; i < records->size() - 1; ++i) {
      const auto& r = i < snapshot->points.size() ? snapshot->points[i] : snapshot->weights[i - snapshot->points.size()];
      const std::vector<std::string>& rec = (*records)[i + 1];
      QCOMPARE(rec[0], r.name);
      QCOMPARE(std::stoi(rec[1]), r.layer);
      QVERIFY(std::stod(rec[3]) == r.sqnr_db);  // exactly; "inf" reads back as +inf too
      QVERIFY(std::stod(rec[4]) == r.mse);
      QVERIFY(std::stod(rec[6]) == r.max_abs);
    }
  }

  void windowExportsWhatTheViewShows() {
    QTemporaryDir dir;
    QVERIFY(dir.isValid());
    const QString model = dir.filePath(QStringLiteral("m1"));
    test::write_tiny_mamba1(model);
    const QString stats = dir.filePath(QStringLiteral("stats.safetensors"));
    test::write_tiny_mamba1_stats(stats.toStdString());
    MainWindow window(MainWindow::Options{false, QStringLiteral("structure")});
    QString why;
    QVERIFY(!window.currentTable(nullptr, &why));
    QVERIFY(why.contains(QLatin1String("Open a model")));
    QSignalSpy opened(&window, &MainWindow::modelOpened);
    window.openModel(model);
    QTRY_COMPARE(opened.size(), 1);

    // Structure: the Summary dock's rows.
    QString name;
    QVERIFY(window.currentTable(&name));
    QCOMPARE(name, QStringLiteral("summary.csv"));
    const QString summary = dir.filePath(QStringLiteral("summary.csv"));
    QCOMPARE(window.exportTable(summary), QString());
    QString expected = QStringLiteral("field,value\r\n");
    for (const auto& [key, value] : summaryRows(*window.snapshot())) {
      QVERIFY(!value.contains(QLatin1Char('"')));  // (so quoting a value is just wrapping it)
      expected += key + QLatin1Char(',') + (value.contains(QLatin1Char(',')) ? QLatin1Char('"') + value + QLatin1Char('"') : value) +
                  QStringLiteral("\r\n");
    }
    QCOMPARE(QString::fromUtf8(readAll(summary)), expected);
    QVERIFY(expected.contains(QStringLiteral("\r\nLayers,3\r\n")));
    QVERIFY(expected.contains(QStringLiteral("\r\nParameters,\"7.4 K (7,392)\"\r\n")));
    // The dock's own action writes the same file from any view.
    window.setView(QStringLiteral("state-heatmap"));
    const QString summary2 = dir.filePath(QStringLiteral("summary2.csv"));
    QCOMPARE(window.exportTable(summary2, true), QString());
    QCOMPARE(readAll(summary2), readAll(summary));

    // A view without a table: a reason, no file.
    const QString none = dir.filePath(QStringLiteral("none.csv"));
    const QString refusal = window.exportTable(none);
    QVERIFY2(refusal.startsWith(none) && refusal.contains(QLatin1String("state-heatmap")), qPrintable(refusal));
    QVERIFY(!QFile::exists(none));
    window.setView(QStringLiteral("error"));
    QVERIFY(!window.currentTable(nullptr, &why));
    QVERIFY(why.contains(QLatin1String("no result yet")));

    // Channel maxima: the outlier list of the layer and point on screen.
    QSignalSpy statsOpened(&window, &MainWindow::statsOpened);
    window.setView(QStringLiteral("channel-maxima"));
    window.openStats(stats);
    QTRY_COMPARE(statsOpened.size(), 1);
    window.selectPoint(QuantPoint{2, Module::XProj, Site::Input});
    QCOMPARE(window.channelMaximaState().layer, 2);
    QVERIFY(window.currentTable(&name));
    QCOMPARE(name, QStringLiteral("outliers-layers.2.x_proj.input.csv"));
    const QString outliers = dir.filePath(name);
    QCOMPARE(window.exportTable(outliers), QString());
    const ChannelMaxima& m = window.stats()->find(Module::XProj)->layers[2];
    QCOMPARE(readAll(outliers), QByteArray::fromStdString(views::to_csv(views::outlier_table(m))));
    // 32 channels cannot hold a 6σ outlier (one value among n reaches at most (n-1)/√n σ): header only.
    QCOMPARE(readAll(outliers), QByteArray("point,channel,absmax,\xC3\x97 mean\r\n"));

    // An unwritable place: the path and the reason, nothing left behind.
    const QString bad = dir.filePath(QStringLiteral("missing-dir/t.csv"));
    const QString error = window.exportTable(bad);
    QVERIFY2(error.startsWith(bad) && !error.contains(QLatin1Char('\n')), qPrintable(error));
    QVERIFY(!QFile::exists(bad));
  }
};

QTEST_MAIN(TestTableExport)
#include "tst_table_export.moc"
