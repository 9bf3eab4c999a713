// Hostile and malformed inputs, issue 9: every crash the fuzzers found (tests/fixtures/fuzz/
// <harness>/, replayed through the reader it broke, each with the message it must now give);
// config.json sizes that would overflow or allocate without bound; and pickles that run code
// under Python's pickle.load — proven live by letting Python load them in a child process (each
// creates its marker file there), then refused by our unpickler with no marker created.
// Not here: the opcode-level refusals (tst_unpickler), the committed hostile archives
// (tst_torch_bin), escaping shard and zip names (tst_safetensors, tst_zip).
#include <QProcess>
#include <QTemporaryDir>
#include <QtTest>

#include <filesystem>
#include <set>
#include <span>

#include "core/io/gguf.h"
#include "core/io/safetensors.h"
#include "core/io/torch_bin.h"
#include "core/io/unpickler.h"
#include "core/model/checkpoint.h"
#include "core/model/config.h"
#include "core/tokenizer/tokenizer.h"
#include "tests/io/io_test_util.h"

using namespace ms;
using namespace ms::test;
namespace fs = std::filesystem;

namespace {

const fs::path kFuzzFixtures = fs::path(MAMBASCOPE_FIXTURES) / "fuzz";

// Each committed crash input, the reader it broke and what that reader must now say. A new file
// under tests/fixtures/fuzz/ without a row here fails allRegressionsListed().
struct Regression {
  const char* file;    // relative to tests/fixtures/fuzz
  const char* needle;  // in the one-line message
};
const Regression kRegressions[] = {
    // UBSan: signed overflow in derive() (2 * n_groups * d_state with each at 2^31).
    {"fuzz_config/overflow_conv_dim.json", "'hidden_size' is implausibly large (2147483648)"},
    // Out of memory: expected_tensors() for 2^31 layers.
    {"fuzz_config/oom_n_layer.json", "'num_hidden_layers' is implausibly large"},
    // UBSan: 2 * d_inner with expand * hidden_size = 2^62.
    {"fuzz_config/overflow_in_proj.json", "'hidden_size' is implausibly large"},
    // nlohmann type_error escaped as a foreign exception (a number where a flag belongs).
    {"fuzz_tokenizer_json/number_as_flag.json", "malformed tokenizer.json: type must be boolean"},
    // nlohmann out_of_range (a number beyond double) escaped from parse.
    {"fuzz_tokenizer_json/number_overflow.json", "invalid JSON"},
    // UBSan: a float vocab id (6e108) converted to int64.
    {"fuzz_tokenizer_json/float_vocab_id.json", "is not an integer"},
    // A tensor name holding a newline made a two-line error.
    {"fuzz_gguf/newline_in_name.gguf", "key 't.u64\\n"},
    // A shard name holding a newline made a two-line "cannot open" error.
    {"fuzz_safetensors_index/newline_in_shard.json", "shard name 'sub/infet\\nsors' holds a control character"},
    // A torch.save archive whose folder name held a newline made a two-line pickle error.
    {"fuzz_torch_bin/newline-in-archive-prefix.bin", "('f\\nPK\\x01d/data.pkl'): pickle offset 0"},
};

// Reads `file` with the reader its harness (its folder's name) drives.
void replay(const fs::path& file) {
  const std::string harness = file.parent_path().filename().string();
  if (harness == "fuzz_config") {
    ModelConfig::from_file(file);
  } else if (harness == "fuzz_tokenizer_json") {
    Tokenizer::from_file(file);
  } else if (harness == "fuzz_gguf") {
    read_gguf(file);
  } else if (harness == "fuzz_safetensors_index") {
    TensorStore store;
    read_safetensors_index(file, store);
  } else if (harness == "fuzz_torch_bin") {
    TensorStore store;
    read_torch_bin(file, store);
  } else {
    QFAIL(qPrintable(QString::fromStdString("no reader for " + harness)));
  }
}

std::string config_text(const std::string& fields) {
  return R"({"model_type": "mamba", "vocab_size": 512, )" + fields + "}";
}

}  // namespace

class TestHostileInputs : public QObject {
  Q_OBJECT

 private Q_SLOTS:
  void fuzzRegressions_data() {
    QTest::addColumn<QString>("file");
    QTest::addColumn<QString>("needle");
    for (const Regression& r : kRegressions) QTest::newRow(r.file) << r.file << r.needle;
  }
  void fuzzRegressions() {
    QFETCH(QString, file);
    QFETCH(QString, needle);
    const fs::path path = kFuzzFixtures / file.toStdString();
    QVERIFY2(fs::exists(path), path.c_str());
    EXPECT_INPUT_ERROR(replay(path), path.string(), needle.toStdString());
  }
  void allRegressionsListed() {
    std::set<std::string> listed;
    for (const Regression& r : kRegressions) listed.insert(r.file);
    for (const auto& e : fs::recursive_directory_iterator(kFuzzFixtures)) {
      if (!e.is_regular_file()) continue;
      const std::string rel = fs::relative(e.path(), kFuzzFixtures).string();
      QVERIFY2(listed.count(rel), qPrintable(QString::fromStdString(rel + " has no row in kRegressions")));
    }
  }

  // Sizes a config may claim are bounded before anything multiplies or allocates by them.
  void configSizesAreBounded_data() {
    QTest::addColumn<QString>("fields");
    QTest::addColumn<QString>("problem");
    QTest::newRow("layers over 4096") << R"("hidden_size": 8, "num_hidden_layers": 5000)"
                                      << "implausibly many layers (5000; the limit is 4096)";
    QTest::newRow("a dimension over 2^24") << R"("hidden_size": 16777217, "num_hidden_layers": 1)"
                                           << "'hidden_size' is implausibly large (16777217)";
    // Each size at its limit, the product (E = 2^24 * 2^24 = 2^48 channels) past 2^40 parameters.
    QTest::newRow("product over 2^40")
        << R"("hidden_size": 16777216, "expand": 16777216, "num_hidden_layers": 1)"
        << "more than 2^40 parameters";
  }
  void configSizesAreBounded() {
    QFETCH(QString, fields);
    QFETCH(QString, problem);
    EXPECT_INPUT_ERROR(ModelConfig::from_json_text(config_text(fields.toStdString()), "c.json"),
                       "c.json", problem.toStdString());
  }
  void configAtTheBoundsStillReads() {
    // 4096 layers and 2^40 parameters are refused only beyond them: a wide, shallow model and a
    // deep, thin one both read, with their exact parameter counts.
    const ModelConfig deep =
        ModelConfig::from_json_text(config_text(R"("hidden_size": 16, "num_hidden_layers": 4096)"), "deep");
    QCOMPARE(deep.n_layer, int64_t(4096));
    // Per layer (d 16, E 32, N 16, R 1, K 4): norm 16 + in_proj 64*16 + conv 32*4+32 + out 16*32
    // + x_proj 33*32 + dt_proj 32+32 + A 32*16 + D 32 = 3376; embedding 512*16; norm_f 16.
    QCOMPARE(deep.parameter_count(), int64_t(4096) * 3376 + 512 * 16 + 16);
    const std::vector<ExpectedTensor> expected = expected_tensors(deep);
    // 12 a layer (norm; in_proj, conv1d, dt_proj, out_proj weight + bias; x_proj; A_log; D),
    // then embedding, norm_f and the (optional) lm_head.
    QCOMPARE(expected.size(), std::size_t(4096 * 12 + 3));
  }

  // Python's pickle.load of each runs code (its marker appears); ours refuses it and runs nothing.
  void hostilePicklesAreLiveAndRefused_data() {
    QTest::addColumn<QString>("name");
    QTest::addColumn<QString>("problem");
    QTest::newRow("os.system") << "os_system" << "refused global 'posix.system'";
    QTest::newRow("builtins.eval") << "eval" << "refused global 'builtins.eval'";
    QTest::newRow("builtins.exec") << "exec" << "refused global 'builtins.exec'";
    QTest::newRow("getattr chain") << "getattr" << "refused global 'builtins.getattr'";
    QTest::newRow("nested REDUCE in a tensor rebuild") << "nested_reduce" << "refused global 'posix.system'";
    QTest::newRow("nested REDUCE in an OrderedDict") << "ordered_dict_reduce" << "refused global 'builtins.exec'";
    QTest::newRow("BUILD __setstate__ of a class") << "setstate" << "refused global 'hostile_gen.SetState'";
    QTest::newRow("BUILD on OrderedDict with code in its state") << "build_state_code"
                                                                 << "refused global 'builtins.exec'";
    QTest::newRow("protocol 4 STACK_GLOBAL") << "stack_global" << "refused global 'posix.system'";
    QTest::newRow("protocol 5 exec") << "proto5" << "refused global 'builtins.exec'";
  }
  void hostilePicklesAreLiveAndRefused() {
    QFETCH(QString, name);
    QFETCH(QString, problem);
    if (QString(MAMBASCOPE_PYTHON).isEmpty()) QSKIP("MAMBASCOPE_PYTHON is not set: cannot prove the pickles live");
    QTemporaryDir dir;
    QVERIFY(dir.isValid());
    const fs::path d = dir.path().toStdString();
    QProcess gen;
    gen.setWorkingDirectory(dir.path());
    gen.start(MAMBASCOPE_PYTHON, {(QString::fromUtf8(MAMBASCOPE_SOURCE_DIR) + QStringLiteral("/tests/fuzz/hostile_gen.py")),
                                   dir.path(), name});
    QVERIFY(gen.waitForFinished(60000));
    QVERIFY2(gen.exitCode() == 0, gen.readAllStandardError().constData());
    const fs::path pkl = d / (name.toStdString() + ".pkl");
    const fs::path marker = d / (name.toStdString() + ".pwned");
    QVERIFY(fs::exists(pkl) && !fs::exists(marker));

    // Ours first: refused, and nothing ran.
    const std::string bytes = read_all(pkl);
    const std::span<const std::byte> span(reinterpret_cast<const std::byte*>(bytes.data()), bytes.size());
    EXPECT_INPUT_ERROR(unpickle(span, pkl.string()), pkl.string(), problem.toStdString());
    QVERIFY2(!fs::exists(marker), "our unpickler ran code");

    // Then Python's: the same bytes do run code, so the row above proves something.
    QProcess load;
    load.setWorkingDirectory(dir.path());
    load.start(MAMBASCOPE_PYTHON, {"-c", "import pickle, sys; sys.path.insert(0, sys.argv[2]); "
                                         "pickle.load(open(sys.argv[1], 'rb'))",
                                   QString::fromStdString(pkl.string()),
                                   (QString::fromUtf8(MAMBASCOPE_SOURCE_DIR) + QStringLiteral("/tests/fuzz"))});
    QVERIFY(load.waitForFinished(60000));
    QVERIFY2(fs::exists(marker), qPrintable("Python's pickle.load did not run " + name +
                                             "; the case proves nothing: " +
                                             load.readAllStandardError()));
  }
};

QTEST_APPLESS_MAIN(TestHostileInputs)
#include "tst_hostile_inputs.moc"
