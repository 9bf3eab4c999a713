// config.json in both layouts: derived fields computed in one place, and every bad config refused
// with a message naming the file and the field.
#include <QtTest>

#include <cmath>

#include "core/model/config.h"
#include "core/util/error.h"

using namespace ms;

class TestConfig : public QObject {
  Q_OBJECT
 private Q_SLOTS:
  void hf_mamba_auto_rank() {
    auto c = ModelConfig::from_json_text(
        R"({"model_type":"mamba","hidden_size":768,"num_hidden_layers":24,"vocab_size":50280,
            "state_size":16,"time_step_rank":"auto","expand":2})", "cfg");
    QCOMPARE(c.dt_rank, int64_t(48));  // ceil(768 / 16)
    QCOMPARE(c.d_inner, int64_t(1536));
    QCOMPARE(c.padded_vocab, int64_t(50280));
    QCOMPARE(c.in_proj_rows, int64_t(3072));
    QCOMPARE(c.x_proj_rows(), int64_t(48 + 32));
    QVERIFY(c.tie_embeddings);
    QCOMPARE(c.layout, Layout::HF);
  }
  void state_spaces_padding_and_mamba2() {
    auto c = ModelConfig::from_json_text(
        R"({"d_model":768,"n_layer":24,"vocab_size":50277,"ssm_cfg":{"layer":"Mamba2"},
            "rms_norm":true,"pad_vocab_size_multiple":16,"d_intermediate":0,"attn_layer_idx":[]})",
        "cfg");
    QCOMPARE(c.arch, Arch::Mamba2);
    QCOMPARE(c.layout, Layout::StateSpaces);
    QCOMPARE(c.padded_vocab, int64_t(50288));
    QCOMPARE(c.n_heads, int64_t(24));      // 1536 / 64
    QCOMPARE(c.d_state, int64_t(128));
    QCOMPARE(c.conv_dim, int64_t(1536 + 2 * 128));
    QCOMPARE(c.in_proj_rows, int64_t(2 * 1536 + 2 * 128 + 24));
    QVERIFY(std::isinf(c.dt_limit_max));
  }
  void python_infinity_literal() {
    auto c = ModelConfig::from_json_text(
        R"({"model_type":"mamba2","hidden_size":64,"num_hidden_layers":2,"vocab_size":10,
            "num_heads":8,"head_dim":16,"n_groups":2,"time_step_limit":[0.0, Infinity]})", "cfg");
    QVERIFY(std::isinf(c.dt_limit_max));
    QCOMPARE(c.n_groups, int64_t(2));
  }
  void bad_configs_data() {
    QTest::addColumn<QString>("json");
    QTest::addColumn<QString>("expected");
    QTest::newRow("not json") << "{nope" << "not valid JSON";
    QTest::newRow("array") << "[1,2]" << "not a JSON object";
    QTest::newRow("missing") << R"({"model_type":"mamba","num_hidden_layers":2,"vocab_size":10})"
                             << "missing field 'hidden_size'";
    QTest::newRow("negative") << R"({"model_type":"mamba","hidden_size":-4,"num_hidden_layers":2,"vocab_size":10})"
                              << "'hidden_size' must be a positive integer";
    QTest::newRow("llama") << R"({"model_type":"llama","hidden_size":4})" << "unsupported model_type 'llama'";
    QTest::newRow("jamba") << R"({"model_type":"jamba"})" << "hybrid";
    QTest::newRow("heads") << R"({"model_type":"mamba2","hidden_size":64,"num_hidden_layers":2,"vocab_size":10,"num_heads":7,"head_dim":16})"
                           << "num_heads * head_dim";
    QTest::newRow("attention") << R"({"d_model":64,"n_layer":2,"vocab_size":10,"attn_layer_idx":[1]})"
                               << "attention layers";
    QTest::newRow("mlp") << R"({"d_model":64,"n_layer":2,"vocab_size":10,"d_intermediate":128})"
                         << "d_intermediate";
    QTest::newRow("layernorm") << R"({"d_model":64,"n_layer":2,"vocab_size":10,"rms_norm":false})"
                               << "rms_norm = false";
    QTest::newRow("neither") << R"({"foo":1})" << "neither an HF config";
  }
  void bad_configs() {
    QFETCH(QString, json);
    QFETCH(QString, expected);
    try {
      ModelConfig::from_json_text(json.toStdString(), "dir/config.json");
      QFAIL("accepted a bad config");
    } catch (const InputError& e) {
      const QString msg = QString::fromUtf8(e.what());
      QVERIFY2(msg.startsWith("dir/config.json: "), qPrintable(msg));
      QVERIFY2(msg.contains(expected), qPrintable(msg));
    }
  }
  void json_round_trip() {
    auto c = ModelConfig::from_json_text(
        R"({"model_type":"falcon_mamba","hidden_size":48,"num_hidden_layers":3,"vocab_size":99,
            "state_size":8,"time_step_rank":5,"tie_word_embeddings":false,"mixer_rms_eps":1e-5})", "cfg");
    auto back = ModelConfig::from_json_text(c.to_hf_json(), "back");
    QCOMPARE(back.arch, Arch::FalconMamba);
    QCOMPARE(back.dt_rank, int64_t(5));
    QCOMPARE(back.tie_embeddings, false);
    QCOMPARE(back.mixer_rms_eps, 1e-5);
    auto ss = ModelConfig::from_json_text(back.to_state_spaces_json(), "ss");
    QCOMPARE(ss.d_model, int64_t(48));
    QCOMPARE(ss.parameter_count(), back.parameter_count());
  }
};

QTEST_APPLESS_MAIN(TestConfig)
#include "tst_config.moc"
