// `quantize --method T,rtn --format hf` with transforms (core/cli/quantize_transforms.h), run as a
// user would: the export against an independent numpy reference (tests/cli/transform_ref.py: the
// same transform written from METHODS.md, then the contract's RTN), transformers loading it (lm_head
// untied by the residual rotation), mambascope.json recording each transform, statistics taken
// from --stats or collected on --calib-file, and the refusals (run-time parts in a plain-weights
// format, rounding not last).
#include <QtTest>

#include <QProcess>
#include <QTemporaryDir>

#include "cli_test_util.h"

using namespace cli_test;

namespace {

// W8 per-channel RTN of a tiny random model: the logits move by well under 5% of their range
// (measured ~1%); a wrong rotation or smoothing scrambles them (relative differences of order 1).
constexpr double kW8LogitRel = 0.05;

}  // namespace

class TestCliTransforms : public QObject {
  Q_OBJECT
  QTemporaryDir tmp_;
  int counter_ = 0;
  QString fresh(const QString& stem) { return tmp_.filePath(stem + QString::number(counter_++)); }

  // Runs transform_ref.py; returns its JSON line (QSKIP without the venv).
  json reference(const QStringList& args) {
    const QString python = QString::fromUtf8(MAMBASCOPE_PYTHON);
    if (python.isEmpty()) return json();
    QProcess p;
    p.start(python, QStringList{QString::fromUtf8(MAMBASCOPE_SOURCE_DIR) + "/tests/cli/transform_ref.py"} + args);
    if (!p.waitForFinished(300000) || p.exitCode() != 0) {
      qWarning("transform_ref.py failed:\n%s", p.readAllStandardError().constData());
      return json::object();
    }
    return json::parse(p.readAllStandardOutput().trimmed().split('\n').last().toStdString());
  }

  static bool reference_agrees(const json& r) {
    if (r.is_null() || !r.contains("tensors")) return false;
    // The tool stores each transform's result in fp32 before the next (norm fusion, then the
    // rotation), numpy rounds once: weights differ by ~1e-7 relative, so an element whose w/s lies
    // that close to a .5 tie may round one step apart (expected < 1 of the ~60k rounded elements);
    // 10 allows for it, and any difference of more than one step is a defect.
    const bool ok = r["missing"].empty() && r["float_max_rel"].get<double>() < 1e-6 &&
                    r["worse"].get<int64_t>() == 0 && r["step_diffs"].get<int64_t>() <= 10 &&
                    r["logit_rel"].get<double>() < kW8LogitRel;
    if (!ok) qWarning("reference: %s", r.dump().c_str());
    return ok;
  }

 private Q_SLOTS:
  void initTestCase() { QVERIFY(tmp_.isValid()); }

  void hadamardMatchesReference() {
    if (QString::fromUtf8(MAMBASCOPE_PYTHON).isEmpty()) QSKIP("MAMBASCOPE_PYTHON is not set: no reference");
    const QString src = model_dir("mamba1-hf"), out = fresh("hadamard-");
    const CliResult q = run_cli({"quantize", src, "--method", "hadamard,rtn", "--format", "hf", "--out", out});
    QVERIFY2(q.exit_code == 0, qPrintable(q.describe()));
    const json s = read_json(out + "/mambascope.json");
    QCOMPARE(s["methods"], json::array({"hadamard", "rtn"}));
    QCOMPARE(s["transforms"][0]["method"].get<std::string>(), std::string("hadamard"));
    QCOMPARE(s["transforms"][0]["sites"].size(), size_t(3));  // residual + 2 dt paths
    QVERIFY(s["statistics"].is_null());                     // Hadamard needs none
    const json r = reference({src, out, "hadamard", "8"});
    QVERIFY(reference_agrees(r));
    QCOMPARE(r["tie_word_embeddings"].get<bool>(), false);
  }

  // SmoothQuant from a --stats file: the same scales in numpy from the same file.
  void smoothquantMatchesReference() {
    if (QString::fromUtf8(MAMBASCOPE_PYTHON).isEmpty()) QSKIP("MAMBASCOPE_PYTHON is not set: no reference");
    const QString src = model_dir("mamba1-hf"), stats = fresh("stats-") + ".safetensors";
    const QString text = fresh("text-") + ".txt";
    QVERIFY(write_bytes(text, QByteArray("It is a truth universally acknowledged, that a single man in "
                                         "possession of a good fortune, must be in want of a wife. ")
                                  .repeated(8)));
    const CliResult c = run_cli({"calibrate", src, "--file", text, "--out", stats, "--seq-len", "64"});
    QVERIFY2(c.exit_code == 0, qPrintable(c.describe()));
    const QString out = fresh("sq-");
    const CliResult q = run_cli({"quantize", src, "--method", "smoothquant,rtn", "--format", "hf", "--stats",
                                 stats, "--alpha", "0.6", "--out", out});
    QVERIFY2(q.exit_code == 0, qPrintable(q.describe()));
    const json s = read_json(out + "/mambascope.json");
    QCOMPARE(s["transforms"][0]["alpha"].get<double>(), 0.6);
    QCOMPARE(s["transforms"][0]["statistics"].get<std::string>(), std::string("given"));
    QVERIFY(s["statistics"]["file"].get<std::string>().find("stats-") != std::string::npos);
    QVERIFY(reference_agrees(reference({src, out, "smoothquant", "8", stats, "0.6"})));
  }

  // KLT collects its covariance on --calib-file (no --stats); Mamba-2 too; transformers loads the
  // exports and their logits stay within W8 noise of the source's.
  void kltCollectsStatistics() {
    const QString text = fresh("klt-text-") + ".txt";
    QVERIFY(write_bytes(text, QByteArray("Call me Ishmael. Some years ago, never mind how long precisely. ").repeated(10)));
    for (const QString fixture : {"mamba1-hf", "mamba2-hf"}) {
      const QString out = fresh("klt-");
      const CliResult q = run_cli({"quantize", model_dir(fixture), "--method", "klt,smoothquant,rtn", "--format",
                                   "hf", "--calib-file", text, "--calib-seq-len", "32", "--out", out});
      QVERIFY2(q.exit_code == 0, qPrintable(q.describe()));
      const json s = read_json(out + "/mambascope.json");
      QCOMPARE(s["statistics"]["collected"].size(), size_t(2));  // for klt, again after it
      QVERIFY(s["statistics"]["collected"][0]["covariance"].get<bool>());
      QVERIFY(s["transforms"][0]["residual_variance_cv"]["klt"].get<double>() < 1e-6);
      QCOMPARE(s["transforms"][1]["statistics"].get<std::string>(), std::string("recalibrated"));
    }
  }

  void runtimePartsNeedWeightsOnly() {
    const QString src = model_dir("mamba1-hf"), text = fresh("sf-text-") + ".txt";
    QVERIFY(write_bytes(text, QByteArray("A short text for the statistics. ").repeated(12)));
    const QString dir = fresh("sf-");
    QVERIFY(QDir().mkpath(dir));
    const CliResult refused = run_cli({"quantize", src, "--method", "smooth-fused,rtn", "--format", "hf",
                                       "--calib-file", text, "--out", dir + "/out"});
    QCOMPARE(refused.exit_code, 2);
    QVERIFY2(refused.err.contains("--weights-only") && one_line(refused.err), refused.err.constData());
    QVERIFY(!QFileInfo::exists(dir + "/out"));
    const CliResult q = run_cli({"quantize", src, "--method", "smooth-fused,rtn", "--format", "hf",
                                 "--weights-only", "--calib-file", text, "--out", dir + "/out"});
    QVERIFY2(q.exit_code == 0, qPrintable(q.describe()));
    const json s = read_json(dir + "/out/mambascope.json");
    QCOMPARE(s["dropped"].size(), size_t(4));  // S-SiLU and online Hadamard, two layers
    QVERIFY(!s.contains("runtime"));
    QCOMPARE(s["transforms"][0]["sites"].size(), size_t(2));  // the state smoothing of two layers
    // --format packed keeps them for a runtime: recorded, the S-SiLU scales in runtime.safetensors.
    const CliResult p = run_cli({"quantize", src, "--method", "smooth-fused,rtn", "--format", "packed",
                                 "--calib-file", text, "--out", dir + "/packed"});
    QVERIFY2(p.exit_code == 0, qPrintable(p.describe()));
    const json ps = read_json(dir + "/packed/mambascope.json");
    QCOMPARE(ps["runtime"].size(), size_t(4));
    QCOMPARE(ps["runtime"][0]["kind"].get<std::string>(), std::string("s_silu"));
    QCOMPARE(ps["runtime"][0]["tensor"].get<std::string>(), std::string("layers.0.out_proj.input.s_silu_scale"));
    QCOMPARE(ps["runtime"][1]["kind"].get<std::string>(), std::string("online_hadamard"));
    const Safetensors rt = read_safetensors(dir + "/packed/runtime.safetensors");
    QCOMPARE(rt.header.size(), size_t(3));  // two scale vectors and __metadata__
    QCOMPARE(rt.header["layers.1.out_proj.input.s_silu_scale"]["shape"], json::array({128}));
  }

  void refusedChains_data() {
    QTest::addColumn<QStringList>("methods");
    QTest::addColumn<int>("code");
    QTest::addColumn<QString>("names");
    QTest::newRow("rounding first") << QStringList{"rtn,hadamard"} << 2 << "last";
    QTest::newRow("no rounding") << QStringList{"hadamard"} << 2 << "rounding";
    QTest::newRow("twice") << QStringList{"hadamard,hadamard,rtn"} << 2 << "twice";
    QTest::newRow("stats of another model") << QStringList{"smoothquant,rtn", "--stats", "MAMBA2"} << 1 << "another model";
  }
  void refusedChains() {
    QFETCH(QStringList, methods);
    QFETCH(int, code);
    QFETCH(QString, names);
    QStringList args{"quantize", model_dir("mamba1-hf"), "--format", "hf", "--method"};
    for (QString m : methods) {
      if (m == "MAMBA2") {  // statistics of the Mamba-2 fixture
        m = fresh("m2stats-") + ".safetensors";
        const QString text = fresh("m2text-") + ".txt";
        QVERIFY(write_bytes(text, QByteArray("abc def ghi ").repeated(20)));
        QCOMPARE(run_cli({"calibrate", model_dir("mamba2-hf"), "--file", text, "--out", m}).exit_code, 0);
      }
      args << m;
    }
    const QString out = fresh("refused-");
    const CliResult r = run_cli(args + QStringList{"--out", out});
    QVERIFY2(r.exit_code == code && r.err.contains(names.toUtf8()) && one_line(r.err), qPrintable(r.describe()));
    QVERIFY(!QFileInfo::exists(out));
  }
};

QTEST_APPLESS_MAIN(TestCliTransforms)
#include "tst_cli_transforms.moc"
