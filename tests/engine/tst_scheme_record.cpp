// mambascope.json records the whole scheme: `quantize` run as a user would (the built CLI) with
// each kind of flag (activation and state bits, scale, granularity, state method and DSQ variant;
// transforms with α; the zeroing experiment and its seed; GPTQ's damping, block, act-order and
// groups; the calibration text; dtype, --gguf-type, --format, --weights-only), then the file read
// back with Scheme::read (core/quant/scheme.h), the reader eval and sweep use, field by field.
// Also: to_json -> from_json round trips, and a hand-edited bad field is refused by name.
#include <QtTest>

#include <QTemporaryDir>

#include <filesystem>

#include "../cli/cli_test_util.h"
#include <ATen/ATen.h>

#include "core/engine/calib_stats.h"
#include "core/quant/scheme.h"
#include "core/util/error.h"

using namespace cli_test;
using ms::Scheme;

namespace {

const QString kModel = model_dir("mamba1-hf");
// A short calibration keeps each quantize under a few seconds on the tiny model.
const QStringList kCalib{"--calib-tokens", "256", "--calib-seq-len", "64"};

bool is_sha256(const std::string& s) {
  return s.size() == 64 && s.find_first_not_of("0123456789abcdef") == std::string::npos;
}

}  // namespace

class TestSchemeRecord : public QObject {
  Q_OBJECT
  QTemporaryDir tmp_;
  int counter_ = 0;

  // Runs quantize into a fresh directory; returns its mambascope.json read with Scheme::read.
  Scheme quantize(const QStringList& args) {
    const QString out = tmp_.filePath("q" + QString::number(counter_++));
    const CliResult r = run_cli(QStringList{"quantize", kModel, "--out", out} + args);
    if (r.exit_code != 0) {
      QTest::qFail(qPrintable("quantize " + args.join(' ') + "\n" + r.describe()), __FILE__, __LINE__);
      return {};
    }
    return Scheme::read((out + "/mambascope.json").toStdString());
  }

 private Q_SLOTS:
  void initTestCase() { QVERIFY(tmp_.isValid()); }

  // Packed keeps activation and state quantization and smooth-fused's run-time parts.
  void packedWithActivationsAndState() {
    const Scheme s = quantize(QStringList{"--method", "smoothquant,rtn", "--format", "packed", "--wbits", "4",
                                          "--granularity", "group:16", "--asym", "--alpha", "0.7",
                                          "--abits", "8", "--act-granularity", "token", "--hbits", "6",
                                          "--state-method", "channel", "--modules", "in_proj,out_proj"} + kCalib);
    if (QTest::currentTestFailed()) return;
    QCOMPARE(s.methods, (std::vector<std::string>{"smoothquant", "rtn"}));
    QCOMPARE(s.transforms(), std::vector<std::string>{"smoothquant"});
    QCOMPARE(s.rounding(), std::string("rtn"));
    QVERIFY(s.weights.has_value());
    QCOMPARE(s.weights->bits, 4);
    QVERIFY(s.weights->granularity == ms::RtnGranularity::Group);
    QCOMPARE(s.weights->group_size, int64_t(16));
    QCOMPARE(s.weights->symmetric, false);
    QCOMPARE(s.weight_method, std::string("rtn"));
    QVERIFY(s.weight_modules == (std::vector<ms::Module>{ms::Module::InProj, ms::Module::OutProj}));
    QCOMPARE(s.act.bits, 8);
    QVERIFY(s.act.scale == ms::ActScale::Dynamic);
    QVERIFY(s.act.granularity == ms::ActGranularity::Token);
    QCOMPARE(s.state.bits, 6);
    QVERIFY(s.state.method == ms::StateMethod::Channel);
    QVERIFY(s.state.variant == ms::DsqVariant::AbsMeanSqrt);
    QCOMPARE(s.alpha, 0.7);
    QCOMPARE(s.runtime_transforms, true);
    QCOMPARE(s.zero_outliers, false);
    QVERIFY(!s.zero_random_seed);
    // smoothquant collected its statistics on the default text: recorded with its SHA-256.
    QCOMPARE(s.calibration.files.size(), size_t(1));
    QVERIFY(QString::fromStdString(s.calibration.files[0]).endsWith("/resources/texts/austen.txt"));
    QVERIFY(std::filesystem::path(s.calibration.files[0]).is_absolute());
    QVERIFY(is_sha256(s.calibration.sha256.at(0)));
    QCOMPARE(s.calibration.tokens, int64_t(256));
    QCOMPARE(s.calibration.seq_len, int64_t(64));
    QCOMPARE(s.format, std::string("packed"));
    QCOMPARE(s.dtype, std::string());
    QVERIFY(s.statistics.empty());
  }

  // GPTQ's parameters, its groups, the stored dtype; hf holds no run-time parts.
  void gptqAndDtype() {
    const Scheme s = quantize(QStringList{"--method", "hadamard,gptq", "--format", "hf", "--wbits", "4",
                                          "--granularity", "group:4", "--damp", "0.05", "--block", "16",
                                          "--act-order", "--dtype", "fp16"} + kCalib);
    if (QTest::currentTestFailed()) return;
    QCOMPARE(s.methods, (std::vector<std::string>{"hadamard", "gptq"}));
    QCOMPARE(s.weight_method, std::string("gptq"));
    QCOMPARE(s.weights->bits, 4);
    QCOMPARE(s.weights->group_size, int64_t(4));
    QCOMPARE(s.weights->symmetric, true);
    QCOMPARE(s.gptq.damp, 0.05);
    QCOMPARE(s.gptq.block, int64_t(16));
    QCOMPARE(s.gptq.act_order, true);
    QCOMPARE(s.dtype, std::string("fp16"));
    QCOMPARE(s.format, std::string("hf"));
    QCOMPARE(s.runtime_transforms, false);
    QCOMPARE(s.calibration.files.size(), size_t(1));  // GPTQ's windows
    QCOMPARE(s.calibration.tokens, int64_t(256));
    QVERIFY(s.weight_modules.size() == 4);  // the default list, as applied to Mamba-1
  }

  // --weights-only drops activation/state bits and smooth-fused's run-time parts; the variant and
  // the zeroing control's seed are still recorded.
  void weightsOnlyAndZeroing() {
    const Scheme s = quantize(QStringList{"--method", "smooth-fused,rtn", "--format", "hf", "--weights-only",
                                          "--abits", "8", "--hbits", "4", "--dsq-variant", "abs.max",
                                          "--zero-random", "3"} + kCalib);
    if (QTest::currentTestFailed()) return;
    QCOMPARE(s.act.bits, 16);
    QCOMPARE(s.state.bits, 16);
    QVERIFY(s.state.variant == ms::DsqVariant::AbsMax);
    QCOMPARE(s.runtime_transforms, false);
    QVERIFY(s.zero_random_seed.has_value());
    QCOMPARE(*s.zero_random_seed, uint64_t(3));
    QCOMPARE(s.zero_outliers, false);
    QCOMPARE(s.alpha, 0.5);
    QVERIFY(s.describe().find("smooth-fused (weights only) then W8 channel sym rtn") != std::string::npos);
  }

  void ggmlAndOutliers() {
    const Scheme s = quantize(QStringList{"--method", "rtn", "--format", "hf", "--gguf-type", "q8_0",
                                          "--zero-outliers"} + kCalib);
    if (QTest::currentTestFailed()) return;
    QCOMPARE(s.weight_method, std::string("ggml"));
    QCOMPARE(s.gguf_type, std::string("q8_0"));
    QCOMPARE(s.weights->group_size, int64_t(32));
    QCOMPARE(s.zero_outliers, true);
    QVERIFY(!s.zero_random_seed);
  }

  // Static activation scales name their statistics (absolute, so eval finds them from anywhere).
  void staticScales() {
    const QString stats = tmp_.filePath("stats.safetensors");
    const CliResult c = run_cli({"calibrate", kModel, "--file", QString::fromUtf8(MAMBASCOPE_SOURCE_DIR) +
                                 "/resources/texts/austen.txt", "--max-tokens", "256", "--seq-len", "64",
                                 "--out", stats, "--device", "cpu"});
    QVERIFY2(c.exit_code == 0, qPrintable(c.describe()));
    const Scheme s = quantize({"--method", "rtn", "--format", "packed", "--abits", "8", "--act-scale", "static",
                               "--act-granularity", "tensor", "--stats", stats});
    if (QTest::currentTestFailed()) return;
    QVERIFY(s.act.scale == ms::ActScale::Static);
    QVERIFY(s.act.granularity == ms::ActGranularity::Tensor);
    QCOMPARE(QString::fromStdString(s.statistics), QFileInfo(stats).absoluteFilePath());
    QVERIFY(s.calibration.files.empty());  // nothing was calibrated on
    // The recorded scales are the file's: per point, the largest channel absmax.
    const ms::CalibStats st = ms::CalibStats::load(stats.toStdString());
    QVERIFY(!s.act_absmax.empty());
    QCOMPARE(s.act_absmax.size(), st.activations.size());
    for (const auto& [point, a] : st.activations)
      QCOMPARE(s.act_absmax.at(point), a.absmax.max().item<double>());
    // Without statistics the scales are measured on the calibration text, which is recorded.
    const Scheme m = quantize({"--method", "rtn", "--format", "packed", "--abits", "8", "--act-scale", "static",
                               "--act-granularity", "tensor", "--calib-tokens", "256", "--calib-seq-len", "64"});
    if (QTest::currentTestFailed()) return;
    QCOMPARE(m.act_absmax.size(), st.activations.size());
    QCOMPARE(m.calibration.tokens, int64_t(256));
    QCOMPARE(m.calibration.files.size(), size_t(1));  // the shipped Austen text
    // The same 256 tokens in windows of 64 that `calibrate` read: the same scales, exactly.
    QVERIFY(m.act_absmax == s.act_absmax);
  }

  void roundTrip() {
    Scheme s;
    s.methods = {"klt", "smooth-fused", "gptq"};
    s.weights = ms::RtnSpec::with_granularity(ms::RtnSpec{}, "group:32");
    s.weights->bits = 3;
    s.weight_method = "gptq";
    s.act.bits = 6;
    s.state.bits = 4;
    s.state.method = ms::StateMethod::State;
    s.alpha = 0.25;
    s.runtime_transforms = false;
    s.zero_random_seed = 7;
    s.gptq = {0.2, 64, true};
    s.calibration = {{"/texts/a.txt", "/texts/b.txt"}, {"aa", "bb"}, 1000, 100};
    s.dtype = "bf16";
    s.format = "packed";
    s.act_absmax = {{"layers.0.in_proj.input", 3.25}, {"layers.1.out_proj.input", 0.1}};
    const Scheme t = Scheme::from_json(s.to_json(), "round trip");
    QCOMPARE(t.to_json().dump(), s.to_json().dump());
    QCOMPARE(t.alpha, 0.25);
    QCOMPARE(t.gptq.block, int64_t(64));
    QCOMPARE(t.calibration.files.at(1), std::string("/texts/b.txt"));
    QCOMPARE(*t.zero_random_seed, uint64_t(7));
    QCOMPARE(t.act_absmax.at("layers.1.out_proj.input"), 0.1);  // JSON keeps doubles exact
    QCOMPARE(t.describe(), std::string("klt,smooth-fused (weights only) then W3 group:32 sym gptq, A6 dynamic token, "
                                       "H4 state"));
    nlohmann::json bad = s.to_json();
    bad["weights"]["gptq"]["block"] = "big";
    try {
      Scheme::from_json(bad, "x.json");
      QFAIL("a string block was accepted");
    } catch (const ms::InputError& e) {
      QVERIFY2(std::string(e.what()).find("weights.gptq.block must be an integer") != std::string::npos, e.what());
    }
  }
};

QTEST_GUILESS_MAIN(TestSchemeRecord)
#include "tst_scheme_record.moc"
