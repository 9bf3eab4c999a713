// The structure the GUI shows, from real files: ModelSnapshot (which tensor belongs to which quant
// point, observed shapes), StructureModel (rows, names, shapes, dtypes, typed identities) and the
// summary rows. Opens tiny checkpoints written by tiny_model.h through ms::open_checkpoint.
#include <QTemporaryDir>
#include <QtTest>

#include "app/main_window.h"
#include "app/structure_model.h"
#include "app/summary_panel.h"
#include "tiny_model.h"

using namespace ms;
using namespace ms::app;

namespace {

QString cell(const StructureModel& m, const QModelIndex& row, int column) {
  return m.index(row.row(), column, row.parent()).data().toString();
}

QStringList childNames(const StructureModel& m, const QModelIndex& parent) {
  QStringList names;
  for (int r = 0; r < m.rowCount(parent); ++r) names << m.index(r, 0, parent).data().toString();
  return names;
}

QString summaryValue(const ModelSnapshot& s, const QString& key) {
  for (const auto& [k, v] : summaryRows(s))
    if (k == key) return v;
  return QStringLiteral("<missing %1>").arg(key);
}

}  // namespace

class TestStructureModel : public QObject {
  Q_OBJECT

 private Q_SLOTS:
  void initTestCase() {
    QVERIFY(m_dir.isValid());
    test::write_tiny_mamba1(m_dir.filePath(QStringLiteral("m1")));
    test::write_tiny_mamba2(m_dir.filePath(QStringLiteral("m2")));
  }

  void mamba1Tree() {
    const LoadedModel loaded = loadModel(m_dir.filePath(QStringLiteral("m1")));
    StructureModel model;
    model.setSnapshot(loaded.snapshot);

    // embedding, 3 layers, norm_f (tied: no lm_head).
    QCOMPARE(childNames(model, {}), (QStringList{"embedding.weight", "layers.0", "layers.1", "layers.2", "norm_f.weight"}));
    QCOMPARE(model.columnCount(), 4);
    const QModelIndex embedding = model.index(0, 0);
    QCOMPARE(cell(model, embedding, StructureModel::ShapeColumn), QStringLiteral("[32, 16]"));
    QCOMPARE(cell(model, embedding, StructureModel::DTypeColumn), QStringLiteral("F32"));
    QCOMPARE(model.layerOf(embedding), -1);

    // Forward order; conv1d is drawn as a step though it is no quant point; nothing unassigned.
    const QModelIndex layer1 = model.indexOfLayer(1);
    QCOMPARE(layer1.row(), 2);
    QCOMPARE(cell(model, layer1, StructureModel::ShapeColumn), QStringLiteral("9 quant points"));
    QCOMPARE(childNames(model, layer1),
             (QStringList{"in_proj.input", "in_proj", "conv1d", "x_proj.input", "x_proj", "dt_proj.input", "dt_proj",
                          "ssm.state", "out_proj.input", "out_proj"}));

    const QModelIndex inInput = model.indexOfPoint(QuantPoint{1, Module::InProj, Site::Input});
    QCOMPARE(cell(model, inInput, StructureModel::ShapeColumn), QStringLiteral("[T, 16]"));    // [T, d]
    QCOMPARE(cell(model, inInput, StructureModel::DTypeColumn), QStringLiteral("activation"));
    QCOMPARE(childNames(model, inInput), QStringList{"norm.weight"});  // the block norm scales in_proj's input

    const QModelIndex inProj = model.indexOfPoint(QuantPoint{1, Module::InProj, Site::Weight});
    QCOMPARE(cell(model, inProj, StructureModel::ShapeColumn), QStringLiteral("[64, 16]"));    // [2E, d]
    QCOMPARE(cell(model, inProj, StructureModel::DTypeColumn), QStringLiteral("F32"));
    QCOMPARE(childNames(model, inProj), QStringList{"in_proj.weight"});

    const QModelIndex xProj = model.indexOfPoint(QuantPoint{1, Module::XProj, Site::Weight});
    QCOMPARE(cell(model, xProj, StructureModel::ShapeColumn), QStringLiteral("[10, 32]"));     // [R + 2N, E]
    const QModelIndex dtInput = model.indexOfPoint(QuantPoint{1, Module::DtProj, Site::Input});
    QCOMPARE(cell(model, dtInput, StructureModel::ShapeColumn), QStringLiteral("[T, 2]"));     // [T, R]
    const QModelIndex dtProj = model.indexOfPoint(QuantPoint{1, Module::DtProj, Site::Weight});
    QCOMPARE(childNames(model, dtProj), (QStringList{"dt_proj.weight", "dt_proj.bias"}));      // weight before bias

    const QModelIndex state = model.indexOfPoint(QuantPoint{1, Module::Ssm, Site::State});
    QCOMPARE(cell(model, state, StructureModel::ShapeColumn), QStringLiteral("[32, 4]"));      // [E, N]
    QCOMPARE(cell(model, state, StructureModel::DTypeColumn), QStringLiteral("state"));
    QCOMPARE(childNames(model, state), (QStringList{"A_log", "D"}));

    const QModelIndex conv = model.indexOfPoint(QuantPoint{1, Module::Conv1d, Site::Weight});
    QCOMPARE(cell(model, conv, StructureModel::ShapeColumn), QStringLiteral("[32, 1, 4]"));    // [E, 1, K]
    QCOMPARE(childNames(model, conv), (QStringList{"conv1d.weight", "conv1d.bias"}));

    // Typed identities survive the round trip row -> point -> row, also from a tensor row.
    const QModelIndex tensorRow = model.index(0, 0, dtProj);
    QCOMPARE(model.rowKind(tensorRow), StructureModel::RowKind::Tensor);
    QCOMPARE(cell(model, tensorRow, StructureModel::ShapeColumn), QStringLiteral("[32, 2]"));
    QCOMPARE(model.layerOf(tensorRow), 1);
    QVERIFY(model.pointOf(tensorRow).has_value());
    QCOMPARE(model.pointOf(tensorRow)->str(), std::string("layers.1.dt_proj.weight"));
    QCOMPARE(model.indexOfPoint(*model.pointOf(tensorRow)), dtProj);
    QVERIFY(!model.pointOf(layer1).has_value());
    QCOMPARE(model.parent(dtProj), layer1);
    QVERIFY(!model.indexOfLayer(3).isValid());
  }

  void mamba1Summary() {
    const LoadedModel loaded = loadModel(m_dir.filePath(QStringLiteral("m1")));
    const ModelSnapshot& s = *loaded.snapshot;
    QCOMPARE(s.parameter_count, test::kM1Parameters);
    QCOMPARE(s.weight_bytes, static_cast<std::size_t>(test::kM1Parameters) * 4);
    QCOMPARE(summaryValue(s, QStringLiteral("Architecture")), QStringLiteral("mamba"));
    QCOMPARE(summaryValue(s, QStringLiteral("Layout")), QStringLiteral("hf"));
    QCOMPARE(summaryValue(s, QStringLiteral("d_model")), QStringLiteral("16"));
    QCOMPARE(summaryValue(s, QStringLiteral("Layers")), QStringLiteral("3"));
    QCOMPARE(summaryValue(s, QStringLiteral("d_inner")), QStringLiteral("32"));
    QCOMPARE(summaryValue(s, QStringLiteral("d_state")), QStringLiteral("4"));
    QCOMPARE(summaryValue(s, QStringLiteral("dt_rank")), QStringLiteral("2"));
    QCOMPARE(summaryValue(s, QStringLiteral("Vocabulary")), QStringLiteral("32"));
    QCOMPARE(summaryValue(s, QStringLiteral("Parameters")), QStringLiteral("%1.%2 K (%3)")
                 .arg(test::kM1Parameters / 1000).arg((test::kM1Parameters % 1000 + 50) / 100).arg(
                     QLocale(QLocale::English).toString(static_cast<qlonglong>(test::kM1Parameters))));
    QCOMPARE(summaryValue(s, QStringLiteral("Tokenizer")), QStringLiteral("none"));
    QVERIFY(summaryValue(s, QStringLiteral("Weights")).endsWith(QStringLiteral("F32")));
  }

  void mamba2Tree() {
    const LoadedModel loaded = loadModel(m_dir.filePath(QStringLiteral("m2")));
    StructureModel model;
    model.setSnapshot(loaded.snapshot);
    // norm_f before lm_head, as the forward meets them.
    QCOMPARE(childNames(model, {}), (QStringList{"embedding.weight", "layers.0", "layers.1", "norm_f.weight", "lm_head.weight"}));
    const QModelIndex layer0 = model.indexOfLayer(0);
    QCOMPARE(childNames(model, layer0),
             (QStringList{"in_proj.input", "in_proj", "conv1d", "ssm.state", "out_proj.input", "out_proj"}));
    QCOMPARE(cell(model, layer0, StructureModel::ShapeColumn), QStringLiteral("5 quant points"));
    const QModelIndex state = model.indexOfPoint(QuantPoint{0, Module::Ssm, Site::State});
    QCOMPARE(cell(model, state, StructureModel::ShapeColumn), QStringLiteral("[4, 8, 4]"));   // [H, P, N]
    QCOMPARE(childNames(model, state), (QStringList{"A_log", "D", "dt_bias"}));
    const QModelIndex outInput = model.indexOfPoint(QuantPoint{0, Module::OutProj, Site::Input});
    QCOMPARE(childNames(model, outInput), QStringList{"gated_norm.weight"});
    const QModelIndex inProj = model.indexOfPoint(QuantPoint{0, Module::InProj, Site::Weight});
    QCOMPARE(cell(model, inProj, StructureModel::ShapeColumn), QStringLiteral("[76, 16]"));   // [2E + 2GN + H, d]
    QCOMPARE(summaryValue(*loaded.snapshot, QStringLiteral("Heads")), QStringLiteral("4"));
    QCOMPARE(summaryValue(*loaded.snapshot, QStringLiteral("Head dim")), QStringLiteral("8"));
    QCOMPARE(summaryValue(*loaded.snapshot, QStringLiteral("Tied embeddings")), QStringLiteral("no"));
  }

  void resetToEmpty() {
    StructureModel model;
    model.setSnapshot(loadModel(m_dir.filePath(QStringLiteral("m1"))).snapshot);
    QVERIFY(model.rowCount() > 0);
    model.setSnapshot(nullptr);
    QCOMPARE(model.rowCount(), 0);
    QVERIFY(!model.indexOfLayer(0).isValid());
  }

  void openErrorsAreOneLine() {
    try {
      loadModel(m_dir.filePath(QStringLiteral("does-not-exist")));
      QFAIL("opening a missing folder must throw");
    } catch (const InputError& e) {
      const QString message = QString::fromStdString(e.what());
      QVERIFY2(message.contains(QStringLiteral("does-not-exist")), qPrintable(message));
      QVERIFY(!message.contains(QLatin1Char('\n')));
    }
  }

  void modelPaths() {
    const QString m1 = m_dir.filePath(QStringLiteral("m1"));
    QVERIFY(isModelPath(m1));
    QVERIFY(isModelPath(m1 + QStringLiteral("/config.json")));
    QVERIFY(isModelPath(m1 + QStringLiteral("/model.safetensors")));
    QVERIFY(!isModelPath(m1 + QStringLiteral("/missing.safetensors")));
    QFile other(m_dir.filePath(QStringLiteral("notes.txt")));
    QVERIFY(other.open(QIODevice::WriteOnly));
    other.close();
    QVERIFY(!isModelPath(other.fileName()));
  }

 private:
  QTemporaryDir m_dir;
};

QTEST_MAIN(TestStructureModel)
#include "tst_structure_model.moc"
