// GGUF reader/writer and the ggml block codecs: a file written by the `gguf` Python package
// (tests/fixtures/gen_export_gguf.py) read value for value; our Q8_0/Q4_0 quantizer byte for byte
// against gguf.quants (which the fixture script checks against a plain numpy port of ggml-quants.c);
// fp16 conversion over all 65,536 halves; write -> read round trips; and every lying header field
// refused in one line naming the file, including every truncation of a real file.
#include <QTemporaryDir>
#include <QtTest>

#include <cmath>
#include <cstring>

#include "core/io/gguf.h"
#include "core/io/npy.h"
#include "core/util/error.h"
#include "tests/io/io_test_util.h"

using namespace ms;
using namespace ms::test;

namespace {

const std::filesystem::path kExport = std::filesystem::path(MAMBASCOPE_FIXTURES) / "export";

std::vector<float> row_floats(const GgufTensorInfo& t) {
  std::vector<float> out(std::size_t(t.numel()));
  const int64_t n = t.ne[0];
  const std::size_t row = ggml_row_size(GgmlType(t.type), n);
  for (int64_t r = 0; r < t.numel() / n; ++r)
    ggml_dequantize_row(GgmlType(t.type), t.data + r * row, out.data() + r * n, n);
  return out;
}

void put(std::string& s, uint64_t v, int n) {
  for (int k = 0; k < n; ++k) s.push_back(char((v >> (8 * k)) & 0xff));
}
void put_str(std::string& s, const std::string& v) {
  put(s, v.size(), 8);
  s += v;
}
// A header with one key-value whose bytes the caller gives, and no tensors.
std::string one_kv(const std::string& key, uint32_t type, const std::string& value_bytes) {
  std::string s = "GGUF";
  put(s, 3, 4);
  put(s, 0, 8);
  put(s, 1, 8);
  put_str(s, key);
  put(s, type, 4);
  return s + value_bytes;
}
// A header with no key-values and one tensor info (2 dims) followed by `data` bytes of data.
std::string one_tensor(uint32_t n_dims, uint64_t ne0, uint64_t ne1, uint32_t type, uint64_t offset,
                       std::size_t data) {
  std::string s = "GGUF";
  put(s, 3, 4);
  put(s, 1, 8);
  put(s, 0, 8);
  put_str(s, "w");
  put(s, n_dims, 4);
  put(s, ne0, 8);
  if (n_dims > 1) put(s, ne1, 8);
  for (uint32_t d = 2; d < n_dims && d < 8; ++d) put(s, 1, 8);
  put(s, type, 4);
  put(s, offset, 8);
  s.resize((s.size() + 31) / 32 * 32, '\0');
  return s + std::string(data, '\0');
}

}  // namespace

class TestGguf : public QObject {
  Q_OBJECT

 private Q_SLOTS:
  void readsEveryValueTypeWrittenByPython() {
    const GgufFile f = read_gguf(kExport / "ggml_blocks.gguf");
    QCOMPARE(f.version, 3u);
    QCOMPARE(f.alignment, uint64_t(64));
    QCOMPARE(f.find("general.architecture")->s, std::string("test"));
    QCOMPARE(f.find("t.u8")->u, uint64_t(200));
    QCOMPARE(f.find("t.i8")->i, int64_t(-100));
    QCOMPARE(f.find("t.u16")->u, uint64_t(60000));
    QCOMPARE(f.find("t.i16")->i, int64_t(-30000));
    QCOMPARE(f.find("t.u32")->u, uint64_t(4000000000u));
    QCOMPARE(f.find("t.i32")->i, int64_t(-2000000000));
    QCOMPARE(float(f.find("t.f32")->f), 0.1f);
    QCOMPARE(f.find("t.u64")->u, (uint64_t(1) << 63) + 5);
    QCOMPARE(f.find("t.i64")->i, -(int64_t(1) << 62));
    QCOMPARE(f.find("t.f64")->f, 0.1);
    QCOMPARE(f.find("t.bool")->type, GgufType::Bool);
    QCOMPARE(f.find("t.bool")->u, uint64_t(1));
    QCOMPARE(f.find("t.str")->s, std::string("Ġhello, wörld"));
    const GgufValue* strs = f.find("t.strs");
    QCOMPARE(strs->elem_type, GgufType::String);
    QCOMPARE(strs->arr.size(), std::size_t(4));
    QCOMPARE(strs->arr[2].s, std::string("ĠĠ"));
    QCOMPARE(strs->arr[1].s, std::string());
    QCOMPARE(f.find("t.i32s")->arr[1].i, int64_t(-2));
    QCOMPARE(float(f.find("t.f32s")->arr[1].f), -1.25f);
    QVERIFY(f.find("absent") == nullptr);

    QCOMPARE(f.tensors.size(), std::size_t(5));
    const GgufTensorInfo* v = f.find_tensor("v");
    QCOMPARE(v->ne, (std::vector<int64_t>{5}));
    QCOMPARE(values_of<float>(TensorView{"v", DType::F32, {5}, v->data, v->nbytes}),
             (std::vector<float>{-2, -1, 0, 1, 2}));
    const GgufTensorInfo* src = f.find_tensor("src");
    QCOMPARE(src->ne, (std::vector<int64_t>{96, 7}));  // ggml order: row length first
    QCOMPARE(src->type, 0u);
    QCOMPARE(f.find_tensor("q8")->type, 8u);
    QCOMPARE(f.find_tensor("q4")->type, 2u);
    QCOMPARE(f.find_tensor("q8")->nbytes, std::size_t(7 * 3 * 34));
    QCOMPARE(f.find_tensor("q4")->nbytes, std::size_t(7 * 3 * 18));
  }

  void quantizesByteForByteAsGgml() {
    const GgufFile f = read_gguf(kExport / "ggml_blocks.gguf");
    const GgufTensorInfo* src = f.find_tensor("src");
    std::vector<float> x(std::size_t(src->numel()));
    std::memcpy(x.data(), src->data, src->nbytes);
    for (auto [name, type] : {std::pair{"q8", GgmlType::Q8_0}, std::pair{"q4", GgmlType::Q4_0},
                              std::pair{"h", GgmlType::F16}}) {
      const GgufTensorInfo* ref = f.find_tensor(name);
      std::vector<std::byte> ours(ref->nbytes);
      const std::size_t row = ggml_row_size(type, 96);
      for (int r = 0; r < 7; ++r) ggml_quantize_row(type, x.data() + r * 96, ours.data() + r * row, 96);
      int first_diff = -1;
      for (std::size_t k = 0; k < ours.size() && first_diff < 0; ++k)
        if (ours[k] != ref->data[k]) first_diff = int(k);
      QVERIFY2(first_diff < 0, qPrintable(QString("%1: first differing byte %2").arg(name).arg(first_diff)));
    }
  }

  void dequantizesAsTheNumpyReference() {
    const GgufFile f = read_gguf(kExport / "ggml_blocks.gguf");
    for (auto [name, npy] : {std::pair{"q8", "ggml_blocks_q8.npy"}, std::pair{"q4", "ggml_blocks_q4.npy"}}) {
      const NpyArray want = read_npy_f32(kExport / npy);
      const std::vector<float> got = row_floats(*f.find_tensor(name));
      QCOMPARE(got.size(), want.data.size());
      QVERIFY2(std::memcmp(got.data(), want.data.data(), got.size() * 4) == 0, name);
    }
    // Hand-checked corners: an all-zero block stays zero; Q8_0 of the linspace row keeps its ends.
    const std::vector<float> q8 = row_floats(*f.find_tensor("q8"));
    for (int j = 0; j < 32; ++j) QCOMPARE(q8[j], 0.0f);
    const std::vector<float> q4 = row_floats(*f.find_tensor("q4"));
    // Row 2 block 0: largest magnitude -1.5 (negative) -> d = 0.1875, its code 0 -> -8 * d = -1.5.
    QCOMPARE(q4[2 * 96 + 5], -1.5f);
  }

  void handBlocks() {
    // Q8_0: amax 127 -> d = 1; 2.5 rounds away from zero to 3, -2.5 to -3 (roundf, not even).
    std::vector<float> x(32, 0.0f);
    x[0] = 127;
    x[1] = 2.5f;
    x[2] = -2.5f;
    std::vector<std::byte> b(34);
    ggml_quantize_row(GgmlType::Q8_0, x.data(), b.data(), 32);
    QCOMPARE(int(b[0]) | (int(b[1]) << 8), 0x3C00);  // fp16 1.0
    QCOMPARE(int8_t(b[2]), int8_t(127));
    QCOMPARE(int8_t(b[3]), int8_t(3));
    QCOMPARE(int8_t(b[4]), int8_t(-3));
    // Q4_0: max-magnitude value 8 -> d = -1; x = 8 -> code 0, x = -7 -> 15; element 16 sits in the
    // high nibble of byte 0.
    std::fill(x.begin(), x.end(), 0.0f);
    x[0] = 8;
    x[16] = -7;
    x[1] = 3;
    std::vector<std::byte> c(18);
    ggml_quantize_row(GgmlType::Q4_0, x.data(), c.data(), 32);
    QCOMPARE(int(c[0]) | (int(c[1]) << 8), 0xBC00);  // fp16 -1.0
    QCOMPARE(int(c[2]), 0x0 | (15 << 4));
    QCOMPARE(int(c[3]) & 0xf, 5);  // 3 / -1 + 8.5 = 5.5 -> 5
    std::vector<float> y(32);
    ggml_dequantize_row(GgmlType::Q4_0, c.data(), y.data(), 32);
    QCOMPARE(y[0], 8.0f);
    QCOMPARE(y[16], -7.0f);
    QCOMPARE(y[1], 3.0f);
    QCOMPARE(ggml_row_size(GgmlType::Q4_0, 48), std::size_t(0));  // 130m's dt rank: not blocks
    QCOMPARE(ggml_row_size(GgmlType::Q8_0, 64), std::size_t(68));
  }

  void fp16EveryHalf() {
    for (uint32_t h = 0; h < 65536; ++h) {
      const float f = fp16_to_fp32(uint16_t(h));
      if (std::isnan(f)) continue;
      if (fp32_to_fp16(f) != h) QFAIL(qPrintable(QString("half 0x%1 does not round trip").arg(h, 4, 16)));
    }
    QCOMPARE(fp32_to_fp16(65504.0f), uint16_t(0x7BFF));
    QCOMPARE(fp32_to_fp16(65519.99f), uint16_t(0x7BFF));
    QCOMPARE(fp32_to_fp16(65520.0f), uint16_t(0x7C00));  // the tie rounds to even: infinity
    QCOMPARE(fp32_to_fp16(0.1f), uint16_t(0x2E66));
    QCOMPARE(fp32_to_fp16(-0.0f), uint16_t(0x8000));
    QCOMPARE(fp32_to_fp16(std::ldexp(1.0f, -25)), uint16_t(0));           // tie to even: 0
    QCOMPARE(fp32_to_fp16(std::ldexp(1.5f, -25)), uint16_t(1));           // above the tie
    QCOMPARE(fp32_to_fp16(std::ldexp(3.0f, -25)), uint16_t(2));           // 1.5 steps: to even 2
    QCOMPARE(fp32_to_fp16(1.0f + std::ldexp(1.0f, -11)), uint16_t(0x3C00));  // tie to even
    QVERIFY(std::isnan(fp16_to_fp32(fp32_to_fp16(std::nanf("")))));
  }

  void writeThenReadRoundTrip() {
    QTemporaryDir tmp;
    const std::filesystem::path p = std::filesystem::path(tmp.path().toStdString()) / "rt.gguf";
    std::vector<float> w(64 * 3), v(5);
    for (std::size_t k = 0; k < w.size(); ++k) w[k] = std::sin(float(k)) * 3;
    for (std::size_t k = 0; k < v.size(); ++k) v[k] = float(k) - 0.5f;
    std::vector<std::pair<std::string, GgufValue>> kv{
        {"general.architecture", GgufValue::str("mamba")},
        {"x.u32", GgufValue::u32(7)},
        {"x.i32", GgufValue::i32(-7)},
        {"x.f32", GgufValue::f32(1e-5f)},
        {"x.bool", GgufValue::boolean(false)},
        {"x.tokens", GgufValue::strings({"a", "Ġb", ""})},
        {"x.types", GgufValue::i32s({1, 3, 6})},
        {"x.scores", GgufValue::f32s({-1.5f})}};
    std::vector<GgufTensorSpec> specs{{"q", GgmlType::Q4_0, {64, 3}}, {"v", GgmlType::F32, {5}},
                                      {"h", GgmlType::F16, {64, 3}}};
    write_gguf(p, kv, specs, [&](std::size_t k) {
      const GgufTensorSpec& s = specs[k];
      const float* src = s.name == "v" ? v.data() : w.data();
      const int64_t n = s.ne[0], rows = s.ne.size() > 1 ? s.ne[1] : 1;
      std::vector<std::byte> out(ggml_row_size(s.type, n) * std::size_t(rows));
      for (int64_t r = 0; r < rows; ++r)
        ggml_quantize_row(s.type, src + r * n, out.data() + r * ggml_row_size(s.type, n), n);
      return out;
    });
    QCOMPARE(uint64_t(std::filesystem::file_size(p)), gguf_file_size(kv, specs));
    const GgufFile f = read_gguf(p);
    QCOMPARE(f.kv.size(), kv.size());
    for (std::size_t k = 0; k < kv.size(); ++k) QCOMPARE(f.kv[k].first, kv[k].first);
    QCOMPARE(f.find("x.i32")->i, int64_t(-7));
    QCOMPARE(float(f.find("x.f32")->f), 1e-5f);
    QCOMPARE(f.find("x.tokens")->arr[1].s, std::string("Ġb"));
    QCOMPARE(f.find("x.types")->arr[2].i, int64_t(6));
    QCOMPARE(row_floats(*f.find_tensor("v")), v);
    const std::vector<float> h = row_floats(*f.find_tensor("h"));
    for (std::size_t k = 0; k < w.size(); ++k) QCOMPARE(h[k], fp16_to_fp32(fp32_to_fp16(w[k])));
    const std::vector<float> q = row_floats(*f.find_tensor("q"));
    double err = 0;
    for (std::size_t k = 0; k < w.size(); ++k) err = std::max(err, double(std::fabs(q[k] - w[k])));
    QVERIFY2(err <= 3.0 / 8 + 1e-3, qPrintable(QString::number(err)));  // half a step of d <= 3/8
    QVERIFY(err > 0);
  }

  void writerRefusesAWrongSizeAndLeavesNothing() {
    QTemporaryDir tmp;
    const std::filesystem::path p = std::filesystem::path(tmp.path().toStdString()) / "bad.gguf";
    const std::vector<GgufTensorSpec> specs{{"v", GgmlType::F32, {5}}};
    EXPECT_INPUT_ERROR(write_gguf(p, {}, specs, [](std::size_t) { return std::vector<std::byte>(16); }),
                       p.string(), "expected 20");
    QVERIFY(!std::filesystem::exists(p));
    QVERIFY(std::filesystem::is_empty(tmp.path().toStdString()));
    QVERIFY_THROWS_EXCEPTION(UsageError, gguf_file_size({}, {{"q", GgmlType::Q8_0, {48, 2}}}));
  }

  void refusesLyingHeaders() {
    QTemporaryDir tmp;
    const auto check = [&](const std::string& bytes, const char* needle) {
      const std::filesystem::path p = std::filesystem::path(tmp.path().toStdString()) / "lie.gguf";
      write_all(p, bytes);
      EXPECT_INPUT_ERROR(read_gguf(p), p.string(), needle);
    };
    check("GGML", "no GGUF magic");
    check("GG", "the magic");
    std::string v4 = "GGUF";
    put(v4, 4, 4);
    check(v4 + std::string(16, '\0'), "version 4");
    std::string many = "GGUF";
    put(many, 3, 4);
    put(many, 0, 8);
    put(many, uint64_t(1) << 60, 8);
    check(many, "key-values cannot fit");
    std::string huge_key = "GGUF";
    put(huge_key, 3, 4);
    put(huge_key, 0, 8);
    put(huge_key, 1, 8);
    put(huge_key, uint64_t(1) << 50, 8);
    check(huge_key + std::string(16, 'k'), "a key needs");
    std::string str_len;
    put(str_len, uint64_t(-1), 8);
    check(one_kv("k", 8, str_len), "a string value needs");
    std::string arr;
    put(arr, 5, 4);
    put(arr, uint64_t(1) << 40, 8);
    check(one_kv("k", 9, arr), "cannot fit");
    std::string nested;
    put(nested, 9, 4);
    put(nested, 1, 8);
    put(nested, 9, 4);
    put(nested, 1, 8);
    put(nested, 9, 4);
    put(nested, 1, 8);
    check(one_kv("k", 9, nested + std::string(32, '\0')), "nested too deep");
    check(one_kv("k", 13, "xxxx"), "unknown value type 13");
    check(one_kv("k", 7, "\x02"), "a bool holds 2");
    std::string align;
    put(align, 48, 4);
    check(one_kv("general.alignment", 4, align), "power of two");
    std::string dup = "GGUF";
    put(dup, 3, 4);
    put(dup, 0, 8);
    put(dup, 2, 8);
    for (int k = 0; k < 2; ++k) {
      put_str(dup, "same");
      put(dup, 4, 4);
      put(dup, 1, 4);
    }
    check(dup, "duplicate key 'same'");
    check(one_tensor(5, 32, 1, 0, 0, 4096), "5 dimensions");
    check(one_tensor(2, 0, 1, 0, 0, 4096), "impossible dimension 0");
    check(one_tensor(2, uint64_t(1) << 41, 1, 0, 0, 4096), "impossible dimension");
    check(one_tensor(2, 48, 2, 8, 0, 4096), "not a whole number of 32-element blocks");
    check(one_tensor(2, 32, 2, 0, 8, 4096), "not aligned");
    check(one_tensor(2, 32, 2, 0, 0, 255), "lies past the end");
    check(one_tensor(2, 32, 2, 0, 1u << 20, 256), "lies past the end");
    // An unknown ggml type is read without decoding (its size is not ours to know).
    const std::filesystem::path ok = std::filesystem::path(tmp.path().toStdString()) / "q5.gguf";
    write_all(ok, one_tensor(2, 32, 2, 6, 0, 64));
    QCOMPARE(read_gguf(ok).tensors.at(0).type, 6u);
  }

  void everyTruncationIsRefusedInOneLine() {
    const std::string full = read_all(kExport / "ggml_blocks.gguf");
    const auto* base = reinterpret_cast<const std::byte*>(full.data());
    // Bytes up to the end of the last tensor's data (the padding after it may go).
    std::size_t needed = 0;
    for (const GgufTensorInfo& t : parse_gguf(base, full.size(), "whole.gguf").tensors)
      needed = std::max(needed, std::size_t(t.data - base) + t.nbytes);
    // Every prefix through the header, then every 97th byte through the data.
    int refused = 0;
    for (std::size_t n = 0; n < needed; n += (n < 1200 ? 1 : 97)) {
      try {
        parse_gguf(base, n, "cut.gguf");
      } catch (const InputError& e) {
        const std::string m = e.what();
        QVERIFY2(m.rfind("cut.gguf: ", 0) == 0 && m.find('\n') == std::string::npos, m.c_str());
        ++refused;
        continue;
      }
      QFAIL(qPrintable(QString("a file cut at %1 bytes was accepted").arg(n)));
    }
    QVERIFY(refused > 1200);
  }
};

QTEST_GUILESS_MAIN(TestGguf)
#include "tst_gguf.moc"
