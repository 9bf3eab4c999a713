// `mambascope-cli quantize --method rtn --format hf` (issue 5, first increment), run as a user would:
// W8 and W4 (and asymmetric group-wise, and the wide W12 and W15) exports of the Mamba-1 and
// Mamba-2 fixtures pass `check`, hold exactly the contract's RTN of the original weights
// (recomputed here with plain fp32 loops from the contract's formula, an independent check of
// core/quant/rtn.cpp), keep every other tensor
// byte for byte, keep perplexity within 1% at W8 while W4 moves the logits more (and, on the
// trained demo models, the perplexity), record the scheme in mambascope.json, and load in HF
// transformers without warnings to the same logits as ours. The state-spaces layout exports to
// the same checkpoint as its HF twin. Bad usage is refused
// with one line and nothing left behind.
#include "cli_test_util.h"

#include "core/io/npy.h"
#include "core/io/safetensors.h"

#include <QRegularExpression>
#include <QTemporaryDir>

#include <algorithm>
#include <cmath>
#include <cstring>

using namespace cli_test;

namespace {

// Both sides compute in fp32 in different orders; tst_cli_parity measured 2.7e-6 on the fixtures.
constexpr double kLogitsTolerance = 1e-4;
// W8 per-channel RTN moves perplexity by well under 1% on real models (practical study: 20.6 ->
// 20.69, +0.4%); the brief's promise for the fixtures.
constexpr double kW8PerplexityRel = 0.01;

// The contract's RTN in plain fp32: s = absmax/Q (or (max-min)/(2^B-1), z = rne(-min/s)), codes by
// rne(w/s), one scale per row or per group of g columns. fp32 division and nearbyintf (round half
// to even) are what the tool's tensor ops do, so this must match bit for bit.
std::vector<float> rtn_fp32(const float* w, int64_t rows, int64_t cols, int bits, bool sym, int64_t g) {
  std::vector<float> out(size_t(rows * cols));
  if (g <= 0) g = cols;
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c0 = 0; c0 < cols; c0 += g) {
      const float* x = w + r * cols + c0;
      float mn = x[0], mx = x[0], am = 0;
      for (int64_t j = 0; j < g; ++j) {
        mn = std::min(mn, x[j]);
        mx = std::max(mx, x[j]);
        am = std::max(am, std::fabs(x[j]));
      }
      for (int64_t j = 0; j < g; ++j) {
        float v;
        if (sym) {
          const float Q = float((1 << (bits - 1)) - 1);
          const float s = am == 0 ? 1.0f : am / Q;
          const float q = std::min(std::max(std::nearbyintf(x[j] / s), -Q - 1), Q);
          v = float(int(q)) * s;  // codes are integers: -0 comes back as +0
        } else {
          const float s = mx == mn ? (mx == 0 ? 1.0f : std::fabs(mx)) : (mx - mn) / float((1 << bits) - 1);
          const float z = std::nearbyintf(-mn / s);
          const float q = std::min(std::max(std::nearbyintf(x[j] / s) + z, 0.0f), float((1 << bits) - 1));
          v = (float(int(q)) - z) * s;
        }
        out[size_t(r * cols + c0 + j)] = v;
      }
    }
  return out;
}

bool is_quantized_key(const std::string& hf_key, const QStringList& modules) {
  for (const QString& m : modules)
    if (QString::fromStdString(hf_key).endsWith(".mixer." + m + ".weight")) return true;
  return false;
}

ms::NpyArray logits_of(const QString& model, const QString& ids, const QStringList& extra) {
  QTemporaryDir tmp;
  const QString file = tmp.filePath("l.npy");
  const CliResult r = run_cli(QStringList{"logits", model, "--ids", ids, "--out", file, "--device", "cpu"} + extra);
  if (r.exit_code != 0) {
    QTest::qFail(qPrintable("logits failed: " + r.describe()), __FILE__, __LINE__);
    return {};
  }
  return ms::read_npy_f32(file.toStdString());
}

double perplexity_of(const QString& model, const QString& text) {
  const CliResult r = run_cli({"perplexity", model, "--file", text, "--json", "--device", "cpu"});
  if (r.exit_code != 0) {
    QTest::qFail(qPrintable("perplexity failed: " + r.describe()), __FILE__, __LINE__);
    return NAN;
  }
  return json::parse(r.out.toStdString())["perplexity"].get<double>();
}

}  // namespace

class TestCliQuantize : public QObject {
  Q_OBJECT
  QTemporaryDir tmp_;
  int counter_ = 0;

  QString fresh(const QString& stem) { return tmp_.filePath(stem + QString::number(counter_++)); }

  static void expect_refused(const CliResult& r, int code, const QString& name, const QString& dir,
                             const QStringList& before) {
    QVERIFY2(!r.crashed && !r.timed_out, qPrintable(r.describe()));
    QVERIFY2(r.exit_code == code, qPrintable(QStringLiteral("want exit %1; ").arg(code) + r.describe()));
    QVERIFY2(one_line(r.err), qPrintable("want exactly one stderr line; " + r.describe()));
    QVERIFY2(QString::fromUtf8(r.err).contains(name, Qt::CaseInsensitive),
             qPrintable("stderr should name '" + name + "'; " + r.describe()));
    QVERIFY2(r.out.isEmpty(), qPrintable("want no stdout; " + r.describe()));
    QCOMPARE(listing(dir), before);
  }

  // (b): every tensor of OUT equals the original (untouched ones byte for byte) or its RTN.
  void compare_weights(const QString& model, const QString& out, int bits, bool sym, int64_t g,
                       const QStringList& modules) {
    ms::TensorStore src, dst;
    ms::read_safetensors((model + "/model.safetensors").toStdString(), src);
    ms::read_safetensors((out + "/model.safetensors").toStdString(), dst);
    QCOMPARE(dst.tensors().size(), src.tensors().size());
    int quantized = 0;
    for (const auto& [key, v] : src.tensors()) {
      const ms::TensorView* o = dst.find(key);
      QVERIFY2(o, key.c_str());
      QCOMPARE(o->shape, v.shape);
      QCOMPARE(int(o->dtype), int(v.dtype));
      if (!is_quantized_key(key, modules)) {
        QVERIFY2(std::memcmp(o->data, v.data, v.nbytes) == 0, key.c_str());
        continue;
      }
      QCOMPARE(int(v.dtype), int(ms::DType::F32));
      ++quantized;
      std::vector<float> w(size_t(v.numel()));
      std::memcpy(w.data(), v.data, v.nbytes);
      const auto want = rtn_fp32(w.data(), v.shape[0], v.shape[1], bits, sym, g);
      std::vector<float> got(want.size());
      std::memcpy(got.data(), o->data, o->nbytes);
      for (size_t i = 0; i < got.size(); ++i)
        QVERIFY2(std::memcmp(&got[i], &want[i], sizeof(float)) == 0,
                 qPrintable(QString("%1: not the contract's RTN at %2: got %3, want %4 (w %5)")
                                .arg(QString::fromStdString(key)).arg(i).arg(got[i], 0, 'g', 9)
                                .arg(want[i], 0, 'g', 9).arg(w[i], 0, 'g', 9)));
      QVERIFY2(std::memcmp(o->data, v.data, v.nbytes) != 0, "quantization changed nothing");
    }
    QVERIFY(quantized > 0);
  }

 private Q_SLOTS:
  void initTestCase() {
    QVERIFY2(QFileInfo(MAMBASCOPE_CLI).isExecutable(), (std::string(MAMBASCOPE_CLI) + " is not built").c_str());
    QVERIFY(tmp_.isValid());
  }

  void roundTrip_data() {
    QTest::addColumn<QString>("fixture");
    QTest::addColumn<QStringList>("modules");      // those the architecture has
    QTest::addColumn<QStringList>("logits_args");  // what makes our logits HF's semantics
    for (const char* f : {"mamba1-hf", "mamba2-hf", "falcon-mamba-hf", "mamba2-g2-hf"})
      QTest::newRow(f) << QString(f)
                       << (QString(f).startsWith("mamba2") ? QStringList{"in_proj", "out_proj"}
                                                           : QStringList{"in_proj", "x_proj", "dt_proj", "out_proj"})
                       // G = 2: HF transformers 5.x normalises the gated norm over all E.
                       << (QString(f) == "mamba2-g2-hf" ? QStringList{"--gated-norm", "full"} : QStringList{});
  }
  void roundTrip() {
    QFETCH(QString, fixture);
    QFETCH(QStringList, modules);
    QFETCH(QStringList, logits_args);
    const QString model = model_dir(fixture);
    const QString text = model + "/ppl.txt";
    const double ppl_float = perplexity_of(model, text);
    double ppl[9] = {}, damage[9] = {};
    const json e = read_json(model + "/expected.json");
    const ms::NpyArray float_logits = logits_of(model, join_ids(e["ids"], ","), logits_args);
    for (int bits : {8, 4}) {
      const QString out = fresh(fixture + "-w" + QString::number(bits) + "-");
      const CliResult q = run_cli({"quantize", model, "--method", "rtn", "--format", "hf",
                                   "--wbits", QString::number(bits), "--out", out});
      QVERIFY2(q.exit_code == 0, qPrintable(q.describe()));
      QVERIFY2(q.out.isEmpty(), qPrintable(q.describe()));  // the summary goes to stderr
      // (a) check passes.
      const CliResult c = run_cli({"check", out});
      QVERIFY2(c.exit_code == 0, qPrintable(c.describe()));
      // (b) exactly the contract's RTN, per channel, symmetric.
      compare_weights(model, out, bits, true, 0, modules);
      if (QTest::currentTestFailed()) return;
      QCOMPARE(read_bytes(out + "/tokenizer.json"), read_bytes(model + "/tokenizer.json"));
      // (c) perplexity, and the damage to the logits (mean |Δ|) against the float model.
      ppl[bits] = perplexity_of(out, text);
      const ms::NpyArray q_logits = logits_of(out, join_ids(e["ids"], ","), logits_args);
      QCOMPARE(q_logits.shape, float_logits.shape);
      for (size_t i = 0; i < q_logits.data.size(); ++i)
        damage[bits] += std::fabs(double(q_logits.data[i]) - float_logits.data[i]);
      damage[bits] /= double(q_logits.data.size());
      // (d) the scheme.
      const json s = read_json(out + "/mambascope.json");
      QCOMPARE(s["methods"], json::array({"rtn"}));
      QCOMPARE(s["version"].get<std::string>(), std::string(MAMBASCOPE_VERSION));
      QCOMPARE(s["weights"]["bits"].get<int>(), bits);
      QCOMPARE(s["weights"]["granularity"].get<std::string>(), std::string("channel"));
      QVERIFY(s["weights"]["group_size"].is_null());
      QCOMPARE(s["weights"]["symmetric"].get<bool>(), true);
      json want_modules = json::array();  // those the architecture has (Mamba-2: no x_proj, dt_proj)
      for (const QString& m : modules) want_modules.push_back(m.toStdString());
      QCOMPARE(s["weights"]["modules"], want_modules);
      QCOMPARE(s["format"].get<std::string>(), std::string("hf"));
      QCOMPARE(s["activations"]["bits"].get<int>(), 16);
      QCOMPARE(s["source"]["model_type"], read_json(model + "/config.json")["model_type"]);
      // The report: one entry per quantized weight, SQNR about 6 dB a bit.
      const json r = read_json(out + "/report.json");
      const int layers = read_json(model + "/config.json")["num_hidden_layers"].get<int>();
      QCOMPARE(int(r["weights"].size()), layers * int(modules.size()));
      for (const json& w : r["weights"]) {
        const double sqnr = w["sqnr_db"].get<double>();
        QVERIFY2(sqnr > 6.0 * bits - 20 && sqnr < 6.02 * bits + 10, w.dump().c_str());
        QVERIFY(w["cosine"].get<double>() > 0.9 && w["cosine"].get<double>() <= 1.0);
        QVERIFY(w["mse"].get<double>() > 0 && w["max_abs_error"].get<double>() > 0);
      }
      // (e) HF transformers loads it without warnings and agrees with us.
      hf_agrees(model, out, logits_args);
      if (QTest::currentTestFailed()) return;
    }
    qInfo("%s perplexity: float %.4f, W8 %.4f (%+.3f%%), W4 %.4f (%+.3f%%); mean |dlogit| W8 %.2e, "
          "W4 %.2e", qPrintable(fixture), ppl_float, ppl[8], 100 * (ppl[8] / ppl_float - 1), ppl[4],
          100 * (ppl[4] / ppl_float - 1), damage[8], damage[4]);
    QVERIFY(std::fabs(ppl[8] / ppl_float - 1) < kW8PerplexityRel);
    // The fixtures are random models near uniform perplexity, where W4 may move perplexity either
    // way by chance (mamba2-g2-hf: -0.02% at W4, -0.06% at W8); the logits show the ordering
    // reliably. Perplexity ordering is asserted on the trained demo models (demoModels).
    QVERIFY(damage[4] > 4 * damage[8]);
  }

  // Asymmetric group-wise codes and a subset of modules, exactly; fp16 storage passes check.
  void asymmetricGroups() {
    const QString model = model_dir("mamba1-hf");
    const QString out = fresh("asym-");
    const CliResult q = run_cli({"quantize", model, "--method", "rtn", "--format", "hf", "--wbits", "3",
                                 "--asym", "--granularity", "group:4", "--modules", "in_proj,dt_proj",
                                 "--out", out, "--json"});
    QVERIFY2(q.exit_code == 0, qPrintable(q.describe()));
    QCOMPARE(json::parse(q.out.toStdString())["quantized"].get<int>(), 4);  // 2 layers x 2
    compare_weights(model, out, 3, false, 4, {"in_proj", "dt_proj"});
    const json s = read_json(out + "/mambascope.json");
    QCOMPARE(s["weights"]["group_size"].get<int>(), 4);
    QCOMPARE(s["weights"]["symmetric"].get<bool>(), false);
    QCOMPARE(s["weights"]["modules"], json({"in_proj", "dt_proj"}));

    const QString half = fresh("fp16-");
    const CliResult h = run_cli({"quantize", model, "--method", "rtn", "--format", "hf", "--dtype",
                                 "fp16", "--out", half});
    QVERIFY2(h.exit_code == 0, qPrintable(h.describe()));
    QCOMPARE(run_cli({"check", half}).exit_code, 0);
    const Safetensors st = read_safetensors(half + "/model.safetensors");
    for (const auto& [k, v] : st.header.items())
      if (k != "__metadata__") QCOMPARE(v["dtype"].get<std::string>(), std::string("F16"));
    QCOMPARE(read_json(half + "/config.json")["dtype"].get<std::string>(), std::string("float16"));
    QVERIFY(std::isfinite(perplexity_of(half, model + "/ppl.txt")));
  }

  // The wide widths (issue 6: W bits up to 16) in --format hf: W12 symmetric per channel and W15
  // asymmetric group:4, each exactly the contract's RTN recomputed here in fp32 (round trip:
  // written, read back, every stored weight bit for bit), check passes, and the report's SQNR
  // grows about 6 dB a bit (W12 above W8 of the same fixture by more than 20 dB).
  void wideWidths() {
    const QString model = model_dir("mamba1-hf");
    const QStringList modules{"in_proj", "x_proj", "dt_proj", "out_proj"};
    double mean_sqnr[16] = {};
    for (int bits : {8, 12}) {
      const QString out = fresh("w" + QString::number(bits) + "-");
      const CliResult q = run_cli({"quantize", model, "--method", "rtn", "--format", "hf", "--wbits",
                                   QString::number(bits), "--out", out, "--json", "--no-eval"});
      QVERIFY2(q.exit_code == 0, qPrintable(q.describe()));
      mean_sqnr[bits] = json::parse(q.out.toStdString())["mean_sqnr_db"].get<double>();
      QCOMPARE(run_cli({"check", out}).exit_code, 0);
      compare_weights(model, out, bits, true, 0, modules);
      if (QTest::currentTestFailed()) return;
      QCOMPARE(read_json(out + "/mambascope.json")["weights"]["bits"].get<int>(), bits);
    }
    qInfo("mamba1-hf mean weight SQNR: W8 %.2f dB, W12 %.2f dB", mean_sqnr[8], mean_sqnr[12]);
    QVERIFY(mean_sqnr[12] > mean_sqnr[8] + 20);
    const QString out = fresh("w15-asym-");
    const CliResult q = run_cli({"quantize", model, "--method", "rtn", "--format", "hf", "--wbits", "15",
                                 "--asym", "--granularity", "group:4", "--out", out, "--no-eval"});
    QVERIFY2(q.exit_code == 0, qPrintable(q.describe()));
    QVERIFY2(q.err.contains("W15 group:4 asym"), qPrintable(q.describe()));
    QCOMPARE(run_cli({"check", out}).exit_code, 0);
    compare_weights(model, out, 15, false, 4, modules);
  }

  // A grid finer than fp16's 11 significant bits would round again on its way to the file: W12 of
  // the fp16 fixture is stored in fp32 (and recorded so), every weight exactly on its row's grid;
  // W8 keeps the source's fp16.
  void wideWidthsOfHalfModelsStoreFp32() {
    const QString model = model_dir("mamba1-hf-fp16"), out = fresh("w12-fp16-");
    const CliResult q = run_cli({"quantize", model, "--method", "rtn", "--format", "hf", "--wbits", "12", "--out", out,
                                 "--no-eval"});
    QVERIFY2(q.exit_code == 0 && q.err.contains("storing fp32"), qPrintable(q.describe()));
    QCOMPARE(read_json(out + "/mambascope.json")["dtype"].get<std::string>(), std::string("fp32"));
    ms::TensorStore dst;
    ms::read_safetensors((out + "/model.safetensors").toStdString(), dst);
    const ms::TensorView* w = dst.find("backbone.layers.0.mixer.in_proj.weight");
    QVERIFY(w);
    QCOMPARE(int(w->dtype), int(ms::DType::F32));
    std::vector<float> v(size_t(w->numel()));
    std::memcpy(v.data(), w->data, w->nbytes);
    const int64_t rows = w->shape[0], cols = w->shape[1];
    double worst = 0;  // distance of value/step from the nearest integer code, over every element
    for (int64_t r = 0; r < rows; ++r) {
      float absmax = 0;
      for (int64_t c = 0; c < cols; ++c) absmax = std::max(absmax, std::fabs(v[size_t(r * cols + c)]));
      const double step = double(absmax) / 2047.0;
      for (int64_t c = 0; step > 0 && c < cols; ++c) {
        const double code = v[size_t(r * cols + c)] / step;
        worst = std::max(worst, std::fabs(code - std::nearbyint(code)));
      }
    }
    QVERIFY2(worst < 1e-3, qPrintable(QString("W12 values off their grid by %1 of a step").arg(worst)));
    const QString w8 = fresh("w8-fp16-");
    const CliResult q8 = run_cli({"quantize", model, "--method", "rtn", "--format", "hf", "--wbits", "8", "--out", w8,
                                  "--no-eval"});
    QVERIFY2(q8.exit_code == 0 && !q8.err.contains("storing fp32"), qPrintable(q8.describe()));
    ms::TensorStore d8;
    ms::read_safetensors((w8 + "/model.safetensors").toStdString(), d8);
    QCOMPARE(int(d8.find("backbone.layers.0.mixer.in_proj.weight")->dtype), int(ms::DType::F16));
  }

  // The trained demo models (resources/models): W8 within 0.1% of float perplexity, W4 further
  // away, on the first 50,000 bytes of Moby-Dick (10,000 bytes are too few: demo-mamba W4 moved
  // +0.07% there against W8 -0.08%).
  void demoModels_data() {
    QTest::addColumn<QString>("name");
    QTest::newRow("demo-mamba") << "demo-mamba";
    QTest::newRow("demo-mamba2") << "demo-mamba2";
  }
  void demoModels() {
    QFETCH(QString, name);
    const QString model = QString::fromUtf8(MAMBASCOPE_SOURCE_DIR) + "/resources/models/" + name;
    const QString text = tmp_.filePath("moby50k.txt");
    if (!QFileInfo::exists(text)) {
      QByteArray bytes = read_bytes(QString::fromUtf8(MAMBASCOPE_SOURCE_DIR) + "/resources/texts/moby-dick.txt").left(50000);
      while (!bytes.isEmpty() && (uchar(bytes.back()) & 0xC0) == 0x80) bytes.chop(1);  // whole UTF-8
      if (!bytes.isEmpty() && uchar(bytes.back()) >= 0xC0) bytes.chop(1);
      QVERIFY(write_bytes(text, bytes));
    }
    const double ppl_float = perplexity_of(model, text);
    double ppl[9] = {};
    for (int bits : {8, 4}) {
      const QString out = fresh(name + "-w" + QString::number(bits) + "-");
      // The report's own measurement is tested in tst_cli_report; here it would only cost time.
      const CliResult q = run_cli({"quantize", model, "--method", "rtn", "--format", "hf", "--wbits",
                                   QString::number(bits), "--out", out, "--no-eval", "--report-tokens", "256"});
      QVERIFY2(q.exit_code == 0, qPrintable(q.describe()));
      ppl[bits] = perplexity_of(out, text);
    }
    qInfo("%s perplexity (Moby-Dick, 50 kB): float %.4f, W8 %.4f (%+.3f%%), W4 %.4f (%+.3f%%)",
          qPrintable(name), ppl_float, ppl[8], 100 * (ppl[8] / ppl_float - 1), ppl[4],
          100 * (ppl[4] / ppl_float - 1));
    QVERIFY(std::fabs(ppl[8] / ppl_float - 1) < 0.001);
    QVERIFY(std::fabs(ppl[4] - ppl_float) > 2 * std::fabs(ppl[8] - ppl_float));
  }

  // The state-spaces layout exports to the same HF checkpoint as its HF twin (same weights): the
  // tied lm_head of the .bin is not written, and check passes.
  void stateSpacesSource() {
    const QString a = fresh("ss-"), b = fresh("hf-");
    const CliResult r1 = run_cli({"quantize", model_dir("mamba1-state-spaces"), "--tokenizer",
                                  shared_tokenizer(), "--method", "rtn", "--format", "hf", "--wbits",
                                  "4", "--out", a});
    QVERIFY2(r1.exit_code == 0, qPrintable(r1.describe()));
    const CliResult r2 = run_cli({"quantize", model_dir("mamba1-hf"), "--method", "rtn", "--format",
                                  "hf", "--wbits", "4", "--out", b});
    QVERIFY2(r2.exit_code == 0, qPrintable(r2.describe()));
    const CliResult c = run_cli({"check", a});
    QVERIFY2(c.exit_code == 0, qPrintable(c.describe()));
    ms::TensorStore sa, sb;
    ms::read_safetensors((a + "/model.safetensors").toStdString(), sa);
    ms::read_safetensors((b + "/model.safetensors").toStdString(), sb);
    QCOMPARE(sa.tensors().size(), sb.tensors().size());
    for (const auto& [key, v] : sb.tensors()) {
      const ms::TensorView* o = sa.find(key);
      QVERIFY2(o && o->shape == v.shape && o->nbytes == v.nbytes, key.c_str());
      QVERIFY2(std::memcmp(o->data, v.data, v.nbytes) == 0, key.c_str());
    }
    QCOMPARE(read_json(a + "/mambascope.json")["source"]["layout"].get<std::string>(),
             std::string("state-spaces"));
    QCOMPARE(read_bytes(a + "/tokenizer.json"), read_bytes(shared_tokenizer()));
  }

  // --weights-only drops activation/state bits and says so.
  void weightsOnlyDrops() {
    const QString out = fresh("wo-");
    const CliResult q = run_cli({"quantize", model_dir("mamba2-hf"), "--method", "rtn", "--format", "hf",
                                 "--abits", "8", "--hbits", "4", "--weights-only", "--out", out});
    QVERIFY2(q.exit_code == 0, qPrintable(q.describe()));
    const json s = read_json(out + "/mambascope.json");
    QCOMPARE(int(s["dropped"].size()), 2);
    QVERIFY(s["dropped"][0].get<std::string>().find("--abits 8") != std::string::npos);
    QCOMPARE(read_json(out + "/report.json")["dropped"], s["dropped"]);
    QCOMPARE(s["activations"]["bits"].get<int>(), 16);
  }

  void refused_data() {
    QTest::addColumn<QStringList>("args");  // after MODEL; --out is added
    QTest::addColumn<int>("code");
    QTest::addColumn<QString>("names");
    const QStringList base{"--method", "rtn", "--format", "hf"};
    // GPTQ itself is tested in tst_cli_gptq (packed: tst_cli_gptq_packed); GGUF cannot hold its codes.
    QTest::newRow("gptq gguf") << QStringList{"--method", "gptq", "--format", "gguf", "--gguf-type", "q8_0"} << 2
                               << "--format hf or packed";
    // Transforms are tested in tst_cli_transforms; run-time ones cannot be plain weights.
    QTest::newRow("smooth-fused,rtn") << QStringList{"--method", "smooth-fused,rtn", "--format", "hf"} << 2 << "--weights-only";
    QTest::newRow("unknown method") << QStringList{"--method", "magic", "--format", "hf"} << 2 << "magic";
    // --format packed and gguf are written now; their refusals live in tst_cli_export.
    QTest::newRow("no format") << QStringList{"--method", "rtn"} << 2 << "--format";
    QTest::newRow("abits") << base + QStringList{"--abits", "8"} << 2 << "--weights-only";
    QTest::newRow("hbits") << base + QStringList{"--hbits", "4"} << 2 << "--weights-only";
    QTest::newRow("wbits 16") << base + QStringList{"--wbits", "16"} << 2 << "--wbits";  // float: not an RTN width
    QTest::newRow("wbits 1") << base + QStringList{"--wbits", "1"} << 2 << "--wbits";
    QTest::newRow("group:0") << base + QStringList{"--granularity", "group:0"} << 2 << "group:0";
    QTest::newRow("rows") << base + QStringList{"--granularity", "rows"} << 2 << "rows";
    QTest::newRow("group:7") << base + QStringList{"--granularity", "group:7"} << 1 << "does not divide the row length";
    QTest::newRow("sym+asym") << base + QStringList{"--sym", "--asym"} << 2 << "asym";
    QTest::newRow("conv1d") << base + QStringList{"--modules", "conv1d"} << 2 << "conv1d";
    QTest::newRow("dtype") << base + QStringList{"--dtype", "int8"} << 2 << "--dtype";
  }
  void refused() {
    QFETCH(QStringList, args);
    QFETCH(int, code);
    QFETCH(QString, names);
    const QString dir = fresh("refused-");
    QVERIFY(QDir().mkpath(dir));
    const QStringList before = listing(dir);
    expect_refused(run_cli(QStringList{"quantize", model_dir("mamba1-hf")} + args +
                           QStringList{"--out", dir + "/out"}),
                   code, names, dir, before);
  }

  void refusedOutputs() {
    const QString dir = fresh("outs-");
    QVERIFY(QDir().mkpath(dir + "/exists"));
    const QStringList before = listing(dir);
    const QStringList base{"quantize", model_dir("mamba1-hf"), "--method", "rtn", "--format", "hf"};
    expect_refused(run_cli(base + QStringList{"--out", dir + "/exists"}), 1, "already exists", dir, before);
    expect_refused(run_cli(base + QStringList{"--out", dir + "/no/such/out"}), 1, "does not exist", dir, before);
    expect_refused(run_cli({"quantize", dir + "/missing-model", "--method", "rtn", "--format", "hf",
                            "--out", dir + "/o"}), 1, "missing-model", dir, before);
    // Mamba-2 has no x_proj.
    expect_refused(run_cli({"quantize", model_dir("mamba2-hf"), "--method", "rtn", "--format", "hf",
                            "--modules", "x_proj", "--out", dir + "/o"}), 1, "none of the chosen modules",
                   dir, before);
  }

 private:
  void hf_agrees(const QString& model, const QString& out, const QStringList& logits_args) {
    const QString python = QString::fromUtf8(MAMBASCOPE_PYTHON);
    if (python.isEmpty()) QSKIP("MAMBASCOPE_PYTHON is not set: HF transformers parity not checked");
    const json e = read_json(model + "/expected.json");
    const QString ids = join_ids(e["ids"], ",");
    const QString ref_npy = out + ".hf.npy", ours_npy = out + ".ours.npy";
    QProcess p;
    p.start(python, {QString::fromUtf8(MAMBASCOPE_SOURCE_DIR) + "/tests/cli/hf_logits.py", out, ids, ref_npy});
    QVERIFY(p.waitForFinished(300000));
    const QByteArray perr = p.readAllStandardError(), pout = p.readAllStandardOutput();
    QVERIFY2(p.exitStatus() == QProcess::NormalExit && p.exitCode() == 0,
             qPrintable("hf_logits.py failed:\n" + QString::fromUtf8(perr)));
    const json info = json::parse(pout.trimmed().split('\n').last().toStdString());
    QVERIFY2(info["missing"].empty() && info["unexpected"].empty() && info["mismatched"].empty(),
             info.dump().c_str());
    for (const json& w : info["warnings"]) {
      const QString m = QString::fromStdString(w.get<std::string>());
      // The environment's, not the checkpoint's: no mamba_ssm/causal_conv1d CUDA kernels here.
      // transformers 5.17 says "`selective_scan_fn` is falling back to its reference PyTorch
      // implementation because `mamba_ssm` is not installed" (and the same for causal_conv1d).
      if (m.contains("falling back") && m.contains("not installed")) continue;
      if (m.contains("fast path", Qt::CaseInsensitive)) continue;
      QFAIL(qPrintable("transformers warned while loading " + out + ": " + m));
    }
    const CliResult r = run_cli(QStringList{"logits", out, "--ids", ids, "--out", ours_npy, "--device", "cpu"} +
                                logits_args);
    QVERIFY2(r.exit_code == 0, qPrintable(r.describe()));
    const auto ref = ms::read_npy_f32(ref_npy.toStdString());
    const auto got = ms::read_npy_f32(ours_npy.toStdString());
    QCOMPARE(got.shape, ref.shape);
    double worst = 0;
    size_t at = 0;
    for (size_t i = 0; i < ref.data.size(); ++i) {
      const double d = std::fabs(double(got.data[i]) - ref.data[i]) / std::max(1.0, std::fabs(double(ref.data[i])));
      if (d > worst) worst = d, at = i;
    }
    QVERIFY2(worst <= kLogitsTolerance, qPrintable(QString("max |ours-hf|/max(1,|hf|) = %1 at %2 (ours %3, hf %4)")
                                                       .arg(worst).arg(at).arg(got.data[at]).arg(ref.data[at])));
  }
};

QTEST_APPLESS_MAIN(TestCliQuantize)
#include "tst_cli_quantize.moc"
