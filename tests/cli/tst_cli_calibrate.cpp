// `calibrate` as a user runs it: the statistics file has every quant point and stat the contract
// names, with consistent counts and metadata; merging-friendly fields are present; bad input is
// refused with one line and no output file.
#include "core/io/safetensors.h"
#include "tests/cli/cli_test_util.h"

using namespace cli_test;

class TestCliCalibrate : public QObject {
  Q_OBJECT
 private Q_SLOTS:
  void writes_the_contract_layout_data() {
    QTest::addColumn<QString>("model");
    QTest::addColumn<int>("layers");
    QTest::addColumn<bool>("mamba2");
    QTest::newRow("mamba1") << "mamba1-hf" << 2 << false;
    QTest::newRow("mamba2") << "mamba2-g2-hf" << 2 << true;
  }
  void writes_the_contract_layout() {
    QFETCH(QString, model);
    QFETCH(int, layers);
    QFETCH(bool, mamba2);
    QTemporaryDir tmp;
    const QString out = tmp.path() + "/stats.safetensors";
    const QString text = model_dir(model) + "/ppl.txt";
    CliResult r = run_cli({"calibrate", model_dir(model), "--file", text, "--file", text, "--out", out,
                           "--seq-len", "100", "--batch", "2", "--cov", "--json"});
    QVERIFY2(r.exit_code == 0, qPrintable(r.describe()));
    ms::TensorStore store;
    auto meta = ms::read_safetensors(out.toStdString(), store);
    const int64_t tokens = std::stoll(meta.at("tokens"));
    QVERIFY(tokens > 1000);  // two copies of a ~590-token text
    QCOMPARE(meta.at("seq_len"), std::string("100"));
    QCOMPARE(meta.at("cancelled"), std::string("false"));
    QVERIFY(meta.at("texts").find("sha256") != std::string::npos);
    const QStringList points = mamba2 ? QStringList{"in_proj.input", "out_proj.input"}
                                      : QStringList{"in_proj.input", "x_proj.input", "dt_proj.input", "out_proj.input"};
    for (int i = 0; i < layers; ++i) {
      for (const QString& p : points) {
        const std::string base = QString("layers.%1.%2.").arg(i).arg(p).toStdString();
        for (const char* stat : {"absmax", "min", "max", "count", "sum", "sumsq", "hist", "hist_edges", "cov"})
          QVERIFY2(store.find(base + stat), (base + stat).c_str());
        const ms::TensorView& count = store.at(base + "count");
        int64_t c0;
        std::memcpy(&c0, count.data, 8);
        QCOMPARE(c0, tokens);  // every token counted once, no padding
        const ms::TensorView& absmax = store.at(base + "absmax");
        const ms::TensorView& mx = store.at(base + "max");
        for (int64_t k = 0; k < absmax.numel(); ++k) {
          float a, m;
          std::memcpy(&a, absmax.data + 4 * k, 4);
          std::memcpy(&m, mx.data + 4 * k, 4);
          QVERIFY(a >= m && a >= 0);
        }
      }
      const std::string state = QString("layers.%1.ssm.state.").arg(i).toStdString();
      QVERIFY(store.find(state + "absmax") && store.find(state + "mean_abs"));
      QCOMPARE(store.at(state + "absmax").shape.size(), size_t(mamba2 ? 3 : 2));
    }
  }

  void refuses_bad_input() {
    QTemporaryDir tmp;
    const QString bad = tmp.path() + "/bad.txt";
    QVERIFY(write_bytes(bad, QByteArray("ok \xff\xfe not utf-8")));
    const QString out = tmp.path() + "/s.safetensors";
    CliResult r = run_cli({"calibrate", model_dir("mamba1-hf"), "--file", bad, "--out", out});
    QCOMPARE(r.exit_code, 1);
    QVERIFY2(r.err.contains("bad.txt") && r.err.count('\n') == 1, qPrintable(r.describe()));
    QVERIFY(!QFileInfo::exists(out));
    r = run_cli({"calibrate", model_dir("mamba1-hf"), "--file", model_dir("mamba1-hf") + "/ppl.txt",
                 "--out", tmp.path() + "/missing/s.safetensors"});
    QCOMPARE(r.exit_code, 1);
    QVERIFY2(r.err.contains("missing"), qPrintable(r.describe()));
    QCOMPARE(QDir(tmp.path()).entryList(QDir::Files | QDir::Hidden).size(), 1);  // only bad.txt
  }
};

QTEST_GUILESS_MAIN(TestCliCalibrate)
#include "tst_cli_calibrate.moc"
