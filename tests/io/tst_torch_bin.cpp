// pytorch_model.bin reading: exact values of a torch.save'd state dict (tied storage, a view at a
// storage offset, bf16/f16/i64, a 0-d tensor, nn.Parameter), refusal of non-contiguous and legacy
// files, forged tensors that lie about their storage, hostile pickles (refused, and the file they
// would create never appears), and every truncation / random byte flips of a real archive.
#include <QTemporaryDir>
#include <QtTest>
#include <cstring>
#include <fstream>
#include <random>

#include "core/io/torch_bin.h"
#include "core/util/error.h"
#include "tests/io/io_test_util.h"

using namespace ms;
using namespace ms::test;

namespace {

// Must match MARKER in tests/fixtures/gen_reader_fixtures.py (also in hostile/markers.json).
const char* const kMarker = "/tmp/mambascope_pwned_7f3a91c2";

}  // namespace

class TestTorchBin : public QObject {
  Q_OBJECT

 private Q_SLOTS:
  void readsStateDictValues() {
    TensorStore store;
    const auto file = kReaders / "state_dict.bin";
    read_torch_bin(file, store);
    QCOMPARE(store.tensors().size(), std::size_t(7));

    const TensorView& emb = store.at("backbone.embedding.weight");  // (vocab=5, d=4), i/4
    QCOMPARE(emb.dtype, DType::F32);
    QCOMPARE(emb.shape_str(), std::string("[5, 4]"));
    std::vector<float> expected(20);
    for (int i = 0; i < 20; ++i) expected[i] = static_cast<float>(i) / 4.0f;
    QCOMPARE(values_of<float>(emb), expected);
    // Tied lm_head: the same storage, so the very same bytes of the mapping.
    const TensorView& head = store.at("lm_head.weight");
    QCOMPARE(head.data, emb.data);
    QCOMPARE(head.nbytes, emb.nbytes);
    QCOMPARE(head.shape, emb.shape);

    // base = arange(10) * 10, D = base[4:7]: storage offset 4 elements.
    QCOMPARE(values_of<float>(store.at("backbone.layers.0.mixer.D")),
             (std::vector<float>{40.0f, 50.0f, 60.0f}));
    // bf16 1, -2, 3, 0.5, 0.25, -8
    const TensorView& alog = store.at("backbone.layers.0.mixer.A_log");
    QCOMPARE(alog.dtype, DType::BF16);
    QCOMPARE(alog.shape_str(), std::string("[2, 3]"));
    QCOMPARE(values_of<uint16_t>(alog),
             (std::vector<uint16_t>{0x3F80, 0xC000, 0x4040, 0x3F00, 0x3E80, 0xC100}));
    // f16 1, 0.5, -1, 2
    const TensorView& norm = store.at("backbone.norm_f.weight");
    QCOMPARE(norm.dtype, DType::F16);
    QCOMPARE(values_of<uint16_t>(norm), (std::vector<uint16_t>{0x3C00, 0x3800, 0xBC00, 0x4000}));
    QCOMPARE(values_of<int64_t>(store.at("backbone.layers.0.mixer.positions")),
             (std::vector<int64_t>{3, -7, int64_t(1) << 33}));
    const TensorView& scalar = store.at("scalar");
    QCOMPARE(scalar.shape_str(), std::string("[]"));
    QCOMPARE(values_of<float>(scalar), std::vector<float>{2.5f});
    QCOMPARE(store.source_of("scalar"), file);
  }

  void readsParameter() {
    TensorStore store;
    read_torch_bin(kReaders / "param.bin", store);
    QCOMPARE(values_of<float>(store.at("p")), (std::vector<float>{1.5f, -2.5f}));
  }

  void readsForgedControl() {
    // The forged files share this layout; "ok" reads, so each forged variant fails for its lie.
    TensorStore store;
    read_torch_bin(kReaders / "forged" / "ok.bin", store);
    QCOMPARE(values_of<float>(store.at("w")), (std::vector<float>{2.0f, 3.0f, 4.0f}));
  }

  void refusesBadFiles_data() {
    QTest::addColumn<QString>("file");
    QTest::addColumn<QString>("problem");
    QTest::newRow("non-contiguous") << "noncontig.bin"
                                    << "tensor 't' is not contiguous";
    QTest::newRow("legacy format") << "legacy.bin"
                                   << "legacy";
    QTest::newRow("truncated") << "truncated_state_dict.bin"
                               << "zip";
    QTest::newRow("random bytes") << "random.bin"
                                  << "not a zip archive";
    QTest::newRow("absent") << "absent.bin"
                            << "cannot open";
    QTest::newRow("offset past storage") << "forged/offset_past_storage.bin"
                                         << "exceeds its storage of 4";
    QTest::newRow("negative offset") << "forged/negative_offset.bin"
                                     << "offset -1";
    QTest::newRow("storage size") << "forged/storage_size_mismatch.bin"
                                  << "has 16 bytes, the pickle says 5";
    QTest::newRow("missing storage") << "forged/missing_storage.bin"
                                     << "'forged/data/9' is missing";
    QTest::newRow("negative size") << "forged/negative_size.bin"
                                   << "bad size [-1]";
    QTest::newRow("huge size") << "forged/huge_size.bin"
                               << "bad size";
    QTest::newRow("stride length") << "forged/stride_length.bin"
                                   << "size and stride differ";
    QTest::newRow("strided") << "forged/strided.bin"
                             << "tensor 'w' is not contiguous";
    QTest::newRow("root list") << "forged/root_list.bin"
                               << "not a state dict";
    QTest::newRow("deflated") << "forged/deflated.bin"
                              << "compressed (method 8)";
  }
  void refusesBadFiles() {
    QFETCH(QString, file);
    QFETCH(QString, problem);
    const auto path = kReaders / file.toStdString();
    TensorStore store;
    EXPECT_INPUT_ERROR(read_torch_bin(path, store), path.string(), problem.toStdString());
    QVERIFY(store.tensors().empty());
  }

  void refusesHostilePickles_data() {
    QTest::addColumn<QString>("file");
    QTest::addColumn<QString>("problem");
    QTest::newRow("os.system") << "os_system.bin"
                               << "refused global 'posix.system'";
    // Protocol 2 writes Python 2 module names by default; Python 3 maps them back when loading.
    QTest::newRow("eval") << "eval.bin"
                          << "refused global '__builtin__.eval'";
    QTest::newRow("exec") << "exec.bin"
                          << "refused global '__builtin__.exec'";
    QTest::newRow("subprocess") << "subprocess.bin"
                                << "refused global 'commands.call'";
    QTest::newRow("eval py3") << "eval_py3.bin"
                              << "refused global 'builtins.eval'";
    QTest::newRow("exec py3") << "exec_py3.bin"
                              << "refused global 'builtins.exec'";
    QTest::newRow("subprocess py3") << "subprocess_py3.bin"
                                    << "refused global 'subprocess.call'";
    QTest::newRow("nested reduce") << "nested_reduce.bin"
                                   << "refused global 'posix.system'";
    QTest::newRow("STACK_GLOBAL") << "stack_global.bin"
                                  << "refused global 'posix.system'";
    QTest::newRow("plain object") << "plain_object.bin"
                                  << "refused global '__main__.Plain'";
    QTest::newRow("OrderedDict with args") << "ordered_dict_args.bin"
                                           << "OrderedDict called with arguments";
    QTest::newRow("storage as callable") << "storage_call.bin"
                                         << "REDUCE of 'torch.FloatStorage' refused";
    QTest::newRow("BUILD attributes") << "build_state.bin"
                                      << "BUILD state other than _metadata";
    QTest::newRow("BUILD tuple state") << "build_tuple.bin"
                                       << "BUILD with a non-dict state";
  }
  void refusesHostilePickles() {
    QFETCH(QString, file);
    QFETCH(QString, problem);
    std::filesystem::remove(kMarker);
    const auto path = kReaders / "hostile" / file.toStdString();
    TensorStore store;
    EXPECT_INPUT_ERROR(read_torch_bin(path, store), path.string(), problem.toStdString());
    QVERIFY2(!std::filesystem::exists(kMarker), "a hostile pickle ran code");
    QVERIFY(store.tensors().empty());
  }

  void markerMatchesGenerator() {
    QVERIFY(read_all(kReaders / "hostile" / "markers.json").find(kMarker) != std::string::npos);
  }

  void everyTruncationIsAnInputError() {
    // Each prefix of a real archive: zip parsing, the pickle and the storages all see short data.
    const std::string full = read_all(kReaders / "state_dict.bin");
    QTemporaryDir dir;
    const auto path = std::filesystem::path(dir.path().toStdString()) / "cut.bin";
    for (std::size_t n = 0; n < full.size(); n += (n < 64 ? 1 : 7)) {
      write_all(path, full.substr(0, n));
      TensorStore store;
      const QString msg = error_of([&] { read_torch_bin(path, store); });
      QVERIFY2(!msg.startsWith("NO ERROR") && !msg.startsWith("WRONG") &&
                   msg.contains(QString::fromStdString(path.string())),
               qPrintable(QString("length %1: %2").arg(n).arg(msg)));
    }
  }

  void randomByteFlipsNeverCrash() {
    // Light mutation fuzzing (run under ASan/UBSan in CI): any outcome but a crash or a non-
    // InputError exception is fine; a flip in tensor data legitimately still reads.
    const std::string full = read_all(kReaders / "state_dict.bin");
    QTemporaryDir dir;
    const auto path = std::filesystem::path(dir.path().toStdString()) / "flip.bin";
    std::mt19937 rng(42);
    int refused = 0;
    for (int iter = 0; iter < 1500; ++iter) {
      std::string mutated = full;
      const int flips = 1 + static_cast<int>(rng() % 4);
      for (int f = 0; f < flips; ++f)
        mutated[rng() % mutated.size()] = static_cast<char>(rng() & 0xff);
      write_all(path, mutated);
      TensorStore store;
      const QString msg = error_of([&] { read_torch_bin(path, store); });
      QVERIFY2(!msg.startsWith("WRONG"), qPrintable(msg));
      if (!msg.startsWith("NO ERROR")) {
        QVERIFY2(msg.contains(QString::fromStdString(path.string())), qPrintable(msg));
        ++refused;
      }
    }
    QVERIFY(refused > 0);
  }
};

QTEST_APPLESS_MAIN(TestTorchBin)
#include "tst_torch_bin.moc"
