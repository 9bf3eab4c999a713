#include "core/io/torch_bin_writer.h"

#include <array>
#include <cstring>
#include <map>
#include <string>

#include "core/io/atomic_file.h"
#include "core/util/error.h"

namespace ms {
namespace {

uint32_t crc32_update(uint32_t crc, const unsigned char* p, size_t n) {
  static const std::array<uint32_t, 256> table = [] {
    std::array<uint32_t, 256> t{};
    for (uint32_t i = 0; i < 256; ++i) {
      uint32_t c = i;
      for (int k = 0; k < 8; ++k) c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
      t[i] = c;
    }
    return t;
  }();
  crc = ~crc;
  for (size_t i = 0; i < n; ++i) crc = table[(crc ^ p[i]) & 0xff] ^ (crc >> 8);
  return ~crc;
}

const char* storage_name(DType d) {
  switch (d) {
    case DType::F64: return "DoubleStorage";
    case DType::F32: return "FloatStorage";
    case DType::F16: return "HalfStorage";
    case DType::BF16: return "BFloat16Storage";
    case DType::I64: return "LongStorage";
    case DType::I32: return "IntStorage";
    case DType::I16: return "ShortStorage";
    case DType::I8: return "CharStorage";
    case DType::U8: return "ByteStorage";
    case DType::Bool: return "BoolStorage";
  }
  return "FloatStorage";
}

// A protocol-2 pickle of {name: tensor} using only what torch's weights_only loader accepts.
class PickleWriter {
 public:
  std::string bytes;
  void op(char c) { bytes += c; }
  void u32(uint32_t v) { for (int i = 0; i < 4; ++i) bytes += char((v >> (8 * i)) & 0xff); }
  void str(const std::string& s) { op('X'); u32(static_cast<uint32_t>(s.size())); bytes += s; }
  void global(const char* module, const char* name) {
    op('c');
    bytes += module; bytes += '\n'; bytes += name; bytes += '\n';
  }
  void integer(int64_t v) {
    if (v >= INT32_MIN && v <= INT32_MAX) { op('J'); u32(static_cast<uint32_t>(v)); return; }
    op('\x8a');  // LONG1: little-endian two's complement
    bytes += char(8);
    for (int i = 0; i < 8; ++i) bytes += char((static_cast<uint64_t>(v) >> (8 * i)) & 0xff);
  }
};

struct Entry {
  std::string name;
  const void* data;
  uint64_t size;
  uint32_t crc = 0;
  uint64_t offset = 0;
};

class ZipWriter {
 public:
  explicit ZipWriter(AtomicFile& out) : out_(out) {}
  void add(Entry e) {
    e.crc = crc32_update(0, static_cast<const unsigned char*>(e.data), e.size);
    e.offset = pos_;
    const bool z64 = e.size >= 0xFFFFFFFFu;
    std::string h;
    le(h, 0x04034b50u, 4); le(h, z64 ? 45 : 20, 2); le(h, 0, 2); le(h, 0, 2);  // stored
    le(h, 0, 2); le(h, 0x21, 2);                                             // 1980-01-01
    le(h, e.crc, 4);
    le(h, z64 ? 0xFFFFFFFFu : e.size, 4); le(h, z64 ? 0xFFFFFFFFu : e.size, 4);
    le(h, e.name.size(), 2); le(h, z64 ? 20 : 0, 2);
    h += e.name;
    if (z64) { le(h, 1, 2); le(h, 16, 2); le(h, e.size, 8); le(h, e.size, 8); }
    put(h);
    out_.write(e.data, e.size);
    pos_ += e.size;
    entries_.push_back(std::move(e));
  }
  void finish() {
    const uint64_t cd_start = pos_;
    for (const Entry& e : entries_) {
      const bool big_size = e.size >= 0xFFFFFFFFu, big_off = e.offset >= 0xFFFFFFFFu;
      std::string extra;
      if (big_size) { le(extra, e.size, 8); le(extra, e.size, 8); }
      if (big_off) le(extra, e.offset, 8);
      std::string h;
      le(h, 0x02014b50u, 4); le(h, 45, 2); le(h, (big_size || big_off) ? 45 : 20, 2);
      le(h, 0, 2); le(h, 0, 2); le(h, 0, 2); le(h, 0x21, 2); le(h, e.crc, 4);
      le(h, big_size ? 0xFFFFFFFFu : e.size, 4); le(h, big_size ? 0xFFFFFFFFu : e.size, 4);
      le(h, e.name.size(), 2); le(h, extra.empty() ? 0 : extra.size() + 4, 2);
      le(h, 0, 2); le(h, 0, 2); le(h, 0, 2); le(h, 0, 4);
      le(h, big_off ? 0xFFFFFFFFu : e.offset, 4);
      h += e.name;
      if (!extra.empty()) { le(h, 1, 2); le(h, extra.size(), 2); h += extra; }
      put(h);
    }
    const uint64_t cd_size = pos_ - cd_start, n = entries_.size();
    const bool z64 = cd_start >= 0xFFFFFFFFu || cd_size >= 0xFFFFFFFFu || n >= 0xFFFF;
    std::string t;
    if (z64) {
      const uint64_t eocd64 = pos_;
      le(t, 0x06064b50u, 4); le(t, 44, 8); le(t, 45, 2); le(t, 45, 2); le(t, 0, 4); le(t, 0, 4);
      le(t, n, 8); le(t, n, 8); le(t, cd_size, 8); le(t, cd_start, 8);
      le(t, 0x07064b50u, 4); le(t, 0, 4); le(t, eocd64, 8); le(t, 1, 4);
    }
    le(t, 0x06054b50u, 4); le(t, 0, 2); le(t, 0, 2);
    le(t, z64 ? 0xFFFF : n, 2); le(t, z64 ? 0xFFFF : n, 2);
    le(t, z64 ? 0xFFFFFFFFu : cd_size, 4); le(t, z64 ? 0xFFFFFFFFu : cd_start, 4); le(t, 0, 2);
    put(t);
  }

 private:
  static void le(std::string& s, uint64_t v, int bytes) {
    for (int i = 0; i < bytes; ++i) s += char((v >> (8 * i)) & 0xff);
  }
  void put(const std::string& s) { out_.write(s.data(), s.size()); pos_ += s.size(); }
  AtomicFile& out_;
  uint64_t pos_ = 0;
  std::vector<Entry> entries_;
};

}  // namespace

void write_torch_bin(const std::filesystem::path& file, const std::vector<TensorToWrite>& tensors) {
  // One storage per distinct data pointer, in first-seen order; keys are "0", "1", ...
  std::map<const void*, std::string> storage_key;
  std::vector<const TensorToWrite*> storages;
  PickleWriter p;
  p.op('\x80'); p.bytes += char(2);
  p.op('}');
  p.op('(');
  for (const TensorToWrite& t : tensors) {
    int64_t numel = 1;
    for (int64_t d : t.shape) numel *= d;
    if (numel * static_cast<int64_t>(dtype_size(t.dtype)) != static_cast<int64_t>(t.nbytes))
      throw InputError(t.name, "byte size does not match shape and dtype");
    auto [it, fresh] = storage_key.emplace(t.data, std::to_string(storage_key.size()));
    if (fresh) storages.push_back(&t);
    p.str(t.name);
    p.global("torch._utils", "_rebuild_tensor_v2");
    p.op('(');
    p.op('(');  // persistent id: ('storage', StorageType, key, location, numel)
    p.str("storage");
    p.global("torch", storage_name(t.dtype));
    p.str(it->second);
    p.str("cpu");
    p.integer(numel);
    p.op('t');
    p.op('Q');
    p.integer(0);  // storage offset
    p.op('(');
    for (int64_t d : t.shape) p.integer(d);
    p.op('t');
    p.op('(');  // row-major strides
    std::vector<int64_t> strides(t.shape.size(), 1);
    for (size_t i = t.shape.size(); i-- > 1;) strides[i - 1] = strides[i] * t.shape[i];
    for (int64_t s : strides) p.integer(s);
    p.op('t');
    p.op('\x89');  // requires_grad = False
    p.global("collections", "OrderedDict");
    p.op(')');
    p.op('R');  // backward hooks: OrderedDict()
    p.op('t');
    p.op('R');
  }
  p.op('u');
  p.op('.');

  AtomicFile out(file);
  ZipWriter zip(out);
  zip.add({"archive/data.pkl", p.bytes.data(), p.bytes.size()});
  static const char kByteorder[] = "little";
  zip.add({"archive/byteorder", kByteorder, 6});
  for (const TensorToWrite* t : storages)
    zip.add({"archive/data/" + storage_key[t->data], t->data, t->nbytes});
  static const char kVersion[] = "3\n";
  zip.add({"archive/version", kVersion, 2});
  zip.finish();
  out.commit();
}

}  // namespace ms
