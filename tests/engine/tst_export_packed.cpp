// The packed export's codec and reader (core/export/packed.h, issue 7): nibble layout worked out
// by hand; pack -> unpack identity for every bit width 2..8, both signs, odd widths; act-order
// (g_idx) dequantization against plain loops; and the whole write -> read_packed_dequantized ->
// forward path on the Mamba-1 and Mamba-2 fixtures giving the fake-quant weights bit for bit and
// identical logits.
#include <QTemporaryDir>
#include <QtTest>

#include <fstream>

#include <ATen/ATen.h>
#include <nlohmann/json.hpp>

#include "core/engine/mamba_model.h"
#include "core/export/packed.h"
#include "core/io/atomic_file.h"
#include "core/io/safetensors.h"
#include "core/quant/rtn.h"
#include "core/quant/weight_quant.h"
#include "core/util/error.h"

using namespace ms;
namespace fs = std::filesystem;

namespace {

const fs::path kModels = fs::path(MAMBASCOPE_FIXTURES) / "models";

bool bit_equal(const at::Tensor& a, const at::Tensor& b) {
  return a.sizes() == b.sizes() && a.scalar_type() == b.scalar_type() &&
         std::memcmp(a.contiguous().data_ptr(), b.contiguous().data_ptr(), a.nbytes()) == 0;
}

// Writes `tensors` (canonical keys) as an HF checkpoint beside `config` so the engine can load it.
void write_hf(const fs::path& dir, const Checkpoint& like,
              const std::vector<std::pair<std::string, at::Tensor>>& tensors) {
  fs::create_directories(dir);
  std::vector<TensorToWrite> files;
  std::vector<at::Tensor> keep;
  for (const auto& [k, t] : tensors) {
    keep.push_back(t.to(at::kFloat).contiguous());
    files.push_back({file_key(k, Layout::HF), DType::F32,
                     std::vector<int64_t>(t.sizes().begin(), t.sizes().end()), keep.back().data_ptr(),
                     keep.back().nbytes()});
  }
  write_safetensors(dir / "model.safetensors", files);
  ModelConfig c = like.config;
  c.layout = Layout::HF;
  write_file_atomic(dir / "config.json", c.to_hf_json());
}

}  // namespace

class TestExportPacked : public QObject {
  Q_OBJECT

 private Q_SLOTS:
  void nibblesByHand() {
    // Row [-8, 7, -1, 3, 5] at 4 bits, symmetric: nibbles 8, 7, F, 3, 5 (two's complement), pairs
    // (low, high) = (8,7) (F,3) (5,pad 0) -> 0x78, 0x3F, 0x05.
    const at::Tensor codes = at::tensor({-8, 7, -1, 3, 5}, at::kChar).reshape({1, 5});
    const at::Tensor q = pack_codes(codes, 4, true);
    QCOMPARE(q.scalar_type(), at::kByte);
    QCOMPARE(q.sizes().vec(), (std::vector<int64_t>{1, 3}));
    QCOMPARE(q[0][0].item<int>(), 0x78);
    QCOMPARE(q[0][1].item<int>(), 0x3F);
    QCOMPARE(q[0][2].item<int>(), 0x05);
    QVERIFY(bit_equal(unpack_codes(q, 4, true, 5), codes));
    // 5..8 bits: one code a byte, unchanged.
    QVERIFY(bit_equal(pack_codes(codes, 6, true), codes));
  }

  void packUnpackEveryWidth() {
    at::manual_seed(3);
    for (int bits = 2; bits <= 8; ++bits)
      for (bool sym : {true, false})
        for (int64_t in : {1, 2, 7, 33, 48}) {
          const int64_t lo = sym ? -(1 << (bits - 1)) : 0, hi = sym ? (1 << (bits - 1)) - 1 : (1 << bits) - 1;
          const at::Tensor codes = at::randint(lo, hi + 1, {5, in}, at::kLong).to(sym ? at::kChar : at::kByte);
          const at::Tensor q = pack_codes(codes, bits, sym);
          QCOMPARE(q.size(1), bits <= 4 ? (in + 1) / 2 : in);
          QVERIFY2(bit_equal(unpack_codes(q, bits, sym, in), codes),
                   qPrintable(QString("bits %1 sym %2 in %3").arg(bits).arg(sym).arg(in)));
        }
  }

  void actOrderGroups() {
    // 2 rows, 4 columns, 2 groups assigned out of order by g_idx = [1, 0, 1, 0].
    PackedLinear p;
    p.bits = 4;
    p.symmetric = false;
    p.codes = at::tensor({1, 2, 3, 4, 15, 0, 7, 8}, at::kByte).reshape({2, 4});
    p.scales = at::tensor({0.5f, 2.0f, 0.25f, 1.0f}).reshape({2, 2});
    p.zeros = at::tensor({1, 3, 8, 0}, at::kInt).reshape({2, 2});
    p.g_idx = at::tensor({1, 0, 1, 0}, at::kInt);
    p.validate("act");
    const at::Tensor v = packed_dequantize(p);
    const float want[2][4] = {{(1 - 3) * 2.0f, (2 - 1) * 0.5f, (3 - 3) * 2.0f, (4 - 1) * 0.5f},
                              {(15 - 0) * 1.0f, (0 - 8) * 0.25f, (7 - 0) * 1.0f, (8 - 8) * 0.25f}};
    for (int r = 0; r < 2; ++r)
      for (int c = 0; c < 4; ++c) QCOMPARE(v[r][c].item<float>(), want[r][c]);
    p.g_idx = at::tensor({1, 0, 2, 0}, at::kInt);
    QVERIFY_THROWS_EXCEPTION(InputError, p.validate("act"));
  }

  void readerGivesTheFakeQuantModel_data() {
    QTest::addColumn<QString>("model");
    QTest::addColumn<int>("bits");
    QTest::addColumn<bool>("sym");
    QTest::addColumn<QString>("granularity");
    QTest::newRow("mamba1 W4 sym") << "mamba1-hf" << 4 << true << "channel";
    QTest::newRow("mamba1 W3 asym g4") << "mamba1-hf" << 3 << false << "group:4";  // dt rank 4
    QTest::newRow("mamba2 W8 asym tensor") << "mamba2-hf" << 8 << false << "tensor";
    QTest::newRow("falcon W4 asym (odd widths)") << "falcon-mamba-hf" << 4 << false << "channel";
  }
  void readerGivesTheFakeQuantModel() {
    QFETCH(QString, model);
    QFETCH(int, bits);
    QFETCH(bool, sym);
    QFETCH(QString, granularity);
    const Checkpoint ck = open_checkpoint(kModels / model.toStdString());
    RtnSpec spec;
    spec.bits = bits;
    spec.symmetric = sym;
    spec = RtnSpec::with_granularity(spec, granularity.toStdString());
    QTemporaryDir tmp;
    const fs::path dir = fs::path(tmp.path().toStdString()) / "packed";
    fs::create_directories(dir);
    const std::vector<Module> modules = default_weight_modules();
    const std::vector<WeightError> errors = write_packed_checkpoint(ck, spec, modules, std::nullopt, dir);
    QVERIFY(!errors.empty());
    ModelConfig c = ck.config;
    c.layout = Layout::HF;
    write_file_atomic(dir / "config.json", c.to_hf_json());
    nlohmann::json mods = nlohmann::json::array();
    for (Module m : modules) mods.push_back(std::string(module_name(m)));
    write_file_atomic(dir / "mambascope.json",
                      nlohmann::json{{"format", "packed"},
                                     {"packing", {{"bits", bits}, {"symmetric", sym}, {"modules", mods}}}}
                          .dump());

    const auto got = read_packed_dequantized(dir);
    const QuantizedCheckpoint want = rtn_quantize_checkpoint(ck, spec, modules, at::kFloat);
    QCOMPARE(got.size(), want.tensors.size());
    std::map<std::string, at::Tensor> by_key(got.begin(), got.end());
    for (const auto& [key, w] : want.tensors) {
      QVERIFY2(by_key.count(key), key.c_str());
      QVERIFY2(bit_equal(by_key[key].to(at::kFloat), w), key.c_str());
    }
    // Logits of the model read back == logits of the fake-quant model.
    write_hf(fs::path(tmp.path().toStdString()) / "a", ck, got);
    write_hf(fs::path(tmp.path().toStdString()) / "b", ck, want.tensors);
    const at::Tensor ids = at::arange(0, 9, at::kLong).unsqueeze(0) * 37 % 400;
    const at::Tensor la = MambaModel::load(open_checkpoint(fs::path(tmp.path().toStdString()) / "a"), {})->forward(ids);
    const at::Tensor lb = MambaModel::load(open_checkpoint(fs::path(tmp.path().toStdString()) / "b"), {})->forward(ids);
    QVERIFY(bit_equal(la, lb));
    // And they are not the float model's: the codes did something.
    const at::Tensor lf = MambaModel::load(ck, {})->forward(ids);
    QVERIFY(!at::equal(la, lf));
  }

  void readerRefusesForeignDirectories() {
    QTemporaryDir tmp;
    const fs::path dir = tmp.path().toStdString();
    QVERIFY_THROWS_EXCEPTION(InputError, read_packed_dequantized(dir));
    write_file_atomic(dir / "mambascope.json", R"({"format": "hf"})");
    try {
      read_packed_dequantized(dir);
      QFAIL("an hf export was read as packed");
    } catch (const InputError& e) {
      QVERIFY2(std::string(e.what()).find("not a packed export") != std::string::npos, e.what());
    }
  }
};

QTEST_GUILESS_MAIN(TestExportPacked)
#include "tst_export_packed.moc"
