// safetensors reader/writer and TensorStore: exact bytes against files written by the python
// safetensors package (tests/fixtures/gen_reader_fixtures.py), every lying-header case, index
// shard names that escape, and write -> read round trips (also read back by python when present).
#include <QProcess>
#include <QTemporaryDir>
#include <QtTest>
#include <cstring>
#include <fstream>

#include "core/io/safetensors.h"
#include "core/util/error.h"
#include "tests/io/io_test_util.h"

using namespace ms;
using namespace ms::test;

namespace {

void write_bytes(const std::filesystem::path& p, const std::string& bytes) {
  std::ofstream(p, std::ios::binary)
      .write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

// A safetensors file from a header text, a declared header length and `data_size` zero bytes.
std::string st_bytes(const std::string& header, uint64_t declared_len, std::size_t data_size) {
  std::string out(8, '\0');
  for (int i = 0; i < 8; ++i) out[i] = static_cast<char>((declared_len >> (8 * i)) & 0xff);
  return out + header + std::string(data_size, '\0');
}

}  // namespace

class TestSafetensors : public QObject {
  Q_OBJECT

 private Q_SLOTS:
  void readsValuesWrittenByPython() {
    TensorStore store;
    const auto file = kReaders / "mixed.safetensors";
    const auto meta = read_safetensors(file, store);
    QCOMPARE(meta.at("format"), std::string("pt"));
    QCOMPARE(meta.at("note"), std::string("mambascope fixture"));
    QCOMPARE(store.tensors().size(), std::size_t(5));

    const TensorView& f32 = store.at("f32");
    QCOMPARE(f32.dtype, DType::F32);
    QCOMPARE(f32.shape_str(), std::string("[2, 3]"));
    QCOMPARE(f32.numel(), int64_t(6));
    QCOMPARE(values_of<float>(f32), (std::vector<float>{-1.0f, -0.5f, 0.0f, 0.5f, 1.0f, 1.5f}));
    // Bit patterns worked out by hand: 1.0, -2.0, 0.5, 65504 (the largest finite half).
    const TensorView& f16 = store.at("f16");
    QCOMPARE(f16.dtype, DType::F16);
    QCOMPARE(values_of<uint16_t>(f16), (std::vector<uint16_t>{0x3C00, 0xC000, 0x3800, 0x7BFF}));
    // bf16 is the top half of the float32: 1.0, -3.5, 2^-10.
    const TensorView& bf16 = store.at("bf16");
    QCOMPARE(bf16.dtype, DType::BF16);
    QCOMPARE(values_of<uint16_t>(bf16), (std::vector<uint16_t>{0x3F80, 0xC060, 0x3A80}));
    QCOMPARE(values_of<int64_t>(store.at("i64")), (std::vector<int64_t>{0, -1, int64_t(1) << 40}));
    const TensorView& empty = store.at("empty");
    QCOMPARE(empty.shape_str(), std::string("[0, 3]"));
    QCOMPARE(empty.nbytes, std::size_t(0));
    QCOMPARE(store.source_of("f32"), file);
    QCOMPARE(store.total_bytes(), std::size_t(24 + 8 + 6 + 24));
  }

  void readsShardedIndex() {
    TensorStore store;
    const auto dir = kReaders / "sharded";
    read_safetensors_index(dir / "model.safetensors.index.json", store);
    QCOMPARE(store.tensors().size(), std::size_t(3));
    QCOMPARE(values_of<float>(store.at("backbone.embeddings.weight")),
             (std::vector<float>{0, 1, 2, 3, 4, 5, 6, 7}));
    QCOMPARE(values_of<float>(store.at("backbone.norm_f.weight")),
             (std::vector<float>{0.25f, 4.0f}));
    QCOMPARE(store.source_of("backbone.norm_f.weight"), dir / "model-00002-of-00002.safetensors");
    QCOMPARE(store.source_of("backbone.layers.0.mixer.D"),
             dir / "model-00001-of-00002.safetensors");
  }

  void refusesBadHeaders_data() {
    QTest::addColumn<QByteArray>("bytes");
    QTest::addColumn<QString>("problem");
    auto row = [](const char* name, const std::string& b, const char* problem) {
      QTest::newRow(name) << QByteArray(b.data(), static_cast<qsizetype>(b.size()))
                          << QString(problem);
    };
    const std::string ok_entry = R"("a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]})";
    auto st = [](const std::string& h, std::size_t data = 8) {
      return st_bytes(h, h.size(), data);
    };
    row("empty file", "", "too short");
    row("7 bytes", std::string(7, '\0'), "too short");
    row("length past end", st_bytes("{}", 1000, 0), "exceeds the file size");
    row("length 2^62", st_bytes("{}", uint64_t(1) << 62, 0), "exceeds the file size");
    row("length 2^64-1", st_bytes("{}", ~uint64_t(0), 0), "exceeds the file size");
    row("not json", st("{not json"), "not valid JSON");
    row("json array", st("[1,2]"), "not a JSON object");
    row("entry not object", st(R"({"a":3})"), "entry is not an object");
    row("no dtype", st(R"({"a":{"shape":[2],"data_offsets":[0,8]}})"), "dtype");
    row("dtype int", st(R"({"a":{"dtype":4,"shape":[2],"data_offsets":[0,8]}})"), "dtype");
    row("no shape", st(R"({"a":{"dtype":"F32","data_offsets":[0,8]}})"), "shape");
    row("shape string", st(R"({"a":{"dtype":"F32","shape":"2","data_offsets":[0,8]}})"), "shape");
    row("no offsets", st(R"({"a":{"dtype":"F32","shape":[2]}})"), "data_offsets");
    row("three offsets", st(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,4,8]}})"),
        "data_offsets");
    row("offset string", st(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":["0",8]}})"),
        "not an integer");
    row("unknown dtype", st(R"({"a":{"dtype":"F8","shape":[2],"data_offsets":[0,8]}})"),
        "unknown dtype 'F8'");
    row("negative dim", st(R"({"a":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}})"),
        "negative dimension");
    row("float dim", st(R"({"a":{"dtype":"F32","shape":[2.0],"data_offsets":[0,8]}})"),
        "not an integer");
    row("negative offset", st(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[-8,0]}})"),
        "negative data offset");
    row("numel overflow",
        st(R"({"a":{"dtype":"F32","shape":[4611686018427387904,4],"data_offsets":[0,0]}})"),
        "overflows");
    row("itemsize overflow",
        st(R"({"a":{"dtype":"F64","shape":[4611686018427387904],"data_offsets":[0,0]}})"),
        "overflows");
    row("size mismatch", st(R"({"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})"),
        "needs 12");
    row("end before begin", st(R"({"a":{"dtype":"F32","shape":[0],"data_offsets":[8,0]}})"),
        "end < begin");
    row("past end of data", st(R"({"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}})"),
        "past the end");
    row("huge offsets",
        st(R"({"a":{"dtype":"U8","shape":[8],"data_offsets":[18446744073709551600,18446744073709551608]}})"),
        "past the end");
    row("overlap", st("{" + ok_entry + R"(,"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})"),
        "overlap");
    row("duplicate name", st("{" + ok_entry + "," + ok_entry + "}"), "duplicate tensor name 'a'");
    row("metadata not object", st(R"({"__metadata__":[1]})"), "__metadata__");
    // Untrusted names are escaped so the message stays on one line (the macro checks for '\n').
    // (Plain literals here: moc's lexer mis-reads a raw string that follows a quote.)
    const std::string f8_entry = "\":{\"dtype\":\"F8\",\"shape\":[2],\"data_offsets\":[0,8]}}";
    row("newline in name", st("{\"x\\ny" + f8_entry), "tensor 'x\\ny'");
    row("long name", st("{\"" + std::string(5000, 'n') + f8_entry), "nnnn...': unknown dtype");
    row("metadata value int", st(R"({"__metadata__":{"k":1}})"), "__metadata__ value of 'k'");
  }
  void refusesBadHeaders() {
    QFETCH(QByteArray, bytes);
    QFETCH(QString, problem);
    QTemporaryDir dir;
    const auto file = std::filesystem::path(dir.path().toStdString()) / "bad.safetensors";
    write_bytes(file, bytes.toStdString());
    TensorStore store;
    EXPECT_INPUT_ERROR(read_safetensors(file, store), file.string(), problem.toStdString());
    QVERIFY(store.tensors().empty());  // nothing half-added
  }

  void acceptsTheControlHeader() {
    // The same shape as the bad rows, but honest: proves the rows fail for their stated reason.
    QTemporaryDir dir;
    const auto file = std::filesystem::path(dir.path().toStdString()) / "ok.safetensors";
    const std::string h =
        R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"z":{"dtype":"F32","shape":[0],"data_offsets":[8,8]}})";
    write_bytes(file, st_bytes(h, h.size(), 8));
    TensorStore store;
    read_safetensors(file, store);
    QCOMPARE(store.at("a").nbytes, std::size_t(8));
  }

  void everyTruncationIsAnInputError() {
    std::ifstream in(kReaders / "mixed.safetensors", std::ios::binary);
    const std::string full{std::istreambuf_iterator<char>(in), {}};
    QTemporaryDir dir;
    const auto file = std::filesystem::path(dir.path().toStdString()) / "cut.safetensors";
    for (std::size_t n = 0; n < full.size(); ++n) {
      write_bytes(file, full.substr(0, n));
      TensorStore store;
      const QString msg = error_of([&] { read_safetensors(file, store); });
      QVERIFY2(msg.startsWith(QString::fromStdString(file.string() + ": ")),
               qPrintable(QString("length %1: %2").arg(n).arg(msg)));
    }
  }

  void missingFileNamesIt() {
    TensorStore store;
    const auto file = kReaders / "does_not_exist.safetensors";
    EXPECT_INPUT_ERROR(read_safetensors(file, store), file.string(), "cannot open");
  }

  void refusesEscapingShardNames_data() {
    QTest::addColumn<QString>("shard");
    QTest::newRow("parent") << "../model-00001-of-00002.safetensors";
    QTest::newRow("absolute") << "/etc/passwd";
    QTest::newRow("inner parent") << "sub/../../x.safetensors";
    QTest::newRow("empty") << "";
  }
  void refusesEscapingShardNames() {
    QFETCH(QString, shard);
    QTemporaryDir dir;
    const auto index =
        std::filesystem::path(dir.path().toStdString()) / "model.safetensors.index.json";
    write_bytes(index, R"({"weight_map":{"a":")" + shard.toStdString() + R"("}})");
    TensorStore store;
    EXPECT_INPUT_ERROR(read_safetensors_index(index, store), index.string(),
                       "escapes the index's directory");
  }

  void refusesInconsistentIndex() {
    QTemporaryDir dir;
    const std::filesystem::path d = dir.path().toStdString();
    for (const char* s : {"model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"})
      std::filesystem::copy_file(kReaders / "sharded" / s, d / s);
    const auto index = d / "model.safetensors.index.json";
    TensorStore s1;
    // The weight_map puts norm_f in shard 1, but it lives in shard 2.
    write_bytes(index,
                R"({"weight_map":{"backbone.norm_f.weight":"model-00001-of-00002.safetensors",
                          "backbone.embeddings.weight":"model-00002-of-00002.safetensors"}})");
    EXPECT_INPUT_ERROR(read_safetensors_index(index, s1), index.string(), "is listed in");
    TensorStore s2;
    write_bytes(index, R"({"weight_map":{"missing.weight":"model-00001-of-00002.safetensors"}})");
    EXPECT_INPUT_ERROR(read_safetensors_index(index, s2), index.string(), "missing from");
    TensorStore s3;
    write_bytes(index, R"({"weight_map":{"a":"absent.safetensors"}})");
    EXPECT_INPUT_ERROR(read_safetensors_index(index, s3), (d / "absent.safetensors").string(),
                       "cannot open");
    TensorStore s4;
    write_bytes(index, R"({"metadata":{}})");
    EXPECT_INPUT_ERROR(read_safetensors_index(index, s4), index.string(), "weight_map");
    TensorStore s5;
    write_bytes(index, "{");
    EXPECT_INPUT_ERROR(read_safetensors_index(index, s5), index.string(), "not valid JSON");
  }

  void refusesDuplicateAcrossShards() {
    QTemporaryDir dir;
    const std::filesystem::path d = dir.path().toStdString();
    std::filesystem::copy_file(kReaders / "sharded" / "model-00002-of-00002.safetensors",
                               d / "a.safetensors");
    std::filesystem::copy_file(kReaders / "sharded" / "model-00002-of-00002.safetensors",
                               d / "b.safetensors");
    TensorStore store;
    read_safetensors(d / "a.safetensors", store);
    EXPECT_INPUT_ERROR(read_safetensors(d / "b.safetensors", store), (d / "b.safetensors").string(),
                       "duplicate tensor 'backbone.norm_f.weight'");
  }

  void writeReadRoundTrip() {
    QTemporaryDir dir;
    const std::filesystem::path d = dir.path().toStdString();
    const auto file = d / "out.safetensors";
    const std::vector<float> f32 = {1.5f, -2.0f, 3.25f, 0.0f, -0.0f, 1e-30f};
    const std::vector<uint16_t> bf16 = {0x3F80, 0xC060, 0x7F80};  // 1, -3.5, +inf
    const std::vector<double> f64 = {3.141592653589793};
    const std::vector<int64_t> i64 = {-5, int64_t(1) << 50};
    const std::vector<uint8_t> u8 = {1, 2, 3};  // odd size: the next tensor starts unaligned
    const std::vector<uint16_t> f16 = {0x3C00};
    std::vector<TensorToWrite> ts = {{"w.f32", DType::F32, {2, 3}, f32.data(), 24},
                                     {"w.bf16", DType::BF16, {3}, bf16.data(), 6},
                                     {"s.f64", DType::F64, {}, f64.data(), 8},
                                     {"s.i64", DType::I64, {2, 1}, i64.data(), 16},
                                     {"s.u8", DType::U8, {3}, u8.data(), 3},
                                     {"s.f16", DType::F16, {1}, f16.data(), 2},
                                     {"empty", DType::F32, {0, 4}, nullptr, 0}};
    write_safetensors(file, ts, {{"producer", "mambascope"}});
    QCOMPARE(std::distance(std::filesystem::directory_iterator(d), {}), 1);  // no temp left

    // Header length is padded to a multiple of 8, so data starts aligned.
    std::ifstream in(file, std::ios::binary);
    uint64_t hlen = 0;
    in.read(reinterpret_cast<char*>(&hlen), 8);
    QCOMPARE(hlen % 8, uint64_t(0));

    TensorStore store;
    const auto meta = read_safetensors(file, store);
    QCOMPARE(meta.at("producer"), std::string("mambascope"));
    QCOMPARE(store.tensors().size(), ts.size());
    for (const auto& t : ts) {
      const TensorView& v = store.at(t.name);
      QCOMPARE(v.dtype, t.dtype);
      QCOMPARE(v.shape, t.shape);
      QCOMPARE(v.nbytes, t.nbytes);
      QVERIFY(t.nbytes == 0 || std::memcmp(v.data, t.data, t.nbytes) == 0);
    }
    QCOMPARE(store.at("s.f64").shape_str(), std::string("[]"));
    QCOMPARE(store.at("s.f64").numel(), int64_t(1));
  }

  void writtenFileReadsInPython() {
    const QString py = QString::fromUtf8(MAMBASCOPE_PYTHON);
    if (py.isEmpty() || !QFileInfo::exists(py))
      QSKIP("MAMBASCOPE_PYTHON not set: python cross-check skipped");
    QTemporaryDir dir;
    const auto file = std::filesystem::path(dir.path().toStdString()) / "py.safetensors";
    const std::vector<float> f32 = {1.5f, -2.0f, 3.25f, 4.0f};
    const std::vector<uint16_t> bf16 = {0x3F80, 0xC060};
    write_safetensors(
        file, {{"a", DType::F32, {2, 2}, f32.data(), 16}, {"b", DType::BF16, {2}, bf16.data(), 4}},
        {{"format", "pt"}});
    QProcess p;
    p.start(
        py,
        {"-c",
         "import sys; from safetensors.torch import load_file; from safetensors import safe_open;"
         "t = load_file(sys.argv[1]); m = safe_open(sys.argv[1], 'pt').metadata();"
         "print(t['a'].flatten().tolist(), t['b'].float().tolist(), list(t['a'].shape), "
         "m['format'])",
         QString::fromStdString(file.string())});
    QVERIFY(p.waitForFinished(120000));
    const QString out = QString::fromUtf8(p.readAllStandardOutput()).trimmed();
    QVERIFY2(p.exitCode() == 0, qPrintable(p.readAllStandardError()));
    QCOMPARE(out, QStringLiteral("[1.5, -2.0, 3.25, 4.0] [1.0, -3.5] [2, 2] pt"));
  }

  void writeRefusesInconsistentTensors() {
    QTemporaryDir dir;
    const auto file = std::filesystem::path(dir.path().toStdString()) / "bad_out.safetensors";
    const float x[2] = {1, 2};
    EXPECT_INPUT_ERROR(write_safetensors(file, {{"a", DType::F32, {3}, x, 8}}), file.string(),
                       "bytes given");
    EXPECT_INPUT_ERROR(
        write_safetensors(file, {{"a", DType::F32, {2}, x, 8}, {"a", DType::F32, {2}, x, 8}}),
        file.string(), "duplicate");
    EXPECT_INPUT_ERROR(write_safetensors(file, {{"a", DType::F32, {-2}, x, 8}}), file.string(),
                       "bad shape");
    QVERIFY(!std::filesystem::exists(file));
    const auto nodir = std::filesystem::path(dir.path().toStdString()) / "no" / "x.safetensors";
    EXPECT_INPUT_ERROR(write_safetensors(nodir, {{"a", DType::F32, {2}, x, 8}}),
                       nodir.parent_path().string(), "output directory does not exist");
  }

  void storeRenameAndLookup() {
    TensorStore store;
    read_safetensors(kReaders / "mixed.safetensors", store);
    store.rename("f32", "renamed");
    QVERIFY(store.find("f32") == nullptr);
    QCOMPARE(store.at("renamed").name, std::string("renamed"));
    QCOMPARE(store.source_of("renamed"), kReaders / "mixed.safetensors");
    store.rename("absent", "whatever");  // ignored
    EXPECT_INPUT_ERROR(store.rename("renamed", "f16"), "f16", "already exists");
    QVERIFY(store.find("renamed") != nullptr);
    EXPECT_INPUT_ERROR(store.at("nope"), "nope", "not found");
  }

  void dtypeNames() {
    for (DType d : {DType::F64, DType::F32, DType::F16, DType::BF16, DType::I64, DType::I32,
                    DType::I16, DType::I8, DType::U8, DType::Bool}) {
      DType back{};
      QVERIFY(dtype_from_name(dtype_name(d), back));
      QCOMPARE(back, d);
      QVERIFY(dtype_size(d) >= 1);
    }
    DType x{};
    QVERIFY(!dtype_from_name("f32", x));  // case matters in the format
    QCOMPARE(dtype_size(DType::BF16), std::size_t(2));
    QCOMPARE(dtype_name(DType::Bool), std::string_view("BOOL"));
  }
};

QTEST_APPLESS_MAIN(TestSafetensors)
#include "tst_safetensors.moc"
