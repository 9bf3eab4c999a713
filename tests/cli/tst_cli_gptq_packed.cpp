// `quantize --method gptq --format packed`: GPTQ's own codes, scales, zeros and (act-order) g_idx
// in the packed layout. Round trip: tests/cli/export_check.py unpacks the export with numpy from
// the README's byte layout alone and finds every tensor bit-identical to the same GPTQ run exported
// `--format hf --dtype fp32` (the values the engine uses); act-order writes g_idx and says so in
// mambascope.json, and its groups are really scattered (not j / G); the report's per-weight errors
// are the hf export's.
#include "cli_test_util.h"

#include <QTemporaryDir>

using namespace cli_test;

namespace {
const QString kDemo = (QString::fromUtf8(MAMBASCOPE_SOURCE_DIR) + QStringLiteral("/resources/models/demo-mamba"));
const QString kAusten = (QString::fromUtf8(MAMBASCOPE_SOURCE_DIR) + QStringLiteral("/resources/texts/austen.txt"));
}  // namespace

class TestCliGptqPacked : public QObject {
  Q_OBJECT
  QTemporaryDir tmp_;
  int counter_ = 0;

  QString quantize(const QStringList& flags) {
    const QString out = tmp_.filePath(QStringLiteral("q%1").arg(counter_++));
    // A short calibration (4 windows of 128 tokens) keeps the sequential GPTQ quick on a CPU.
    const CliResult r = run_cli(QStringList{"quantize", kDemo, "--method", "gptq", "--out", out, "--calib-file", kAusten,
                                            "--calib-tokens", "512", "--calib-seq-len", "128", "--no-eval",
                                            "--report-tokens", "256"} + flags);
    if (r.exit_code != 0) {
      QTest::qFail(qPrintable("quantize " + flags.join(' ') + ": " + r.describe()), __FILE__, __LINE__);
      return {};
    }
    return out;
  }

 private Q_SLOTS:
  void initTestCase() {
    QVERIFY(tmp_.isValid());
    if (QString::fromUtf8(MAMBASCOPE_PYTHON).isEmpty())
      QSKIP("MAMBASCOPE_PYTHON is not set: the packed export cannot be unpacked independently");
  }

  void roundTrip_data() {
    QTest::addColumn<QStringList>("scheme");
    QTest::addColumn<bool>("actOrder");
    QTest::newRow("W4 sym channel") << QStringList{"--wbits", "4"} << false;
    // group:16: dt_proj's rows are 16 long (dt_rank of the demo model).
    QTest::newRow("W3 asym group:16 act-order")
        << QStringList{"--wbits", "3", "--asym", "--granularity", "group:16", "--act-order"} << true;
  }
  void roundTrip() {
    QFETCH(QStringList, scheme);
    QFETCH(bool, actOrder);
    const QString packed = quantize(scheme + QStringList{"--format", "packed"});
    const QString hf = quantize(scheme + QStringList{"--format", "hf", "--dtype", "fp32"});
    QVERIFY(!packed.isEmpty() && !hf.isEmpty());

    QProcess py;
    py.start(QString::fromUtf8(MAMBASCOPE_PYTHON),
             {(QString::fromUtf8(MAMBASCOPE_SOURCE_DIR) + QStringLiteral("/tests/cli/export_check.py")), "packed", kDemo, packed, hf});
    QVERIFY(py.waitForFinished(300000));
    const QByteArray out = py.readAllStandardOutput();
    QVERIFY2(py.exitCode() == 0, qPrintable(out + py.readAllStandardError()));
    const json check = json::parse(out.toStdString());
    QCOMPARE(check["packed"].get<int>(), 24);  // 6 layers × in/x/dt/out_proj

    const json s = read_json(packed + "/mambascope.json");
    QCOMPARE(s["weights"]["method"].get<std::string>(), std::string("gptq"));
    QCOMPARE(s["packing"]["act_order"].get<bool>(), actOrder);
    // With act-order, g_idx is stored and scatters the groups (else it is left out: column j / G).
    const QByteArray header = read_bytes(packed + "/model.safetensors").left(200000);
    QCOMPARE(header.contains("in_proj.g_idx"), actOrder);
    if (actOrder) {
      QProcess g;
      g.start(QString::fromUtf8(MAMBASCOPE_PYTHON),
              {"-c", "import sys, numpy as np; from safetensors.numpy import load_file; "
                     "g = load_file(sys.argv[1])['backbone.layers.0.mixer.in_proj.g_idx']; "
                     "print(int((g != np.arange(g.size) // 16).sum()))",
               packed + "/model.safetensors"});
      QVERIFY(g.waitForFinished(60000));
      QVERIFY2(g.readAllStandardOutput().trimmed().toInt() > 0, g.readAllStandardError().constData());
    }
    // The same weights, the same errors.
    QCOMPARE(read_json(packed + "/report.json")["weights"].dump(), read_json(hf + "/report.json")["weights"].dump());
  }
};

QTEST_GUILESS_MAIN(TestCliGptqPacked)
#include "tst_cli_gptq_packed.moc"
