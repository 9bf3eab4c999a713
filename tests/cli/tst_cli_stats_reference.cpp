// `calibrate` on checkpoints that are not in the repo (random models made by init-random, as a new
// user would bring), checked against a float64 reference that shares none of our code:
// tests/cli/hf_stats_ref.py runs HF transformers in float64 with hooks and rebuilds every token's
// SSM state with the recurrence in float64. Budgets: 1e-4 relative per channel statistic (our
// fp32 against float64), histograms within 0.1 % of their mass, counts exact. The same script
// checks the fused CUDA path on the GPU host (tests/gpu/run_calib_on_gpu_host.sh).
#include "tests/cli/cli_test_util.h"

using namespace cli_test;

namespace {

QProcess* start_reference(const QString& model, const QString& stats, const QStringList& texts,
                          int seq_len) {
  auto* p = new QProcess;
  QStringList args{QString::fromUtf8(MAMBASCOPE_SOURCE_DIR) + "/tests/cli/hf_stats_ref.py", model,
                   shared_tokenizer(), stats, "--seq-len", QString::number(seq_len)};
  for (const QString& t : texts) args << "--file" << t;
  p->setProcessChannelMode(QProcess::MergedChannels);
  p->start(QString::fromUtf8(MAMBASCOPE_PYTHON), args);
  return p;
}

int finish(QProcess* p, QByteArray* out) {
  p->waitForFinished(600000);
  *out = p->readAll();
  const int code = p->exitStatus() == QProcess::NormalExit ? p->exitCode() : -1;
  delete p;
  return code;
}

}  // namespace

class TestCliStatsReference : public QObject {
  Q_OBJECT
 private Q_SLOTS:
  void initTestCase() {
    if (QString::fromUtf8(MAMBASCOPE_PYTHON).isEmpty())
      QSKIP("MAMBASCOPE_PYTHON is not set: no independent reference to compare with");
  }

  void statistics_equal_the_float64_reference_data() {
    QTest::addColumn<QString>("preset");
    QTest::addColumn<QString>("layout");
    QTest::addColumn<int>("seed");
    QTest::newRow("mamba1 hf") << "tiny-mamba" << "hf" << 101;
    QTest::newRow("mamba2 hf") << "tiny-mamba2" << "hf" << 202;  // the reference reads HF layouts
  }
  void statistics_equal_the_float64_reference() {
    QFETCH(QString, preset);
    QFETCH(QString, layout);
    QFETCH(int, seed);
    QTemporaryDir tmp;
    const QString model = tmp.path() + "/model", stats = tmp.path() + "/stats.safetensors";
    CliResult r = run_cli({"init-random", "--preset", preset, "--layout", layout, "--seed",
                           QString::number(seed), "--out", model});
    QVERIFY2(r.exit_code == 0, qPrintable(r.describe()));
    // Two texts: one longer than a sequence (cut, last piece shorter), one shorter.
    const QStringList texts{model_dir("mamba1-hf") + "/ppl.txt",
                            QString::fromUtf8(MAMBASCOPE_SOURCE_DIR) + "/core/engine/calib_stats.h"};
    r = run_cli({"calibrate", model, "--tokenizer", shared_tokenizer(), "--file", texts[0], "--file",
                 texts[1], "--seq-len", "96", "--batch", "3", "--device", "cpu", "--out", stats});
    QVERIFY2(r.exit_code == 0, qPrintable(r.describe()));
    QByteArray out;
    const int code = finish(start_reference(model, stats, texts, 96), &out);
    QVERIFY2(code == 0, out.constData());
    QVERIFY2(out.contains(" ok ") && !out.contains("EXCEEDED"), out.constData());

    // The comparison can fail: the statistics of another seed's model are refused.
    const QString other = tmp.path() + "/other";
    r = run_cli({"init-random", "--preset", preset, "--seed", QString::number(seed + 1), "--out", other});
    QVERIFY2(r.exit_code == 0, qPrintable(r.describe()));
    QCOMPARE(finish(start_reference(other, stats, texts, 96), &out), 1);
    QVERIFY2(out.contains("EXCEEDED"), out.constData());
  }
};

QTEST_GUILESS_MAIN(TestCliStatsReference)
#include "tst_cli_stats_reference.moc"
