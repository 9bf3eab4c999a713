// Static activation scales of transformed models (core/cli/static_scales.h), run as a user would:
// `quantize --act-scale static` after an offline transform records each Linear input's absmax of
// the transformed model, checked against an independent float64 transformers reference
// (static_scales_ref.py); after smooth-fused, whose online Hadamard rotates out_proj's input at run
// time, eval uses the recorded scales and measures the same ones again when a scheme lacks them;
// without transforms the scales are calibrate's; a lying scheme is refused in one line.
#include <QtTest>

#include <QProcess>
#include <QTemporaryDir>

#include "cli_test_util.h"

using namespace cli_test;

namespace {

constexpr int kCalibTokens = 300;  // of the text below, cut in windows of 32 tokens
constexpr int kSeqLen = 32;

}  // namespace

class TestCliStaticScales : public QObject {
  Q_OBJECT
  QTemporaryDir tmp_;
  int counter_ = 0;
  QString text_;
  QString fresh(const QString& stem) { return tmp_.filePath(stem + QString::number(counter_++)); }

  QStringList calib_args() const {
    return {"--calib-file", text_, "--calib-seq-len", QString::number(kSeqLen), "--calib-tokens",
            QString::number(kCalibTokens)};
  }
  QString quantize(const QString& model, const QStringList& args) {
    const QString out = fresh("q");
    const CliResult r = run_cli(QStringList{"quantize", model, "--out", out, "--format", "packed", "--abits", "8",
                                            "--act-scale", "static", "--act-granularity", "tensor"} +
                                calib_args() + args);
    if (r.exit_code != 0) QTest::qFail(qPrintable(r.describe()), __FILE__, __LINE__);
    return out;
  }
  // static_scales_ref.py's JSON line (null without the venv).
  json reference(const QStringList& args) {
    const QString python = QString::fromUtf8(MAMBASCOPE_PYTHON);
    if (python.isEmpty()) return json();
    QProcess p;
    p.start(python, QStringList{QString::fromUtf8(MAMBASCOPE_SOURCE_DIR) + "/tests/cli/static_scales_ref.py"} + args +
                        QStringList{"--file", text_, "--seq-len", QString::number(kSeqLen), "--tokens",
                                    QString::number(kCalibTokens)});
    if (!p.waitForFinished(300000) || p.exitCode() != 0) {
      qWarning("static_scales_ref.py failed:\n%s", p.readAllStandardError().constData());
      return json::object();
    }
    return json::parse(p.readAllStandardOutput().trimmed().split('\n').last().toStdString());
  }
  static bool agrees(const json& r) {
    // fp32 transforms and forward against float64: ~1e-6 relative; a scale of the untransformed
    // model, or of an unrotated input, is off by tens of percent.
    qInfo("reference: %s", r.dump().c_str());
    const bool ok = r.contains("points") && r["points"].get<int>() == 8 && r["missing"].empty() &&
                    r["extra"].empty() && r["max_rel"].get<double>() < 2e-5;
    if (!ok) qWarning("reference: %s", r.dump().c_str());
    return ok;
  }

 private Q_SLOTS:
  void initTestCase() {
    QVERIFY(tmp_.isValid());
    text_ = tmp_.filePath("calib.txt");
    QVERIFY(write_bytes(text_, QByteArray("It is a truth universally acknowledged, that a single man in possession "
                                          "of a good fortune, must be in want of a wife. Call me Ishmael. ")
                                   .repeated(12)));
  }

  void hadamardScalesMatchReference() {
    if (QString::fromUtf8(MAMBASCOPE_PYTHON).isEmpty()) QSKIP("MAMBASCOPE_PYTHON is not set: no reference");
    const QString src = model_dir("mamba1-hf");
    const QString out = quantize(src, {"--method", "hadamard,rtn"});
    if (QTest::currentTestFailed()) return;
    const json s = read_json(out + "/mambascope.json");
    QCOMPARE(s["activations"]["absmax"].size(), size_t(8));
    QVERIFY(s["activations"]["absmax_from"].get<std::string>().find("transformed") != std::string::npos);
    QCOMPARE(s["calibration"]["tokens"].get<int>(), kCalibTokens);
    QVERIFY(agrees(reference({src, out, "hadamard", src + "/tokenizer.json"})));
  }

  void smoothquantScalesMatchReference() {
    if (QString::fromUtf8(MAMBASCOPE_PYTHON).isEmpty()) QSKIP("MAMBASCOPE_PYTHON is not set: no reference");
    const QString src = model_dir("mamba1-hf"), stats = fresh("stats-") + ".safetensors";
    const CliResult c = run_cli({"calibrate", src, "--file", text_, "--out", stats, "--seq-len", "64"});
    QVERIFY2(c.exit_code == 0, qPrintable(c.describe()));
    const QString out = quantize(src, {"--method", "smoothquant,rtn", "--stats", stats, "--alpha", "0.7"});
    if (QTest::currentTestFailed()) return;
    QVERIFY(agrees(reference({src, out, "smoothquant", src + "/tokenizer.json", "--stats", stats, "--alpha", "0.7"})));
    // Another statistics file would give SmoothQuant other scales, so eval other weights: refused.
    const QString other = fresh("other-") + ".safetensors";
    QCOMPARE(run_cli({"calibrate", src, "--file", text_, "--out", other, "--seq-len", "16"}).exit_code, 0);
    const CliResult r = run_cli({"eval", src, "--scheme", out + "/mambascope.json", "--file", text_, "--stats", other});
    QVERIFY2(r.exit_code == 2 && one_line(r.err) && r.err.contains("--stats: the scheme's transforms ran on"),
             qPrintable(r.describe()));
  }

  // smooth-fused rotates out_proj's input online: the scales must be of the rotated values. eval
  // uses the recorded ones; a scheme without them gets the same measured again (same numbers,
  // same metrics); dynamic scales give other metrics, so the static path is what ran.
  void onlineRotationUsesRecordedScales() {
    const QString src = model_dir("mamba1-hf");
    const QString out = quantize(src, {"--method", "smooth-fused,rtn"});
    if (QTest::currentTestFailed()) return;
    const json s = read_json(out + "/mambascope.json");
    QVERIFY(!s["runtime"].empty());
    QCOMPARE(s["activations"]["absmax"].size(), size_t(8));
    const auto eval = [&](const QString& scheme, const QStringList& extra = {}) {
      return run_cli_json(QStringList{"eval", src, "--scheme", scheme, "--file", text_, "--ctx", "32"} +
                          extra)["end_to_end"];
    };
    const json recorded = eval(out + "/mambascope.json");
    json stripped = s;
    stripped["activations"].erase("absmax");
    const QString again = fresh("stripped-") + ".json";
    QVERIFY(write_json(again, stripped));
    const json measured = eval(again);
    const json dynamic = eval(out + "/mambascope.json", {"--act-scale", "dynamic"});
    if (QTest::currentTestFailed()) return;
    QCOMPARE(measured["kl_mean"].get<double>(), recorded["kl_mean"].get<double>());
    QCOMPARE(measured["perplexity_quant"].get<double>(), recorded["perplexity_quant"].get<double>());
    QVERIFY(recorded["kl_mean"].get<double>() > 0);
    QVERIFY(dynamic["kl_mean"].get<double>() != recorded["kl_mean"].get<double>());
  }

  // No transform and no --stats: the scales are calibrate's absmax on the same text, exactly.
  void withoutTransformsScalesAreCalibrates() {
    const QString src = model_dir("mamba1-hf"), stats = fresh("stats-") + ".safetensors";
    const QString out = quantize(src, {"--method", "rtn"});
    const CliResult c = run_cli({"calibrate", src, "--file", text_, "--out", stats, "--seq-len",
                                 QString::number(kSeqLen), "--max-tokens", QString::number(kCalibTokens)});
    QVERIFY2(c.exit_code == 0, qPrintable(c.describe()));
    if (QTest::currentTestFailed()) return;
    const json absmax = read_json(out + "/mambascope.json")["activations"]["absmax"];
    const Safetensors st = read_safetensors(stats);
    QCOMPARE(absmax.size(), size_t(8));
    for (const auto& [point, value] : absmax.items()) {
      const json h = st.header[point + ".absmax"];
      const auto begin = static_cast<qsizetype>(h["data_offsets"][0].get<uint64_t>());
      const auto end = static_cast<qsizetype>(h["data_offsets"][1].get<uint64_t>());
      float largest = 0;
      for (qsizetype o = begin; o < end; o += 4) {
        float v;
        std::memcpy(&v, st.data.constData() + o, 4);
        largest = std::max(largest, v);
      }
      QCOMPARE(value.get<double>(), double(largest));
    }
  }

  void lyingSchemeRefused() {
    const QString src = model_dir("mamba1-hf");
    for (const json& absmax : {json{{"layers.0.ssm.state", 1.0}}, json{{"layers.0.in_proj.input", -2.0}},
                               json{{"layers.0.in_proj.input", "big"}}}) {
      const QString file = fresh("lying-") + ".json";
      QVERIFY(write_json(file, json{{"activations", {{"bits", 8}, {"scale", "static"}, {"granularity", "tensor"},
                                                     {"absmax", absmax}}}}));
      const CliResult r = run_cli({"eval", src, "--scheme", file, "--file", text_, "--device", "cpu"});
      QVERIFY2(r.exit_code == 1 && one_line(r.err) && QString::fromUtf8(r.err).contains(file + ": activations.absmax"),
               qPrintable(r.describe()));
    }
    // Recorded scales that miss a point of this model, or name one it lacks (another model's), are
    // refused naming the file and the point.
    const json all = read_json(quantize(src, {"--method", "rtn"}) + "/mambascope.json")["activations"]["absmax"];
    json partial = all, foreign = all;
    partial.erase("layers.1.x_proj.input");
    foreign["layers.7.in_proj.input"] = 1.0;
    for (const auto& [absmax, needle] : {std::pair{partial, QString("no value for layers.1.x_proj.input")},
                                         std::pair{foreign, QString("names layers.7.in_proj.input, which this model lacks")}}) {
      const QString file = fresh("recorded-") + ".json";
      QVERIFY(write_json(file, json{{"activations", {{"bits", 8}, {"scale", "static"}, {"granularity", "tensor"},
                                                     {"absmax", absmax}}}}));
      const CliResult r = run_cli({"eval", src, "--scheme", file, "--file", text_, "--device", "cpu"});
      QVERIFY2(r.exit_code == 1 && one_line(r.err) && QString::fromUtf8(r.err).contains(file + ": activations.absmax") &&
                   QString::fromUtf8(r.err).contains(needle),
               qPrintable(r.describe()));
    }
  }
};

QTEST_GUILESS_MAIN(TestCliStaticScales)
#include "tst_cli_static_scales.moc"
