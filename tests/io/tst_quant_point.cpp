// Quant-point names: one canonical text per point, parse(str(p)) == p for every point of every
// architecture, malformed names refused, and the key table agreeing with the checkpoint layouts.
#include <QtTest>

#include "core/model/checkpoint.h"
#include "core/model/quant_point.h"

using namespace ms;

class TestQuantPoint : public QObject {
  Q_OBJECT
 private Q_SLOTS:
  void round_trip_every_point() {
    for (Arch arch : {Arch::Mamba1, Arch::FalconMamba, Arch::Mamba2}) {
      ModelConfig c;
      c.arch = arch;
      c.d_model = 64;
      c.n_layer = 12;
      c.vocab_size = 100;
      c.d_state = 16;
      c.head_dim = 16;
      c.derive();
      const auto points = quant_points(c);
      QCOMPARE(points.size(), size_t(12) * (arch == Arch::Mamba2 ? 5 : 9));
      for (const QuantPoint& p : points) {
        auto back = QuantPoint::parse(p.str());
        QVERIFY2(back.has_value(), p.str().c_str());
        QCOMPARE(back->str(), p.str());
        QVERIFY(*back == p);
      }
    }
  }
  void canonical_texts() {
    QCOMPARE(QuantPoint({3, Module::OutProj, Site::Input}).str(), std::string("layers.3.out_proj.input"));
    QCOMPARE(QuantPoint({3, Module::Ssm, Site::State}).str(), std::string("layers.3.ssm.state"));
    QCOMPARE(QuantPoint({0, Module::InProj, Site::Weight}).str(), std::string("layers.0.in_proj.weight"));
  }
  void refuses_malformed_data() {
    QTest::addColumn<QString>("text");
    for (const char* t : {"", "layers.", "layers.3", "layers.3.out_proj", "layers.03.in_proj.input",
                          "layers.-1.in_proj.input", "layers.x.in_proj.input", "layer.3.in_proj.input",
                          "layers.3.in_proj.state", "layers.3.ssm.input", "layers.3.conv1d.input",
                          "layers.3.in_proj.input.absmax", "layers.3.foo.input", " layers.3.in_proj.input",
                          "layers.99999999999999999999.in_proj.input"})
      QTest::newRow(t) << QString::fromUtf8(t);
  }
  void refuses_malformed() {
    QFETCH(QString, text);
    QVERIFY(!QuantPoint::parse(text.toStdString()).has_value());
  }
  void key_table() {
    auto k = weight_keys({5, Module::InProj, Site::Weight});
    QVERIFY(k.has_value());
    QCOMPARE(k->canonical, std::string("layers.5.in_proj.weight"));
    QCOMPARE(k->hf, std::string("backbone.layers.5.mixer.in_proj.weight"));
    QCOMPARE(k->gguf, std::string("blk.5.ssm_in.weight"));
    QCOMPARE(weight_keys({1, Module::XProj, Site::Weight})->gguf, std::string("blk.1.ssm_x.weight"));
    QCOMPARE(weight_keys({1, Module::DtProj, Site::Weight})->gguf, std::string("blk.1.ssm_dt.weight"));
    QCOMPARE(weight_keys({1, Module::OutProj, Site::Weight})->gguf, std::string("blk.1.ssm_out.weight"));
    QVERIFY(!weight_keys({1, Module::OutProj, Site::Input}).has_value());
    // The table agrees with the checkpoint layer's own key mapping.
    QCOMPARE(file_key(k->canonical, Layout::HF), k->hf);
    QCOMPARE(file_key(k->canonical, Layout::StateSpaces), k->state_spaces);
    QCOMPARE(file_key("embedding.weight", Layout::HF), std::string("backbone.embeddings.weight"));
    QCOMPARE(file_key("embedding.weight", Layout::StateSpaces), std::string("backbone.embedding.weight"));
    QCOMPARE(file_key("layers.2.gated_norm.weight", Layout::HF), std::string("backbone.layers.2.mixer.norm.weight"));
    QCOMPARE(file_key("layers.2.norm.weight", Layout::HF), std::string("backbone.layers.2.norm.weight"));
  }
};

QTEST_APPLESS_MAIN(TestQuantPoint)
#include "tst_quant_point.moc"
