// `eval` and `sweep` on schemes with transforms and GPTQ (issue 5), run as a user would on the tiny
// Mamba-1 and Mamba-2 fixtures:
//   - eval of an exported `hadamard,rtn` (and `klt,gptq`, fp16) scheme: the quantized perplexity is
//     exactly `perplexity` of the exported HF checkpoint at the same windows (eval reruns the
//     method chain with quantize's code), and the weight errors are report.json's;
//   - a transform in full precision (no weight rounding) gives the float perplexity, smooth-fused
//     included (its S-SiLU and online Hadamard run in the forward; kept or dropped);
//   - smooth-fused at W8A8 (--format packed keeps the run-time parts): eval reports the run-time
//     parts, and activations compare in the transformed coordinates (out_proj's input SQNR is
//     that of 8-bit rounding, not of two unrelated tensors);
//   - sweep on a transformed scheme; a changed calibration text is refused by name.
#include "cli_test_util.h"

#include <QTemporaryDir>

#include <cmath>

using namespace cli_test;

namespace {

const QStringList kCalib{"--calib-tokens", "512", "--calib-seq-len", "64"};

}  // namespace

class TestCliSchemeEval : public QObject {
  Q_OBJECT
  QTemporaryDir tmp_;
  int counter_ = 0;
  QString fresh(const QString& stem) { return tmp_.filePath(stem + QString::number(counter_++)); }

  QString text_of(const QString& model) {
    const QString file = tmp_.filePath(QFileInfo(model).fileName() + ".txt");
    if (!QFileInfo::exists(file))
      write_bytes(file, QByteArray::fromStdString(read_json(model + "/expected.json")["text"].get<std::string>()));
    return file;
  }

  // quantize into a fresh directory; returns it.
  QString quantize(const QString& model, const QStringList& args) {
    const QString out = fresh("q");
    const CliResult r = run_cli(QStringList{"quantize", model, "--out", out} + args);
    if (r.exit_code != 0) QTest::qFail(qPrintable(r.describe()), __FILE__, __LINE__);
    return out;
  }

  // eval's quantized side against `perplexity` of the export.
  void check_export(const QString& model, const QString& out) {
    if (QTest::currentTestFailed()) return;  // quantize failed: nothing to compare
    const QString text = text_of(model);
    const json e = run_cli_json({"eval", model, "--scheme", out + "/mambascope.json", "--file", text, "--ctx", "32"});
    const json pf = run_cli_json({"perplexity", model, "--file", text, "--ctx", "32"});
    const json pq = run_cli_json({"perplexity", out, "--file", text, "--ctx", "32"});
    if (QTest::currentTestFailed()) return;
    const json& ee = e["end_to_end"];
    qInfo("%s %s: eval quantized %.12g, perplexity of the export %.12g (float %.12g)",
          qPrintable(QFileInfo(model).fileName()), e["scheme_text"].get<std::string>().c_str(),
          ee["perplexity_quant"].get<double>(), pq["perplexity"].get<double>(), pf["perplexity"].get<double>());
    // Same weights, same dtype conversions, same forward: equal, not close.
    QCOMPARE(ee["perplexity_quant"].get<double>(), pq["perplexity"].get<double>());
    QCOMPARE(ee["perplexity_float"].get<double>(), pf["perplexity"].get<double>());
    QVERIFY(ee["kl_mean"].get<double>() > 0);
    QCOMPARE(e["transformed"].get<bool>(), true);
    const json report = read_json(out + "/report.json");
    QCOMPARE(e["weights"].size(), report["weights"].size());
    for (size_t i = 0; i < report["weights"].size(); ++i) {
      QCOMPARE(e["weights"][i]["point"], report["weights"][i]["key"]);
      QCOMPARE(e["weights"][i]["mse"].get<double>(), report["weights"][i]["mse"].get<double>());
    }
  }

 private Q_SLOTS:
  void initTestCase() { QVERIFY(tmp_.isValid()); }

  void hadamardRtnIsTheExport() {
    for (const QString name : {"mamba1-hf", "mamba2-hf"}) {
      const QString model = model_dir(name);
      check_export(model, quantize(model, {"--method", "hadamard,rtn", "--format", "hf", "--wbits", "4"}));
    }
  }

  void kltGptqIsTheExport() {
    const QString model = model_dir("mamba1-hf");
    check_export(model, quantize(model, QStringList{"--method", "klt,gptq", "--format", "hf", "--wbits", "4",
                                                    "--granularity", "group:4", "--act-order", "--dtype",
                                                    "fp16"} + kCalib));
  }

  // No rounding: the transformed model in fp32 is the original up to fp32 rounding of its weights.
  void fullPrecisionIsFloat() {
    for (const QString name : {"mamba1-hf", "mamba2-hf"}) {
      const QString model = model_dir(name), text = text_of(model);
      for (const auto& [methods, runtime] : {std::pair{"hadamard", true}, std::pair{"klt", true},
                                             std::pair{"smoothquant", true}, std::pair{"smooth-fused", true},
                                             std::pair{"smooth-fused", false}}) {
        const QString scheme = fresh("float") + ".json";
        write_json(scheme, json{{"methods", {methods}}, {"runtime_transforms", runtime},
                                {"calibration", {{"tokens", 512}, {"seq_len", 64}}}});
        const json e = run_cli_json({"eval", model, "--scheme", scheme, "--file", text, "--ctx", "32"});
        const json& ee = e["end_to_end"];
        const double rel = std::abs(ee["perplexity_quant"].get<double>() / ee["perplexity_float"].get<double>() - 1);
        qInfo("%s %s%s in fp32: |ppl/ppl_float - 1| = %.3g, KL mean %.3g", qPrintable(name), methods,
              runtime ? "" : " (weights only)", rel, ee["kl_mean"].get<double>());
        QVERIFY(e["transformed"].get<bool>());
        // fp32 weights of a rotated model: logits agree to ~1e-6 relative; a missing S-SiLU or
        // rotation changes the perplexity by whole percents.
        QVERIFY(rel < 1e-5);
        QVERIFY(ee["kl_mean"].get<double>() < 1e-8);
        QCOMPARE(ee["top1_agreement"].get<double>(), 1.0);
      }
    }
  }

  void smoothFusedW8A8() {
    for (const QString name : {"mamba1-hf", "mamba2-hf"}) {
      const QString model = model_dir(name), text = text_of(model);
      const QString out = quantize(model, QStringList{"--method", "smooth-fused,rtn", "--format", "packed",
                                                      "--wbits", "8", "--abits", "8"} + kCalib);
      const json e = run_cli_json({"eval", model, "--scheme", out + "/mambascope.json", "--file", text, "--ctx", "32"});
      const bool mamba2 = name == "mamba2-hf";
      // Mamba-1: S-SiLU and an online Hadamard per layer (2 layers); Mamba-2: the Hadamard alone.
      QCOMPARE(e["runtime_transforms"].size(), size_t(mamba2 ? 2 : 4));
      QCOMPARE(e["scheme_text"].get<std::string>(), std::string("smooth-fused then W8 channel sym rtn, A8 dynamic token, H16"));
      const json& ee = e["end_to_end"];
      QVERIFY(ee["kl_mean"].get<double>() > 0 && ee["kl_mean"].get<double>() < 0.05);
      for (const json& p : e["points"]) {
        const double sqnr = p["sqnr_db"].get<double>();
        qInfo("%s %s SQNR %.2f dB", qPrintable(name), p["point"].get<std::string>().c_str(), sqnr);
        // 8-bit per-token rounding of a transformed activation against the same activation in
        // float: tens of dB (an untransformed reference would give about 0 dB or less).
        if (p["point"].get<std::string>().find("out_proj.input") != std::string::npos) QVERIFY(sqnr > 20);
      }
    }
  }

  void sweepTransformed() {
    const QString model = model_dir("mamba1-hf"), text = text_of(model);
    const QString out = quantize(model, {"--method", "hadamard,rtn", "--format", "hf", "--wbits", "4"});
    const json s = run_cli_json({"sweep", model, "--scheme", out + "/mambascope.json", "--file", text, "--ctx", "32"});
    QCOMPARE(s["units"].size(), size_t(2));
    for (const json& u : s["units"]) QVERIFY(u["kl_mean"].get<double>() > 0);
    const json p = run_cli_json({"sweep", model, "--scheme", out + "/mambascope.json", "--file", text, "--ctx", "32",
                             "--by", "point"});
    QCOMPARE(p["units"].size(), size_t(8));  // 2 layers x 4 weights
  }

  void changedCalibrationTextIsRefused() {
    const QString model = model_dir("mamba1-hf"), text = text_of(model);
    const QString copy = fresh("calib") + ".txt";
    QVERIFY(QFile::copy(QString::fromUtf8(MAMBASCOPE_SOURCE_DIR) + "/resources/texts/austen.txt", copy));
    const QString out = quantize(model, QStringList{"--method", "smoothquant,rtn", "--format", "hf",
                                                    "--calib-file", copy} + kCalib);
    write_bytes(copy, "Another text entirely.\n");
    const CliResult r = run_cli({"eval", model, "--scheme", out + "/mambascope.json", "--file", text, "--device", "cpu"});
    QVERIFY2(r.exit_code == 1 && one_line(r.err) && r.err.contains("is not the text the scheme was calibrated on") &&
                 r.err.contains(QFileInfo(copy).fileName().toUtf8()),
             qPrintable(r.describe()));
  }
};

QTEST_GUILESS_MAIN(TestCliSchemeEval)
#include "tst_cli_scheme_eval.moc"
