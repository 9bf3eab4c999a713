// `quantize --format packed|gguf` and `--format hf --gguf-type T` (issue 7), run as a user would and
// checked from outside by tests/cli/export_check.py (numpy, safetensors and the `gguf` package):
//   packed: every fixture family, 2/3/4/8 bits, sym and asym, channel/tensor/group and odd widths
//     (falcon's dt rank 5), unpacked in numpy from the README's layout, equal bit for bit to the
//     fp32 HF export of the same scheme (our fake-quant weights);
//   gguf: f16/q8_0/q4_0 for Mamba-1, Mamba-2 (G = 1 untied, G = 2): llama.cpp names,
//     shapes, metadata, types (rows not a multiple of 32 stay F16), bytes equal to gguf.quants and to
//     a numpy port of ggml-quants.c, tokenizer tables;
//   the ggml fake-quant HF export holds exactly the weights llama.cpp dequantizes from the GGUF, and
//   transformers loads it without warnings to our logits;
//   report.html / report.json / mambascope.json beside each; refusals in one line (falcon's
//   projection biases have no place in llama.cpp's graph); a write that
//   fails (file size limit) leaves nothing behind.
#include "cli_test_util.h"

#include "core/io/npy.h"

#include <QTemporaryDir>

#include <algorithm>
#include <cmath>
#include <csignal>
#include <sys/resource.h>

using namespace cli_test;

namespace {

struct PyResult {
  int exit_code = -1;
  json out;
  QString text;
};

PyResult export_check(const QStringList& args) {
  QProcess p;
  p.start(QString::fromUtf8(MAMBASCOPE_PYTHON),
          QStringList{QString::fromUtf8(MAMBASCOPE_SOURCE_DIR) + "/tests/cli/export_check.py"} + args);
  PyResult r;
  if (!p.waitForStarted(30000) || !p.waitForFinished(600000)) {
    r.text = "export_check.py did not run";
    return r;
  }
  r.exit_code = p.exitCode();
  r.text = QString::fromUtf8(p.readAllStandardOutput() + p.readAllStandardError());
  try {
    r.out = json::parse(r.text.toStdString().substr(0, r.text.toStdString().find('\n')));
  } catch (...) {
  }
  return r;
}

}  // namespace

class TestCliExport : public QObject {
  Q_OBJECT
  QTemporaryDir tmp_;
  int counter_ = 0;

  QString fresh(const QString& stem) { return tmp_.filePath(stem + QString::number(counter_++)); }

  QString quantize(const QString& model, const QStringList& flags) {
    const QString out = fresh("q");
    const CliResult r = run_cli(QStringList{"quantize", model, "--method", "rtn", "--out", out} + flags);
    if (r.exit_code != 0) {
      QTest::qFail(qPrintable("quantize " + flags.join(' ') + ": " + r.describe()), __FILE__, __LINE__);
      return {};
    }
    return out;
  }

  static void check_reports(const QString& dir, const QString& format) {
    const json scheme = read_json(dir + "/mambascope.json");
    QCOMPARE(QString::fromStdString(scheme["format"].get<std::string>()), format);
    const json report = read_json(dir + "/report.json");
    QVERIFY(report["weights"].size() > 0);
    QVERIFY(report["sizes"]["export_bytes"].get<uint64_t>() > 0);
    const QString html = QString::fromUtf8(read_bytes(dir + "/report.html"));
    QVERIFY2(html.startsWith("<!DOCTYPE html>") && html.contains("<svg") && html.contains("</html>"),
             qPrintable(html.left(200)));
    // Self-contained: nothing fetched from elsewhere.
    QVERIFY(!html.contains("src=") && !html.contains("href=") && !html.contains("<script"));
    // Every quantized weight has a row in the table.
    for (const json& w : report["weights"])
      QVERIFY2(html.contains(QString::fromStdString(w["key"].get<std::string>())),
               w["key"].get<std::string>().c_str());
  }

 private Q_SLOTS:
  void initTestCase() {
    if (QString::fromUtf8(MAMBASCOPE_PYTHON).isEmpty())
      QSKIP("MAMBASCOPE_PYTHON is not set: the exports cannot be checked independently");
  }

  void packedEqualsFakeQuant_data() {
    QTest::addColumn<QString>("model");
    QTest::addColumn<QStringList>("scheme");
    QTest::newRow("mamba1 W4 sym channel") << "mamba1-hf" << QStringList{"--wbits", "4"};
    QTest::newRow("mamba1 W3 asym group:16") << "mamba1-hf"
                                             << QStringList{"--wbits", "3", "--asym", "--granularity", "group:16",
                                                            "--modules", "in_proj,x_proj,out_proj"};
    QTest::newRow("mamba1 W8 sym tensor") << "mamba1-hf" << QStringList{"--wbits", "8", "--granularity", "tensor"};
    QTest::newRow("mamba1 W6 asym channel") << "mamba1-hf" << QStringList{"--wbits", "6", "--asym"};
    QTest::newRow("mamba2 W2 sym group:8") << "mamba2-hf" << QStringList{"--wbits", "2", "--granularity", "group:8"};
    QTest::newRow("mamba2-g2 W4 asym") << "mamba2-g2-hf" << QStringList{"--wbits", "4", "--asym"};
    // d 48 and dt rank 5: odd widths (the last nibble of every dt_proj row is padding).
    QTest::newRow("falcon W4 asym odd") << "falcon-mamba-hf" << QStringList{"--wbits", "4", "--asym"};
    QTest::newRow("falcon W3 sym odd") << "falcon-mamba-hf" << QStringList{"--wbits", "3"};
  }
  void packedEqualsFakeQuant() {
    QFETCH(QString, model);
    QFETCH(QStringList, scheme);
    const QString src = model_dir(model);
    const QString packed = quantize(src, scheme + QStringList{"--format", "packed"});
    const QString hf = quantize(src, scheme + QStringList{"--format", "hf", "--dtype", "fp32"});
    if (QTest::currentTestFailed()) return;
    const PyResult r = export_check({"packed", src, packed, hf});
    QVERIFY2(r.exit_code == 0 && r.out.value("ok", false), qPrintable(r.text));
    QVERIFY2(r.out["packed"].get<int>() > 0, qPrintable(r.text));
    check_reports(packed, "packed");
    // The same errors are reported for the same stored values.
    QCOMPARE(read_json(packed + "/report.json")["weights"].dump(), read_json(hf + "/report.json")["weights"].dump());
  }

  void ggufForLlamaCpp_data() {
    QTest::addColumn<QString>("model");
    QTest::addColumn<QString>("type");
    for (const char* m : {"mamba1-hf", "mamba2-hf", "mamba2-g2-hf"})
      for (const char* t : {"f16", "q8_0", "q4_0"})
        QTest::newRow(qPrintable(QString("%1 %2").arg(m, t))) << QString(m) << QString(t);
  }
  void ggufForLlamaCpp() {
    QFETCH(QString, model);
    QFETCH(QString, type);
    const QString src = model_dir(model);
    const QString out = quantize(src, {"--format", "gguf", "--gguf-type", type});
    if (QTest::currentTestFailed()) return;
    QVERIFY(QFileInfo::exists(out + "/model.gguf"));
    const PyResult r = export_check({"gguf", src, out + "/model.gguf", type});
    QVERIFY2(r.exit_code == 0 && r.out.value("ok", false), qPrintable(r.text));
    if (type != "f16") QVERIFY2(r.out["quantized"].get<int>() > 0, qPrintable(r.text));
    check_reports(out, "gguf");
  }

  void ggufModulesChoice() {
    // Only out_proj quantized: in_proj (and the rest) stay F16.
    const QString src = model_dir("mamba1-hf");
    const QString out = quantize(src, {"--format", "gguf", "--gguf-type", "q8_0", "--modules", "out_proj"});
    if (QTest::currentTestFailed()) return;
    const PyResult r = export_check({"gguf", src, out + "/model.gguf", "q8_0", "out_proj"});
    QVERIFY2(r.exit_code == 0 && r.out.value("ok", false), qPrintable(r.text));
    QCOMPARE(r.out["quantized"].get<int>(), 2);  // two layers
  }

  void hfFakeQuantIsWhatLlamaCppReads_data() {
    QTest::addColumn<QString>("model");
    QTest::addColumn<QString>("type");
    QTest::newRow("mamba1 q4_0") << "mamba1-hf" << "q4_0";
    QTest::newRow("mamba2 q8_0") << "mamba2-hf" << "q8_0";
    QTest::newRow("mamba2-g2 q4_0") << "mamba2-g2-hf" << "q4_0";
  }
  void hfFakeQuantIsWhatLlamaCppReads() {
    QFETCH(QString, model);
    QFETCH(QString, type);
    const QString src = model_dir(model);
    const QString g = quantize(src, {"--format", "gguf", "--gguf-type", type});
    const QString hf = quantize(src, {"--format", "hf", "--gguf-type", type, "--dtype", "fp32"});
    if (QTest::currentTestFailed()) return;
    const PyResult r = export_check({"gguf-vs-hf", g + "/model.gguf", hf});
    QVERIFY2(r.exit_code == 0 && r.out.value("ok", false), qPrintable(r.text));
    QCOMPARE(QString::fromStdString(read_json(hf + "/mambascope.json")["weights"]["gguf_type"].get<std::string>()), type);
    // Both report the same error per weight: the same stored values.
    QCOMPARE(read_json(g + "/report.json")["weights"].dump(), read_json(hf + "/report.json")["weights"].dump());
  }

  // The ggml-rounded HF export is an ordinary HF checkpoint: transformers loads it with no warning
  // about the checkpoint and gives our logits (the tolerance of tst_cli_quantize: both compute in
  // fp32 in different orders).
  void hfGgmlExportLoadsInTransformers_data() {
    QTest::addColumn<QString>("model");
    QTest::addColumn<QString>("type");
    QTest::newRow("mamba1 q4_0") << "mamba1-hf" << "q4_0";
    QTest::newRow("mamba2 q8_0") << "mamba2-hf" << "q8_0";
  }
  void hfGgmlExportLoadsInTransformers() {
    QFETCH(QString, model);
    QFETCH(QString, type);
    const QString src = model_dir(model);
    const QString out = quantize(src, {"--format", "hf", "--gguf-type", type, "--dtype", "fp32"});
    if (QTest::currentTestFailed()) return;
    const QString ids = join_ids(read_json(src + "/expected.json")["ids"], ",");
    const QString ref_npy = out + ".hf.npy", ours_npy = out + ".ours.npy";
    QProcess p;
    p.start(QString::fromUtf8(MAMBASCOPE_PYTHON),
            {QString::fromUtf8(MAMBASCOPE_SOURCE_DIR) + "/tests/cli/hf_logits.py", out, ids, ref_npy});
    QVERIFY(p.waitForFinished(300000));
    const QByteArray perr = p.readAllStandardError(), pout = p.readAllStandardOutput();
    QVERIFY2(p.exitStatus() == QProcess::NormalExit && p.exitCode() == 0, perr.constData());
    const json info = json::parse(pout.trimmed().split('\n').last().toStdString());
    QVERIFY2(info["missing"].empty() && info["unexpected"].empty() && info["mismatched"].empty(),
             info.dump().c_str());
    for (const json& w : info["warnings"]) {
      const QString m = QString::fromStdString(w.get<std::string>());
      // The environment's (no mamba_ssm / causal_conv1d kernels here), not the checkpoint's.
      if ((m.contains("falling back") && m.contains("not installed")) || m.contains("fast path", Qt::CaseInsensitive))
        continue;
      QFAIL(qPrintable("transformers warned: " + m));
    }
    const CliResult r = run_cli({"logits", out, "--ids", ids, "--out", ours_npy, "--device", "cpu"});
    QVERIFY2(r.exit_code == 0, qPrintable(r.describe()));
    const auto ref = ms::read_npy_f32(ref_npy.toStdString());
    const auto got = ms::read_npy_f32(ours_npy.toStdString());
    QCOMPARE(got.shape, ref.shape);
    double worst = 0;
    for (size_t i = 0; i < ref.data.size(); ++i)
      worst = std::max(worst, std::fabs(double(got.data[i]) - ref.data[i]) / std::max(1.0, std::fabs(double(ref.data[i]))));
    QVERIFY2(worst <= 1e-4, qPrintable(QString("max |ours-hf|/max(1,|hf|) = %1").arg(worst)));
  }

  void refusals() {
    const QString src = model_dir("mamba1-hf");
    const QString parent = tmp_.filePath("refusals");
    QDir().mkpath(parent);
    const QStringList before = listing(parent);
    const auto refused = [&](const QStringList& flags, int code, const QString& needle) {
      const CliResult r =
          run_cli(QStringList{"quantize", src, "--method", "rtn", "--out", parent + "/x"} + flags);
      QVERIFY2(!r.crashed && r.exit_code == code, qPrintable(r.describe()));
      QVERIFY2(one_line(r.err) && QString::fromUtf8(r.err).contains(needle), qPrintable(r.describe()));
      QCOMPARE(listing(parent), before);
    };
    refused({"--format", "gguf"}, 2, "--gguf-type");
    refused({"--format", "packed", "--gguf-type", "q8_0"}, 2, "--gguf-type");
    // The packed layout holds 2..8-bit codes; wider RTN goes to --format hf, and the line says so.
    refused({"--format", "packed", "--wbits", "12"}, 2,
            "--format packed stores 2..8-bit codes, not --wbits 12: use --format hf (any width 2..15, stored dequantized)");
    refused({"--format", "gguf", "--gguf-type", "q5_0"}, 2, "--gguf-type");
    refused({"--format", "gguf", "--gguf-type", "q4_0", "--abits", "8"}, 2, "--weights-only");
    refused({"--format", "hf", "--gguf-type", "q4_0", "--modules", "conv1d"}, 2, "conv1d");
    // llama.cpp's Mamba graph has no in_proj/out_proj bias (this fixture has both): refused, not
    // silently dropped.
    const CliResult r = run_cli({"quantize", model_dir("falcon-mamba-hf"), "--method", "rtn", "--out",
                                 parent + "/x", "--format", "gguf", "--gguf-type", "q8_0"});
    QVERIFY2(!r.crashed && r.exit_code == 1 && one_line(r.err) && r.err.contains("biases"), qPrintable(r.describe()));
    QCOMPARE(listing(parent), before);
  }

  // A write that fails half way (EFBIG from a 64 kB file size limit) leaves no file and no temporary
  // directory, for both new formats.
  void failedWriteLeavesNothing_data() {
    QTest::addColumn<QStringList>("flags");
    QTest::newRow("gguf") << QStringList{"--format", "gguf", "--gguf-type", "f16"};
    QTest::newRow("packed") << QStringList{"--format", "packed", "--wbits", "8"};
  }
  void failedWriteLeavesNothing() {
    QFETCH(QStringList, flags);
    const QString parent = fresh("full");
    QDir().mkpath(parent);
    const QStringList before = listing(parent);
    const CliResult r = run_cli(
        QStringList{"quantize", model_dir("mamba1-hf"), "--method", "rtn", "--out", parent + "/x"} + flags, {},
        [] {
          ::signal(SIGXFSZ, SIG_IGN);
          const rlimit lim{65536, 65536};
          ::setrlimit(RLIMIT_FSIZE, &lim);
        });
    QVERIFY2(!r.crashed && r.exit_code == 1, qPrintable(r.describe()));
    // Progress lines ("quantize: ...") may come first; then exactly one error line.
    QStringList lines = QString::fromUtf8(r.err).split('\n', Qt::SkipEmptyParts);
    lines.removeIf([](const QString& l) { return l.startsWith("quantize: "); });
    QVERIFY2(lines.size() == 1 && lines[0].contains("File too large"), qPrintable(r.describe()));
    QCOMPARE(listing(parent), before);
  }
};

QTEST_GUILESS_MAIN(TestCliExport)
#include "tst_cli_export.moc"
