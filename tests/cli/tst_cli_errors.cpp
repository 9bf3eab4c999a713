// mambascope-cli on bad input and bad usage, as CLI-CONTRACT.md promises: exit 1 for bad input,
// 2 for bad usage; exactly one line on stderr naming the file and the problem; never a crash; no
// output file left behind, not even a temporary one; no code run from a hostile pickle; and `check`
// listing every problem of a checkpoint. Corrupt models are built here, at test time, by copying a
// fixture and editing its bytes (safetensors = 8-byte little-endian header length, JSON, data).
// Not here: numerical parity (tst_cli_parity.cpp); reader unit tests (tests/io).
#include "cli_test_util.h"

#include <QTemporaryDir>

#include <functional>
#include <random>

#include <signal.h>
#include <sys/resource.h>

using namespace cli_test;

namespace {

using Mutation = std::function<bool(const QString& dir)>;  // edits a copy of a model directory

bool edit_safetensors(const QString& dir, const std::function<void(Safetensors&)>& edit) {
  Safetensors st = read_safetensors(dir + "/model.safetensors");
  edit(st);
  return write_safetensors(dir + "/model.safetensors", st);
}
bool edit_config(const QString& dir, const std::function<void(json&)>& edit) {
  json c = read_json(dir + "/config.json");
  edit(c);
  return write_json(dir + "/config.json", c);
}
bool set_header_length(const QString& dir, uint64_t n) {
  QByteArray b = read_bytes(dir + "/model.safetensors");
  b.replace(0, 8, u64_le(n));
  return write_bytes(dir + "/model.safetensors", b);
}
// The tensor whose data ends last (so moving it cannot hide behind another tensor).
std::string last_tensor(const json& h) {
  std::string best;
  uint64_t end = 0;
  for (const auto& [k, v] : h.items())
    if (k != "__metadata__" && v["data_offsets"][1].get<uint64_t>() >= end)
      best = k, end = v["data_offsets"][1].get<uint64_t>();
  return best;
}
// D of layer 0 is [d_inner] = [128] in mamba1-hf; [64, 2] has the same byte count, so only the
// shape (not the data span) disagrees with config.json.
constexpr const char* kShapeKey = "backbone.layers.0.mixer.D";
void wrong_shape(Safetensors& st) {
  QCOMPARE(QString::fromStdString(st.header[kShapeKey]["shape"].dump()), QString("[128]"));
  st.header[kShapeKey]["shape"] = {64, 2};
}
constexpr const char* kExtraKey = "backbone.layers.0.mixer.not_a_mamba_weight";
void extra_tensor(Safetensors& st) {  // well-formed (own bytes), just unknown to the model
  const auto begin = static_cast<uint64_t>(st.data.size());
  st.data.append(QByteArray(16, '\0'));
  st.header[kExtraKey] = {{"dtype", "F32"}, {"shape", {4}}, {"data_offsets", {begin, begin + 16}}};
}

}  // namespace

Q_DECLARE_METATYPE(Mutation)

class TestCliErrors : public QObject {
  Q_OBJECT
  QTemporaryDir tmp_;
  int case_ = 0;

  // A fresh scratch folder holding `model/` (a copy of the fixture) and an empty `out/`.
  QString scratch(const QString& fixture) {
    const QString dir = tmp_.filePath(QString::number(++case_));
    if (!copy_dir(model_dir(fixture), dir + "/model") || !QDir().mkpath(dir + "/out")) return {};
    return dir;
  }

  // The contract for a failed command: this exit code, one stderr line naming `names`, nothing on
  // stdout, and the output folder exactly as it was.
  static void expect_refused(const CliResult& r, int code, const QStringList& names,
                             const QString& out_dir, const QStringList& out_before) {
    QVERIFY2(!r.crashed && !r.timed_out, qPrintable(r.describe()));
    QVERIFY2(r.exit_code == code, qPrintable(QStringLiteral("want exit %1; ").arg(code) + r.describe()));
    QVERIFY2(one_line(r.err), qPrintable("want exactly one stderr line; " + r.describe()));
    for (const QString& n : names)
      QVERIFY2(QString::fromUtf8(r.err).contains(n, Qt::CaseInsensitive),
               qPrintable("stderr should name '" + n + "'; " + r.describe()));
    QVERIFY2(r.out.isEmpty(), qPrintable("want no stdout; " + r.describe()));
    QCOMPARE(listing(out_dir), out_before);
  }

 private Q_SLOTS:
  void initTestCase() {
    QVERIFY2(QFileInfo(MAMBASCOPE_CLI).isExecutable(), (std::string(MAMBASCOPE_CLI) + " is not built").c_str());
    QVERIFY(tmp_.isValid());
  }

  // Each row corrupts a copy of a fixture; `logits` must refuse it and `info` too.
  void bad_model_data() {
    QTest::addColumn<QString>("fixture");
    QTest::addColumn<Mutation>("mutate");
    QTest::addColumn<QStringList>("names");  // what the one stderr line must mention
    const QString st = "model.safetensors", cfg = "config.json";
    auto add = [](const char* tag, const char* fixture, Mutation m, QStringList names) {
      QTest::newRow(tag) << QString(fixture) << m << names;
    };
    add("empty safetensors", "mamba1-hf",
        [](const QString& d) { return write_bytes(d + "/model.safetensors", {}); }, {st});
    add("truncated safetensors", "mamba1-hf", [](const QString& d) {
          const QByteArray b = read_bytes(d + "/model.safetensors");
          return write_bytes(d + "/model.safetensors", b.left(b.size() / 2));
        }, {st});
    add("truncated inside the header", "mamba1-hf", [](const QString& d) {
          return write_bytes(d + "/model.safetensors", read_bytes(d + "/model.safetensors").left(100));
        }, {st, "header"});
    add("header length past the file", "mamba1-hf", [](const QString& d) {
          return set_header_length(d, QFileInfo(d + "/model.safetensors").size() + 1);
        }, {st, "header"});
    add("header length 2^62", "mamba1-hf",
        [](const QString& d) { return set_header_length(d, uint64_t(1) << 62); }, {st, "header"});
    add("offsets past the end", "mamba1-hf", [](const QString& d) {
          return edit_safetensors(d, [](Safetensors& s) {
            auto& off = s.header[last_tensor(s.header)]["data_offsets"];
            const uint64_t n = off[1].get<uint64_t>() - off[0].get<uint64_t>();
            off = {uint64_t(s.data.size()), uint64_t(s.data.size()) + n};
          });
        }, {st});
    add("overlapping offsets", "mamba1-hf", [](const QString& d) {
          return edit_safetensors(d, [](Safetensors& s) {  // the last tensor re-pointed at the first's bytes
            auto& off = s.header[last_tensor(s.header)]["data_offsets"];
            const uint64_t n = off[1].get<uint64_t>() - off[0].get<uint64_t>();
            off = {uint64_t(0), n};
          });
        }, {st, "overlap"});
    add("unknown dtype", "mamba1-hf", [](const QString& d) {
          return edit_safetensors(d, [](Safetensors& s) { s.header[kShapeKey]["dtype"] = "Q7"; });
        }, {st, "Q7"});
    add("shape disagrees with config", "mamba1-hf",
        [](const QString& d) { return edit_safetensors(d, wrong_shape); }, {st, kShapeKey});
    add("config not JSON", "mamba1-hf",
        [](const QString& d) { return write_bytes(d + "/config.json", "{\"model_type\": \"mamba\",,"); },
        {cfg, "JSON"});
    add("config without hidden_size", "mamba1-hf",
        [](const QString& d) { return edit_config(d, [](json& c) { c.erase("hidden_size"); }); },
        {cfg, "hidden_size"});
    add("config negative hidden_size", "mamba1-hf",
        [](const QString& d) { return edit_config(d, [](json& c) { c["hidden_size"] = -64; }); },
        {cfg, "hidden_size"});
    add("config negative num_hidden_layers", "mamba1-hf",
        [](const QString& d) { return edit_config(d, [](json& c) { c["num_hidden_layers"] = -2; }); },
        {cfg, "num_hidden_layers"});
    add("model_type llama", "mamba1-hf",
        [](const QString& d) { return edit_config(d, [](json& c) { c["model_type"] = "llama"; }); },
        {cfg, "llama"});
    add("model_type jamba (hybrid)", "mamba1-hf",
        [](const QString& d) { return edit_config(d, [](json& c) { c["model_type"] = "jamba"; }); },
        {cfg, "jamba"});
    // The contract's unsupported variants, each refused with a message naming what is unsupported.
    add("mamba2 with attention layers", "mamba2-g2-state-spaces",
        [](const QString& d) { return edit_config(d, [](json& c) { c["attn_layer_idx"] = {1}; }); },
        {cfg, "attn_layer_idx"});
    add("mamba2 with d_intermediate > 0", "mamba2-g2-state-spaces",
        [](const QString& d) { return edit_config(d, [](json& c) { c["d_intermediate"] = 128; }); },
        {cfg, "d_intermediate"});
    add("rms_norm false", "mamba2-g2-state-spaces",
        [](const QString& d) { return edit_config(d, [](json& c) { c["rms_norm"] = false; }); },
        {cfg, "rms_norm"});
    add("heads not divisible by groups", "mamba2-hf",
        [](const QString& d) { return edit_config(d, [](json& c) { c["n_groups"] = 3; }); },
        {cfg, "groups"});
    add("missing shard", "mamba1-hf-sharded",
        [](const QString& d) { return QFile::remove(d + "/model-00003-of-00006.safetensors"); },
        {"model-00003-of-00006.safetensors"});
    add("shard index not JSON", "mamba1-hf-sharded",
        [](const QString& d) { return write_bytes(d + "/model.safetensors.index.json", "{\"weight_map\": "); },
        {"model.safetensors.index.json"});
    add("no weights", "mamba1-hf",
        [](const QString& d) { return QFile::remove(d + "/model.safetensors"); }, {"model", "weights"});
    add("random bytes as pytorch_model.bin", "mamba1-state-spaces", [](const QString& d) {
          std::mt19937 rng(42);
          QByteArray b(300, '\0');
          for (char& c : b) c = static_cast<char>(rng());
          return write_bytes(d + "/pytorch_model.bin", b);
        }, {"pytorch_model.bin"});
    add("truncated pytorch_model.bin", "mamba1-state-spaces", [](const QString& d) {
          const QByteArray b = read_bytes(d + "/pytorch_model.bin");
          return write_bytes(d + "/pytorch_model.bin", b.left(b.size() / 2));
        }, {"pytorch_model.bin"});
  }
  void bad_model() {
    QFETCH(QString, fixture); QFETCH(Mutation, mutate); QFETCH(QStringList, names);
    const QString dir = scratch(fixture);
    QVERIFY(!dir.isEmpty());
    QVERIFY(mutate(dir + "/model"));
    if (QTest::currentTestFailed()) return;
    const QString out = dir + "/out";
    const QStringList before = listing(out), model_before = listing(dir + "/model");
    expect_refused(run_cli({"logits", dir + "/model", "--ids", "1,2,3", "--out", out + "/l.npy",
                            "--device", "cpu"}), 1, names, out, before);
    if (QTest::currentTestFailed()) return;
    expect_refused(run_cli({"info", dir + "/model"}), 1, names, out, before);
    if (QTest::currentTestFailed()) return;
    // check lists problems on stdout, but still exits 1 and never crashes.
    const CliResult c = run_cli({"check", dir + "/model"});
    QVERIFY2(c.exit_code == 1 && !c.crashed, qPrintable(c.describe()));
    QCOMPARE(listing(dir + "/model"), model_before);  // nothing reads-and-rewrites the input
  }

  // A torch-zip whose pickle would call os.system("touch <marker>"): refused, marker never made.
  // "committed" uses tests/fixtures/cli/hostile_model.bin (marker relative to the working
  // directory, which is the scratch folder); "generated" makes a fresh one with an absolute marker.
  void hostile_pickle_runs_nothing_data() {
    QTest::addColumn<bool>("generate");
    QTest::newRow("committed") << false;
    QTest::newRow("generated") << true;
  }
  void hostile_pickle_runs_nothing() {
    QFETCH(bool, generate);
    const QString python = QString::fromUtf8(MAMBASCOPE_PYTHON);
    if (generate && python.isEmpty()) QSKIP("MAMBASCOPE_PYTHON is not set: only the committed file is tried");
    const QString dir = scratch("mamba1-state-spaces");
    QVERIFY(!dir.isEmpty());
    const QString bin = dir + "/model/pytorch_model.bin";
    QVERIFY(QFile::remove(bin));
    QString marker = dir + "/mambascope_cli_pwned";
    if (generate) {
      marker = dir + "/pwned_absolute";
      QProcess py;
      py.start(python, {QString::fromUtf8(MAMBASCOPE_SOURCE_DIR) + "/tests/fixtures/gen_cli_fixtures.py",
                        bin, marker});
      QVERIFY(py.waitForFinished(120000));
      QVERIFY2(py.exitCode() == 0, py.readAllStandardError().constData());
    } else {
      QVERIFY(QFile::copy(fixtures() + "/cli/hostile_model.bin", bin));
    }
    const QString out = dir + "/out";
    const QStringList before = listing(out);
    const QStringList tok{"--tokenizer", shared_tokenizer()};
    const QList<QStringList> commands = {
        QStringList{"logits", dir + "/model", "--ids", "1,2", "--out", out + "/l.npy", "--device", "cpu"},
        QStringList{"info", dir + "/model"},
        QStringList{"generate", dir + "/model", "--prompt", "x", "-n", "2", "--device", "cpu"} + tok,
    };
    for (const QStringList& args : commands) {
      expect_refused(run_cli(args, dir), 1, {"pytorch_model.bin"}, out, before);
      if (QTest::currentTestFailed()) return;
      QVERIFY2(!QFileInfo::exists(marker), qPrintable(args[0] + " ran the pickle's payload"));
    }
    const CliResult c = run_cli({"check", dir + "/model"}, dir);
    QCOMPARE(c.exit_code, 1);
    QVERIFY(!QFileInfo::exists(marker));
  }

  // The write itself fails (EFBIG: RLIMIT_FSIZE lowered in the child, SIGXFSZ ignored so write()
  // returns an error instead of killing the process): exit 1 and no partial or temporary file.
  void failed_write_leaves_nothing_data() {
    QTest::addColumn<QString>("command");
    QTest::newRow("logits") << "logits";
    QTest::newRow("init-random") << "init-random";
  }
  void failed_write_leaves_nothing() {
    QFETCH(QString, command);
    const QString dir = scratch("mamba1-hf");
    QVERIFY(!dir.isEmpty());
    const QString out = dir + "/out";
    const QStringList before = listing(out);
    const QStringList args = command == "logits"
        ? QStringList{"logits", dir + "/model", "--text", "a text long enough for 100 kB of logits",
                      "--out", out + "/l.npy", "--device", "cpu"}
        : QStringList{"init-random", "--preset", "tiny-mamba", "--out", out + "/tiny", "--seed", "1"};
    const CliResult r = run_cli(args, {}, [] {
      ::signal(SIGXFSZ, SIG_IGN);
      const rlimit lim{4096, 4096};  // logits are T x 400 x 4 bytes (~30 kB); tiny-mamba ~390 kB
      ::setrlimit(RLIMIT_FSIZE, &lim);
    });
    QVERIFY2(!r.crashed && r.exit_code == 1, qPrintable(r.describe()));
    QVERIFY2(one_line(r.err), qPrintable("want exactly one stderr line; " + r.describe()));
    QCOMPARE(listing(out), before);
  }

  // Text read with --file must be UTF-8; the error names that file, not the tokenizer or model.
  void non_utf8_file_data() {
    QTest::addColumn<QString>("command");
    for (const char* c : {"tokenize", "logits", "perplexity"}) QTest::newRow(c) << QString(c);
  }
  void non_utf8_file() {
    QFETCH(QString, command);
    const QString dir = scratch("mamba1-hf");
    QVERIFY(!dir.isEmpty());
    const QString text = dir + "/latin1_text.txt";
    QVERIFY(write_bytes(text, "caf\xe9 au lait\n"));  // Latin-1 e-acute: not UTF-8
    const QString out = dir + "/out";
    const QStringList before = listing(out);
    QStringList args{command, dir + "/model", "--file", text};
    if (command == "logits") args << "--out" << out + "/l.npy";
    if (command != "tokenize") args << "--device" << "cpu";
    expect_refused(run_cli(args), 1, {"latin1_text.txt", "UTF-8"}, out, before);
  }

  void missing_text_file() {
    const QString dir = scratch("mamba1-hf");
    QVERIFY(!dir.isEmpty());
    expect_refused(run_cli({"perplexity", dir + "/model", "--file", dir + "/absent_text.txt", "--device", "cpu"}),
                   1, {"absent_text.txt"}, dir + "/out", {});
  }

  // The state-spaces layout ships no tokenizer: text needs --tokenizer, and the error says so.
  void text_without_tokenizer() {
    const QString dir = scratch("mamba1-state-spaces");
    QVERIFY(!dir.isEmpty());
    const QString out = dir + "/out";
    expect_refused(run_cli({"logits", dir + "/model", "--text", "hi", "--out", out + "/l.npy", "--device", "cpu"}),
                   1, {"--tokenizer"}, out, {});
  }

  void ids_outside_vocabulary() {
    const QString dir = scratch("mamba1-hf");
    QVERIFY(!dir.isEmpty());
    const QString out = dir + "/out";
    const QStringList before = listing(out);
    // vocab is 400 rows: 399 is the last valid id, 400 the first invalid one.
    QCOMPARE(run_cli({"logits", dir + "/model", "--ids", "0,399", "--out", tmp_.filePath("ok.npy"),
                      "--device", "cpu"}).exit_code, 0);
    expect_refused(run_cli({"logits", dir + "/model", "--ids", "1,400,2", "--out", out + "/l.npy",
                            "--device", "cpu"}), 1, {"400"}, out, before);
  }

  void out_into_missing_directory() {
    const QString dir = scratch("mamba1-hf");
    QVERIFY(!dir.isEmpty());
    const QString missing = dir + "/no_such_dir";
    const QStringList before = listing(dir + "/out");
    expect_refused(run_cli({"logits", dir + "/model", "--ids", "1,2", "--out", missing + "/l.npy",
                            "--device", "cpu"}), 1, {"no_such_dir"}, dir + "/out", before);
    QVERIFY(!QFileInfo::exists(missing));
  }

  void bad_usage_data() {
    QTest::addColumn<QStringList>("args");
    QTest::addColumn<QString>("names");
    const QString m = model_dir("mamba1-hf");
    QTest::newRow("unknown flag") << QStringList{"logits", m, "--ids", "1", "--out", "x.npy", "--frobnicate"}
                                  << "frobnicate";
    QTest::newRow("logits without --out") << QStringList{"logits", m, "--ids", "1"} << "--out";
    QTest::newRow("perplexity without --file") << QStringList{"perplexity", m} << "--file";
    QTest::newRow("generate without --prompt") << QStringList{"generate", m} << "--prompt";
    QTest::newRow("init-random bad layout")
        << QStringList{"init-random", "--preset", "tiny-mamba", "--out", "x", "--layout", "gguf"} << "layout";
    QTest::newRow("unknown command") << QStringList{"frobnicate", m} << "frobnicate";
    QTest::newRow("bad --device") << QStringList{"logits", m, "--ids", "1", "--out", "x.npy", "--device", "tpu"}
                                  << "device";
    QTest::newRow("--ctx below 2") << QStringList{"perplexity", m, "--file", m + "/ppl.txt", "--ctx", "1"} << "ctx";
  }
  void bad_usage() {
    QFETCH(QStringList, args); QFETCH(QString, names);
    const QString dir = tmp_.filePath("usage" + QString::number(++case_));
    QVERIFY(QDir().mkpath(dir));
    expect_refused(run_cli(args, dir), 2, {names}, dir, {});
  }

  // check reports every problem, not just the first: a wrong shape and an unknown tensor.
  void check_lists_every_problem() {
    const QString dir = scratch("mamba1-hf");
    QVERIFY(!dir.isEmpty());
    QVERIFY(edit_safetensors(dir + "/model", [](Safetensors& s) { wrong_shape(s); extra_tensor(s); }));
    const CliResult r = run_cli({"check", dir + "/model"});
    QVERIFY2(r.exit_code == 1 && !r.crashed, qPrintable(r.describe()));
    const QString all = QString::fromUtf8(r.out + r.err);
    QVERIFY2(all.contains(kShapeKey), qPrintable("check should report the wrong shape; " + r.describe()));
    QVERIFY2(all.contains(kExtraKey), qPrintable("check should report the unknown tensor; " + r.describe()));
  }

  void check_accepts_sound_models_data() {
    QTest::addColumn<QString>("model");
    for (const char* m : {"mamba1-hf", "mamba1-hf-sharded", "mamba1-hf-fp16", "mamba1-state-spaces",
                          "falcon-mamba-hf", "mamba2-hf", "mamba2-g2-hf", "mamba2-g2-state-spaces"})
      QTest::newRow(m) << model_dir(m);
  }
  void check_accepts_sound_models() {
    QFETCH(QString, model);
    const CliResult r = run_cli({"check", model});
    QVERIFY2(r.exit_code == 0, qPrintable(r.describe()));
    QVERIFY2(r.err.isEmpty(), qPrintable(r.describe()));
  }
};

QTEST_GUILESS_MAIN(TestCliErrors)
#include "tst_cli_errors.moc"
