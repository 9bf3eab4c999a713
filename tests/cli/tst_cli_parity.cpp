// mambascope-cli against the HF transformers reference, run as a user would: for every fixture model
// (tests/fixtures/models, written by gen_model_fixtures.py) logits (fp32 and bf16, from --ids and
// from --text), perplexity, greedy generation and tokenize must reproduce expected.json and the
// committed logits; init-random must write checkpoints that read back identically in both layouts.
// Not here: corrupt inputs and usage errors (tst_cli_errors.cpp); engine internals (tests/engine).
#include "cli_test_util.h"

#include "core/io/npy.h"

#include <QTemporaryDir>

#include <algorithm>
#include <cmath>

using namespace cli_test;

namespace {

// Both sides compute in fp32 but in different orders (HF's chunked/sequential scans vs ours);
// measured max |a-b|/max(1,|b|) on these fixtures is 2.7e-6, so 1e-4 leaves ~40x.
constexpr double kFp32Tolerance = 1e-4;
// --dtype bf16 against the fp32 reference: measured max |a-b|/max(1,|b|) is 0.092 (mamba2-g2),
// 0.078 (mamba1-hf-fp16), 0.055 (mamba1-hf); bf16 keeps 8 mantissa bits, so ~3x margin.
constexpr double kBf16Tolerance = 0.25;
// bf16 may flip near-ties of the argmax; measured agreement is 93.7% .. 97.5% of the 79 rows.
constexpr double kBf16MinArgmaxAgreement = 0.90;
// Perplexity is exp(mean NLL) summed in double; the reference sums in fp32/double in another order.
constexpr double kPerplexityRelTolerance = 1e-4;
// The same ids through both layouts of one init-random seed: the same weights, the same program.
constexpr double kLayoutTolerance = 1e-6;

struct Fixture {
  const char* name;
  const char* reference;   // logits file in the model directory
  QStringList logits_args; // extra args that select the reference's semantics
  QStringList model_args;  // e.g. --tokenizer for the state-spaces layout
  QStringList hf_args;     // args that reproduce HF for perplexity / generate figures
  bool has_ppl_and_greedy; // expected.json carries perplexity and greedy_ids
};

const QList<Fixture>& fixtures_list() {
  static const QList<Fixture> list = {
      {"mamba1-hf", "logits.npy", {}, {}, {}, true},
      {"mamba1-hf-sharded", "logits.npy", {}, {}, {}, true},
      {"mamba1-hf-fp16", "logits.npy", {}, {}, {}, true},
      {"mamba1-state-spaces", "logits.npy", {}, {"--tokenizer", shared_tokenizer()}, {}, true},
      {"falcon-mamba-hf", "logits.npy", {}, {}, {}, true},
      {"mamba2-hf", "logits.npy", {}, {}, {}, true},
      // G = 2: the default normalises per group (logits_group.npy); HF's figures need "full".
      {"mamba2-g2-hf", "logits_group.npy", {}, {}, {"--gated-norm", "full"}, true},
      {"mamba2-g2-hf/full", "logits.npy", {"--gated-norm", "full"}, {}, {"--gated-norm", "full"},
       false},
      {"mamba2-g2-state-spaces", "logits_group.npy", {}, {"--tokenizer", shared_tokenizer()}, {},
       false},
  };
  return list;
}

QString model_of(const QString& row) { return model_dir(row.section('/', 0, 0)); }

void add_fixture_rows() {
  QTest::addColumn<QString>("model");
  QTest::addColumn<QString>("reference");
  QTest::addColumn<QStringList>("logits_args");
  QTest::addColumn<QStringList>("model_args");
  QTest::addColumn<QStringList>("hf_args");
  for (const Fixture& f : fixtures_list())
    QTest::newRow(f.name) << model_of(f.name) << model_of(f.name) + "/" + f.reference
                          << f.logits_args << f.model_args << f.hf_args;
}

struct Diff {
  double max_abs = 0, max_rel = 0, mean_abs = 0;  // rel = |a-b| / max(1,|b|)
  qsizetype first_bad = -1;
};
Diff compare(const ms::NpyArray& a, const ms::NpyArray& b, double tol) {
  Diff d;
  for (qsizetype i = 0; i < static_cast<qsizetype>(b.data.size()); ++i) {
    const double x = a.data[i], y = b.data[i], e = std::abs(x - y);
    const double rel = e / std::max(1.0, std::abs(y));
    d.max_abs = std::max(d.max_abs, e);
    d.max_rel = std::max(d.max_rel, rel);
    d.mean_abs += e;
    if ((!(rel <= tol)) && d.first_bad < 0) d.first_bad = i;
  }
  d.mean_abs /= std::max<size_t>(1, b.data.size());
  return d;
}
QString describe(const Diff& d, const ms::NpyArray& a, const ms::NpyArray& b, double tol) {
  QString s = QStringLiteral("max abs %1, max rel %2, mean abs %3 (tolerance %4)")
                  .arg(d.max_abs).arg(d.max_rel).arg(d.mean_abs).arg(tol);
  if (d.first_bad >= 0)
    s += QStringLiteral("; first mismatch at flat index %1: got %2, want %3")
             .arg(d.first_bad).arg(a.data[d.first_bad]).arg(b.data[d.first_bad]);
  return s;
}

// logits MODEL ARGS --out DIR/NAME.npy --device cpu, read back.
ms::NpyArray run_logits(const QString& model, const QStringList& args, const QString& out) {
  const CliResult r = run_cli(QStringList{"logits", model} + args + QStringList{"--out", out,
                                                                                "--device", "cpu"});
  if (r.exit_code != 0) {
    QTest::qFail(qPrintable("logits failed: " + r.describe()), __FILE__, __LINE__);
    return {};
  }
  return ms::read_npy_f32(out.toStdString());
}

}  // namespace

class TestCliParity : public QObject {
  Q_OBJECT
  QTemporaryDir tmp_;

 private Q_SLOTS:
  void initTestCase() {
    QVERIFY2(QFileInfo(MAMBASCOPE_CLI).isExecutable(), (std::string(MAMBASCOPE_CLI) + " is not built").c_str());
    QVERIFY(tmp_.isValid());
  }

  void logits_fp32_data() { add_fixture_rows(); }
  void logits_fp32() {
    QFETCH(QString, model); QFETCH(QString, reference); QFETCH(QStringList, logits_args);
    const json e = read_json(model + "/expected.json");
    const auto ref = ms::read_npy_f32(reference.toStdString());
    const QString out = tmp_.filePath(QString(QTest::currentDataTag()).replace('/', '_') + ".npy");
    const auto got = run_logits(model, QStringList{"--ids", join_ids(e["ids"], ",")} + logits_args, out);
    if (QTest::currentTestFailed()) return;
    QCOMPARE(got.shape, ref.shape);
    QCOMPARE(got.shape.at(0), static_cast<int64_t>(e["ids"].size()));
    const Diff d = compare(got, ref, kFp32Tolerance);
    QVERIFY2(d.first_bad < 0, qPrintable(describe(d, got, ref, kFp32Tolerance)));
  }

  void logits_bf16_data() { add_fixture_rows(); }
  void logits_bf16() {
    QFETCH(QString, model); QFETCH(QString, reference); QFETCH(QStringList, logits_args);
    const json e = read_json(model + "/expected.json");
    const auto ref = ms::read_npy_f32(reference.toStdString());
    const QString out = tmp_.filePath(QString(QTest::currentDataTag()).replace('/', '_') + ".bf16.npy");
    const auto got = run_logits(
        model, QStringList{"--ids", join_ids(e["ids"], ","), "--dtype", "bf16"} + logits_args, out);
    if (QTest::currentTestFailed()) return;
    QCOMPARE(got.shape, ref.shape);
    const Diff d = compare(got, ref, kBf16Tolerance);
    QVERIFY2(d.first_bad < 0, qPrintable(describe(d, got, ref, kBf16Tolerance)));
    const int64_t rows = ref.shape[0], vocab = ref.shape[1];
    int64_t agree = 0;
    for (int64_t t = 0; t < rows; ++t) {
      const auto g = got.data.begin() + t * vocab, r = ref.data.begin() + t * vocab;
      agree += std::max_element(g, g + vocab) - g == std::max_element(r, r + vocab) - r;
    }
    QVERIFY2(agree >= kBf16MinArgmaxAgreement * rows,
             qPrintable(QStringLiteral("top-1 agrees on %1 of %2 rows; %3").arg(agree).arg(rows)
                            .arg(describe(d, got, ref, kBf16Tolerance))));
  }

  // --text goes through the tokenizer and must land on exactly the --ids computation.
  void logits_text_equals_ids_data() { add_fixture_rows(); }
  void logits_text_equals_ids() {
    QFETCH(QString, model); QFETCH(QString, reference); QFETCH(QStringList, logits_args);
    QFETCH(QStringList, model_args);
    const json e = read_json(model + "/expected.json");
    const QString tag = QString(QTest::currentDataTag()).replace('/', '_');
    const auto by_ids = run_logits(model, QStringList{"--ids", join_ids(e["ids"], ",")} + logits_args,
                                   tmp_.filePath(tag + ".ids.npy"));
    if (QTest::currentTestFailed()) return;
    const auto by_text = run_logits(
        model, QStringList{"--text", QString::fromStdString(e["text"].get<std::string>())} +
                   logits_args + model_args,
        tmp_.filePath(tag + ".text.npy"));
    if (QTest::currentTestFailed()) return;
    QCOMPARE(by_text.shape, by_ids.shape);
    const Diff d = compare(by_text, by_ids, 0.0);
    QVERIFY2(d.first_bad < 0, qPrintable(describe(d, by_text, by_ids, 0.0)));
  }

  void perplexity_data() {
    QTest::addColumn<QString>("model");
    QTest::addColumn<QStringList>("args");
    QTest::addColumn<QString>("key");
    for (const Fixture& f : fixtures_list()) {
      if (!f.has_ppl_and_greedy) continue;
      const QStringList base = f.model_args + f.hf_args;
      QTest::addRow("%s/default", f.name) << model_of(f.name) << base << "default";
      QTest::addRow("%s/ctx64_stride48", f.name)
          << model_of(f.name) << base + QStringList{"--ctx", "64", "--stride", "48"} << "ctx64_stride48";
    }
  }
  void perplexity() {
    QFETCH(QString, model); QFETCH(QStringList, args); QFETCH(QString, key);
    const json want = read_json(model + "/expected.json")["perplexity"][key.toStdString()];
    const CliResult r = run_cli(QStringList{"perplexity", model, "--file", model + "/ppl.txt",
                                            "--json", "--device", "cpu"} + args);
    QVERIFY2(r.exit_code == 0, qPrintable(r.describe()));
    const json got = json::parse(r.out.toStdString());
    QCOMPARE(got.at("tokens").get<int64_t>(), want.at("tokens").get<int64_t>());
    const double p = got.at("perplexity").get<double>(), w = want.at("value").get<double>();
    QVERIFY2(std::abs(p - w) <= kPerplexityRelTolerance * w,
             qPrintable(QStringLiteral("perplexity %1, expected %2 (rel diff %3, tolerance %4)")
                            .arg(p, 0, 'g', 12).arg(w, 0, 'g', 12).arg(std::abs(p - w) / w)
                            .arg(kPerplexityRelTolerance)));
  }

  void generate_greedy_data() {
    QTest::addColumn<QString>("model");
    QTest::addColumn<QStringList>("args");
    for (const Fixture& f : fixtures_list())
      if (f.has_ppl_and_greedy) QTest::newRow(f.name) << model_of(f.name) << f.model_args + f.hf_args;
  }
  void generate_greedy() {
    QFETCH(QString, model); QFETCH(QStringList, args);
    const json e = read_json(model + "/expected.json");
    const CliResult r = run_cli(QStringList{"generate", model, "--prompt",
                                            QString::fromStdString(e["prompt"].get<std::string>()),
                                            "-n", "24", "--json", "--device", "cpu"} + args);
    QVERIFY2(r.exit_code == 0, qPrintable(r.describe()));
    const json got = json::parse(r.out.toStdString());
    QCOMPARE(join_ids(got.at("ids"), " "), join_ids(e["greedy_ids"], " "));
  }

  void tokenize_data() {
    QTest::addColumn<QString>("model");
    QTest::addColumn<QStringList>("args");
    for (const Fixture& f : fixtures_list()) QTest::newRow(f.name) << model_of(f.name) << f.model_args;
    QTest::newRow("tokenizer.json") << model_of("mamba1-hf") << QStringList{};
  }
  void tokenize() {
    QFETCH(QString, model); QFETCH(QStringList, args);
    const json e = read_json(model + "/expected.json");
    const QString target = QString(QTest::currentDataTag()) == "tokenizer.json" ? shared_tokenizer() : model;
    const CliResult r = run_cli(QStringList{"tokenize", target, "--text",
                                            QString::fromStdString(e["text"].get<std::string>())} + args);
    QVERIFY2(r.exit_code == 0, qPrintable(r.describe()));
    QCOMPARE(r.out, (join_ids(e["ids"], " ") + "\n").toUtf8());
    // --file uses the bytes as they are: the text's trailing newline is a token too.
    QVERIFY(QByteArray::fromStdString(e["text"].get<std::string>()).endsWith('\n'));
    const QString file = tmp_.filePath(QString(QTest::currentDataTag()).replace('/', '_') + ".txt");
    QVERIFY(write_bytes(file, QByteArray::fromStdString(e["text"].get<std::string>())));
    const CliResult f = run_cli(QStringList{"tokenize", target, "--file", file} + args);
    QVERIFY2(f.exit_code == 0, qPrintable(f.describe()));
    QCOMPARE(f.out, r.out);
  }

  // init-random writes the preset's shapes in either layout; both read back to the same logits.
  void init_random_round_trip_data() {
    QTest::addColumn<QString>("preset");
    QTest::addColumn<QString>("architecture");
    QTest::newRow("tiny-mamba") << "tiny-mamba" << "mamba";
    QTest::newRow("tiny-mamba2") << "tiny-mamba2" << "mamba2";
  }
  void init_random_round_trip() {
    QFETCH(QString, preset); QFETCH(QString, architecture);
    QList<ms::NpyArray> logits;
    for (const QString layout : {"hf", "state-spaces"}) {
      const QString dir = tmp_.filePath("rt-" + preset + "-" + layout);
      CliResult r = run_cli({"init-random", "--preset", preset, "--out", dir, "--layout", layout,
                             "--seed", "11"});
      QVERIFY2(r.exit_code == 0, qPrintable(layout + ": " + r.describe()));
      r = run_cli({"info", dir, "--json"});
      QVERIFY2(r.exit_code == 0, qPrintable(layout + ": " + r.describe()));
      const json info = json::parse(r.out.toStdString());
      QCOMPARE(info.at("d_model").get<int>(), 64);
      QCOMPARE(info.at("n_layer").get<int>(), 2);
      QCOMPARE(QString::fromStdString(info.at("architecture").get<std::string>()), architecture);
      r = run_cli({"check", dir});
      QVERIFY2(r.exit_code == 0, qPrintable(layout + ": " + r.describe()));
      logits << run_logits(dir, {"--ids", "1,7,33,0,255,3,5"}, dir + ".npy");
      if (QTest::currentTestFailed()) return;
    }
    QCOMPARE(logits[0].shape, (std::vector<int64_t>{7, logits[0].shape.at(1)}));
    QCOMPARE(logits[1].shape, logits[0].shape);
    const Diff d = compare(logits[1], logits[0], kLayoutTolerance);
    QVERIFY2(d.first_bad < 0, qPrintable(describe(d, logits[1], logits[0], kLayoutTolerance)));
  }

  void init_random_is_deterministic_data() {
    QTest::addColumn<QString>("layout");
    QTest::newRow("hf") << "hf";
    QTest::newRow("state-spaces") << "state-spaces";
  }
  void init_random_is_deterministic() {
    QFETCH(QString, layout);
    QStringList dirs;
    for (const char* run : {"a", "b"}) {
      dirs << tmp_.filePath("det-" + layout + "-" + run);
      const CliResult r = run_cli({"init-random", "--preset", "tiny-mamba2", "--out", dirs.last(),
                                   "--layout", layout, "--seed", "5"});
      QVERIFY2(r.exit_code == 0, qPrintable(r.describe()));
    }
    const QStringList files = QDir(dirs[0]).entryList(QDir::Files | QDir::Hidden);
    QVERIFY(!files.isEmpty());
    QCOMPARE(QDir(dirs[1]).entryList(QDir::Files | QDir::Hidden), files);
    for (const QString& f : files)
      QVERIFY2(read_bytes(dirs[0] + "/" + f) == read_bytes(dirs[1] + "/" + f),
               qPrintable(f + " differs between two runs with the same seed"));
    // A different seed must change the weights (the seed is really used).
    const QString other = tmp_.filePath("det-" + layout + "-seed6");
    QCOMPARE(run_cli({"init-random", "--preset", "tiny-mamba2", "--out", other, "--layout", layout,
                      "--seed", "6"}).exit_code, 0);
    const QString weights = layout == "hf" ? "/model.safetensors" : "/pytorch_model.bin";
    QVERIFY(read_bytes(other + weights) != read_bytes(dirs[0] + weights));
  }

  void init_random_refuses_existing_out() {
    const QString parent = tmp_.filePath("exists");
    const QString dir = parent + "/model";
    QVERIFY(QDir().mkpath(parent));
    QCOMPARE(run_cli({"init-random", "--preset", "tiny-mamba", "--out", dir, "--seed", "1"}).exit_code, 0);
    const QStringList before = listing(parent);
    const QByteArray weights = read_bytes(dir + "/model.safetensors");
    const CliResult r = run_cli({"init-random", "--preset", "tiny-mamba", "--out", dir, "--seed", "2"});
    QVERIFY2(r.exit_code == 1, qPrintable(r.describe()));
    QVERIFY2(one_line(r.err) && r.err.contains("model"), qPrintable(r.describe()));
    QCOMPARE(listing(parent), before);
    QVERIFY(read_bytes(dir + "/model.safetensors") == weights);
  }
};

QTEST_GUILESS_MAIN(TestCliParity)
#include "tst_cli_parity.moc"
