// `mambascope-cli states` (one layer's state token by token, float and quantized) on the Mamba-1
// fixture, checked by tests/cli/states_ref.py, which shares none of our code: HF transformers in
// float64 gives the layer's inputs and the recurrence is redone there. Float states equal it to
// 1e-5; at H16 the quantized run is the float one bit for bit; at H4 the DSQ (and per-tensor)
// scales of each token equal dsq.h's formulas on h_t rebuilt from the file's previous quantized
// state, and the quantized states are Q(h_t). Bad input: one line, exit 2, no file.
#include "tests/cli/cli_test_util.h"

#include <cstring>

using namespace cli_test;

namespace {

const QString kText = QStringLiteral(
    "It is a truth universally acknowledged, that a single man in possession of a good fortune, "
    "must be in want of a wife. However little known the feelings or views of such a man may be "
    "on his first entering a neighbourhood, this truth is so well fixed in the minds of the "
    "surrounding families.");

std::vector<float> floats(const Safetensors& st, const std::string& key) {
  const json& h = st.header.at(key);
  const auto begin = h.at("data_offsets")[0].get<qsizetype>(), end = h.at("data_offsets")[1].get<qsizetype>();
  std::vector<float> v(static_cast<size_t>(end - begin) / sizeof(float));
  std::memcpy(v.data(), st.data.constData() + begin, static_cast<size_t>(end - begin));
  return v;
}

// Runs the reference on `file`; returns its exit code and prints its report.
int reference(const QString& file) {
  QProcess p;
  p.setProcessChannelMode(QProcess::MergedChannels);
  p.start(QString::fromUtf8(MAMBASCOPE_PYTHON),
          {QString::fromUtf8(MAMBASCOPE_SOURCE_DIR) + "/tests/cli/states_ref.py", model_dir("mamba1-hf"), file});
  p.waitForFinished(600000);
  qInfo("%s", p.readAll().constData());
  return p.exitStatus() == QProcess::NormalExit ? p.exitCode() : -1;
}

CliResult states(const QString& out, const QStringList& extra) {
  return run_cli(QStringList{"states", model_dir("mamba1-hf"), "--text", kText, "--layer", "1", "--max-tokens", "40",
                             "--device", "cpu", "--out", out} + extra);
}

}  // namespace

class TestCliStates : public QObject {
  Q_OBJECT
 private Q_SLOTS:
  void initTestCase() {
    if (QString::fromUtf8(MAMBASCOPE_PYTHON).isEmpty())
      QSKIP("MAMBASCOPE_PYTHON is not set: no independent reference to compare with");
  }

  void float_states_and_h16_equal_the_reference() {
    QTemporaryDir tmp;
    const QString out = tmp.path() + "/s.safetensors";
    const CliResult r = states(out, {"--hbits", "16"});
    QVERIFY2(r.exit_code == 0, qPrintable(r.describe()));
    const Safetensors st = read_safetensors(out);
    // The fixture: E 128, N 16; 40 tokens of the text.
    QCOMPARE(st.header.at("float_states").at("shape").get<std::vector<int64_t>>(), (std::vector<int64_t>{40, 128, 16}));
    QCOMPARE(st.header.at("state_scales").at("shape").get<std::vector<int64_t>>(), (std::vector<int64_t>{40, 1, 16}));
    QCOMPARE(st.header.at("__metadata__").at("hbits").get<std::string>(), std::string("16"));
    QCOMPARE(json::parse(st.header.at("__metadata__").at("pieces").get<std::string>()).size(), size_t{40});
    QVERIFY(floats(st, "quant_states") == floats(st, "float_states"));
    QCOMPARE(reference(out), 0);
  }

  void quantized_states_and_scales_equal_the_reference_data() {
    QTest::addColumn<QString>("method");
    QTest::newRow("dsq") << "dsq";
    QTest::newRow("tensor") << "tensor";
  }
  void quantized_states_and_scales_equal_the_reference() {
    QFETCH(QString, method);
    QTemporaryDir tmp;
    const QString out = tmp.path() + "/s.safetensors";
    const CliResult r = states(out, {"--hbits", "4", "--state-method", method});
    QVERIFY2(r.exit_code == 0, qPrintable(r.describe()));
    const Safetensors st = read_safetensors(out);
    QCOMPARE(st.header.at("__metadata__").at("state_method").get<std::string>(), method.toStdString());
    // H4 moves the state: the runs differ (else the reference's quantized check proves nothing).
    QVERIFY(floats(st, "quant_states") != floats(st, "float_states"));
    QCOMPARE(reference(out), 0);
  }

  void bad_input_is_one_line_and_no_file() {
    QTemporaryDir tmp;
    const QString out = tmp.path() + "/s.safetensors";
    for (const QStringList& bad : {QStringList{"--layer", "2"}, QStringList{"--hbits", "1"},
                                   QStringList{"--state-method", "row"}}) {
      const CliResult r = states(out, bad);
      QVERIFY2(r.exit_code == 2, qPrintable(r.describe()));
      QVERIFY2(one_line(r.err), qPrintable(r.describe()));
      QVERIFY(!QFile::exists(out));
    }
    const CliResult h = run_cli({"states", "--help"});
    QCOMPARE(h.exit_code, 0);
    QVERIFY(h.out.contains("mambascope-cli states resources/models/demo-mamba"));
  }
};

QTEST_GUILESS_MAIN(TestCliStates)
#include "tst_cli_states.moc"
