// GGUF reading and writing, and the ggml Q8_0 / Q4_0 block codecs. See gguf.h.
//
// [SECTION] values   [SECTION] fp16 and blocks   [SECTION] reader   [SECTION] writer
#include "core/io/gguf.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <map>
#include <set>

#include "core/io/atomic_file.h"
#include "core/io/mapped_file.h"
#include "core/util/bytes.h"
#include "core/util/error.h"
#include "core/util/quote.h"

namespace ms {

// [SECTION] values ------------------------------------------------------------------------------

GgufValue GgufValue::u32(uint32_t v) { GgufValue r; r.type = GgufType::U32; r.u = v; return r; }
GgufValue GgufValue::i32(int32_t v) { GgufValue r; r.type = GgufType::I32; r.i = v; return r; }
GgufValue GgufValue::f32(float v) { GgufValue r; r.type = GgufType::F32; r.f = v; return r; }
GgufValue GgufValue::boolean(bool v) { GgufValue r; r.type = GgufType::Bool; r.u = v; return r; }
GgufValue GgufValue::str(std::string v) {
  GgufValue r;
  r.type = GgufType::String;
  r.s = std::move(v);
  return r;
}
GgufValue GgufValue::strings(const std::vector<std::string>& v) {
  GgufValue r;
  r.type = GgufType::Array;
  r.elem_type = GgufType::String;
  r.arr.reserve(v.size());
  for (const std::string& s : v) r.arr.push_back(str(s));
  return r;
}
GgufValue GgufValue::i32s(const std::vector<int32_t>& v) {
  GgufValue r;
  r.type = GgufType::Array;
  r.elem_type = GgufType::I32;
  for (int32_t x : v) r.arr.push_back(i32(x));
  return r;
}
GgufValue GgufValue::f32s(const std::vector<float>& v) {
  GgufValue r;
  r.type = GgufType::Array;
  r.elem_type = GgufType::F32;
  for (float x : v) r.arr.push_back(f32(x));
  return r;
}

int64_t GgufTensorInfo::numel() const {
  int64_t n = 1;
  for (int64_t d : ne) n *= d;
  return n;
}

const GgufValue* GgufFile::find(const std::string& key) const {
  for (const auto& [k, v] : kv)
    if (k == key) return &v;
  return nullptr;
}
const GgufTensorInfo* GgufFile::find_tensor(const std::string& name) const {
  for (const GgufTensorInfo& t : tensors)
    if (t.name == name) return &t;
  return nullptr;
}

const char* ggml_type_name(uint32_t type) {
  switch (type) {
    case 0: return "F32";
    case 1: return "F16";
    case 2: return "Q4_0";
    case 8: return "Q8_0";
    default: {
      thread_local std::string s;
      s = "type " + std::to_string(type);
      return s.c_str();
    }
  }
}

std::size_t ggml_row_size(GgmlType type, int64_t n) {
  if (n < 0) return 0;
  switch (type) {
    case GgmlType::F32: return std::size_t(n) * 4;
    case GgmlType::F16: return std::size_t(n) * 2;
    case GgmlType::Q8_0: return n % kGgmlBlock ? 0 : std::size_t(n / kGgmlBlock) * 34;
    case GgmlType::Q4_0: return n % kGgmlBlock ? 0 : std::size_t(n / kGgmlBlock) * 18;
  }
  return 0;
}

// [SECTION] fp16 and blocks ---------------------------------------------------------------------

namespace {
uint32_t bits_of(float x) {
  uint32_t u;
  std::memcpy(&u, &x, 4);
  return u;
}
float float_of(uint32_t u) {
  float x;
  std::memcpy(&x, &u, 4);
  return x;
}
}  // namespace

uint16_t fp32_to_fp16(float x) {
  uint32_t f = bits_of(x);
  const uint32_t sign = f & 0x80000000u;
  f ^= sign;
  uint16_t h;
  if (f >= (127u + 16u) << 23) {
    // 2^16 and above (and NaN/inf): infinity, or a quiet NaN.
    h = f > (255u << 23) ? 0x7e00 : 0x7c00;
  } else if (f < (113u << 23)) {
    // Below 2^-14 the half is subnormal: adding 0.5 (as a float whose ulp is 2^-24, the half's
    // subnormal step) lets the FPU round to nearest even; the low bits are then the half's.
    const uint32_t magic = ((127u - 15u) + (23u - 10u) + 1u) << 23;
    h = uint16_t(bits_of(float_of(f) + float_of(magic)) - magic);
  } else {
    // Normal: rebias the exponent and round the 13 dropped mantissa bits to nearest even (the
    // carry may ripple into the exponent, which is right, up to infinity).
    const uint32_t odd = (f >> 13) & 1u;
    f += (uint32_t(15 - 127) << 23) + 0xfffu + odd;
    h = uint16_t(f >> 13);
  }
  return uint16_t(h | (sign >> 16));
}

float fp16_to_fp32(uint16_t h) {
  const uint32_t sign = uint32_t(h & 0x8000u) << 16;
  const uint32_t exp = (h >> 10) & 0x1fu, mant = h & 0x3ffu;
  if (exp == 0) {
    const float v = std::ldexp(float(mant), -24);  // zero or subnormal, exact
    return sign ? -v : v;
  }
  if (exp == 31) return float_of(sign | 0x7f800000u | (mant << 13));
  return float_of(sign | ((exp + 112u) << 23) | (mant << 13));
}

void ggml_quantize_row(GgmlType type, const float* x, std::byte* out, int64_t n) {
  if (type == GgmlType::F32) {
    std::memcpy(out, x, std::size_t(n) * 4);
    return;
  }
  if (type == GgmlType::F16) {
    for (int64_t j = 0; j < n; ++j) store_le(out + 2 * j, fp32_to_fp16(x[j]), 2);
    return;
  }
  for (int64_t b = 0; b < n / kGgmlBlock; ++b) {
    const float* v = x + b * kGgmlBlock;
    if (type == GgmlType::Q8_0) {
      std::byte* blk = out + b * 34;
      float amax = 0;
      for (int j = 0; j < kGgmlBlock; ++j) amax = std::max(amax, std::fabs(v[j]));
      const float d = amax / 127.0f;
      const float id = d != 0 ? 1.0f / d : 0.0f;
      store_le(blk, fp32_to_fp16(d), 2);
      for (int j = 0; j < kGgmlBlock; ++j)
        blk[2 + j] = std::byte(uint8_t(int8_t(std::roundf(v[j] * id))));
    } else {
      std::byte* blk = out + b * 18;
      float amax = 0, m = 0;
      for (int j = 0; j < kGgmlBlock; ++j)
        if (amax < std::fabs(v[j])) {  // strict: the first value of largest magnitude wins
          amax = std::fabs(v[j]);
          m = v[j];
        }
      const float d = m / -8.0f;
      const float id = d != 0 ? 1.0f / d : 0.0f;
      store_le(blk, fp32_to_fp16(d), 2);
      for (int j = 0; j < kGgmlBlock / 2; ++j) {
        const int q0 = std::min(15, int(int8_t(v[j] * id + 8.5f)));
        const int q1 = std::min(15, int(int8_t(v[j + 16] * id + 8.5f)));
        blk[2 + j] = std::byte(uint8_t(q0 | (q1 << 4)));
      }
    }
  }
}

void ggml_dequantize_row(GgmlType type, const std::byte* in, float* y, int64_t n) {
  switch (type) {
    case GgmlType::F32:
      std::memcpy(y, in, std::size_t(n) * 4);
      return;
    case GgmlType::F16:
      for (int64_t j = 0; j < n; ++j) y[j] = fp16_to_fp32(load_u16le(in + 2 * j));
      return;
    case GgmlType::Q8_0:
      for (int64_t b = 0; b < n / kGgmlBlock; ++b) {
        const std::byte* blk = in + b * 34;
        const float d = fp16_to_fp32(load_u16le(blk));
        for (int j = 0; j < kGgmlBlock; ++j) y[b * kGgmlBlock + j] = float(int8_t(blk[2 + j])) * d;
      }
      return;
    case GgmlType::Q4_0:
      for (int64_t b = 0; b < n / kGgmlBlock; ++b) {
        const std::byte* blk = in + b * 18;
        const float d = fp16_to_fp32(load_u16le(blk));
        for (int j = 0; j < kGgmlBlock / 2; ++j) {
          const int byte = int(blk[2 + j]);
          y[b * kGgmlBlock + j] = float((byte & 0xf) - 8) * d;
          y[b * kGgmlBlock + j + 16] = float((byte >> 4) - 8) * d;
        }
      }
      return;
  }
}

// [SECTION] reader ------------------------------------------------------------------------------

namespace {

// Limits that no real file reaches; they keep a lying header from asking for absurd work.
constexpr uint32_t kMaxDims = 4;          // GGML_MAX_DIMS
constexpr int kMaxArrayDepth = 2;         // arrays of arrays occur (rarely); deeper is refused

class Cursor {
 public:
  Cursor(const std::byte* data, std::size_t size, const std::string& source)
      : p_(data), size_(size), source_(source) {}
  std::size_t pos() const { return pos_; }
  std::size_t left() const { return size_ - pos_; }
  [[noreturn]] void fail(const std::string& what) const {
    throw InputError(source_, what + " (at byte " + std::to_string(pos_) + ")");
  }
  void need(uint64_t n, const char* what) const {
    if (n > left())
      fail(std::string(what) + " needs " + std::to_string(n) + " bytes but only " +
           std::to_string(left()) + " remain");
  }
  uint64_t uint(std::size_t n, const char* what) {
    need(n, what);
    const uint64_t v = load_le(p_ + pos_, n);
    pos_ += n;
    return v;
  }
  std::string string(const char* what) {
    const uint64_t len = uint(8, what);
    need(len, what);  // before allocating
    std::string s(reinterpret_cast<const char*>(p_ + pos_), std::size_t(len));
    pos_ += std::size_t(len);
    return s;
  }

 private:
  const std::byte* p_;
  std::size_t size_, pos_ = 0;
  const std::string& source_;
};

std::size_t scalar_size(GgufType t) {
  switch (t) {
    case GgufType::U8: case GgufType::I8: case GgufType::Bool: return 1;
    case GgufType::U16: case GgufType::I16: return 2;
    case GgufType::U32: case GgufType::I32: case GgufType::F32: return 4;
    case GgufType::U64: case GgufType::I64: case GgufType::F64: return 8;
    case GgufType::String: return 8;  // at least its length field
    case GgufType::Array: return 12;  // at least element type + count
  }
  return 0;
}

GgufValue read_value(Cursor& c, uint32_t raw_type, const std::string& key, int depth) {
  if (raw_type > uint32_t(GgufType::F64)) c.fail("key " + quote_name(key) + ": unknown value type " + std::to_string(raw_type));
  GgufValue v;
  v.type = GgufType(raw_type);
  switch (v.type) {
    case GgufType::U8: case GgufType::U16: case GgufType::U32: case GgufType::U64:
      v.u = c.uint(scalar_size(v.type), "a value");
      break;
    case GgufType::I8: case GgufType::I16: case GgufType::I32: case GgufType::I64: {
      const std::size_t n = scalar_size(v.type);
      const uint64_t raw = c.uint(n, "a value");
      v.i = n == 8 ? int64_t(raw) : int64_t(raw << (64 - 8 * n)) >> (64 - 8 * n);  // sign-extend
      break;
    }
    case GgufType::F32: v.f = float_of(uint32_t(c.uint(4, "a value"))); break;
    case GgufType::F64: {
      const uint64_t raw = c.uint(8, "a value");
      std::memcpy(&v.f, &raw, 8);
      break;
    }
    case GgufType::Bool: {
      v.u = c.uint(1, "a value");
      if (v.u > 1) c.fail("key " + quote_name(key) + ": a bool holds " + std::to_string(v.u));
      break;
    }
    case GgufType::String: v.s = c.string("a string value"); break;
    case GgufType::Array: {
      if (depth >= kMaxArrayDepth) c.fail("key " + quote_name(key) + ": arrays nested too deep");
      const uint32_t et = uint32_t(c.uint(4, "an array type"));
      if (et > uint32_t(GgufType::F64)) c.fail("key " + quote_name(key) + ": unknown array element type " + std::to_string(et));
      v.elem_type = GgufType(et);
      const uint64_t count = c.uint(8, "an array count");
      // Every element takes at least scalar_size bytes: a count the file cannot hold is a lie.
      if (count > c.left() / scalar_size(v.elem_type))
        c.fail("key " + quote_name(key) + ": array of " + std::to_string(count) + " elements cannot fit in the " +
               std::to_string(c.left()) + " bytes left");
      v.arr.reserve(std::size_t(count));
      for (uint64_t k = 0; k < count; ++k) v.arr.push_back(read_value(c, et, key, depth + 1));
      break;
    }
  }
  return v;
}

}  // namespace

GgufFile parse_gguf(const std::byte* data, std::size_t size, const std::string& source) {
  Cursor c(data, size, source);
  GgufFile f;
  c.need(4, "the magic");
  if (std::memcmp(data, "GGUF", 4) != 0) c.fail("not a GGUF file (no GGUF magic)");
  c.uint(4, "the magic");
  f.version = uint32_t(c.uint(4, "the version"));
  if (f.version != 2 && f.version != 3)
    c.fail("GGUF version " + std::to_string(f.version) + " is not supported (2 or 3)");
  const uint64_t n_tensors = c.uint(8, "the tensor count");
  const uint64_t n_kv = c.uint(8, "the key-value count");
  // A key-value takes at least 8 (key length) + 4 (type) + 1 bytes; a tensor info at least
  // 8 + 4 + 4 + 8 bytes. Checked before reserving anything.
  if (n_kv > c.left() / 13) c.fail(std::to_string(n_kv) + " key-values cannot fit in the file");
  std::set<std::string> keys;
  for (uint64_t k = 0; k < n_kv; ++k) {
    std::string key = c.string("a key");
    if (!keys.insert(key).second) c.fail("duplicate key " + quote_name(key));
    const uint32_t t = uint32_t(c.uint(4, "a value type"));
    f.kv.emplace_back(key, read_value(c, t, key, 0));
  }
  if (const GgufValue* a = f.find("general.alignment")) {
    if (a->type != GgufType::U32 || a->u == 0 || (a->u & (a->u - 1)) != 0)
      c.fail("general.alignment must be a u32 power of two");
    f.alignment = a->u;
  }
  if (n_tensors > c.left() / 24) c.fail(std::to_string(n_tensors) + " tensor infos cannot fit in the file");
  std::set<std::string> names;
  for (uint64_t k = 0; k < n_tensors; ++k) {
    GgufTensorInfo t;
    t.name = c.string("a tensor name");
    if (!names.insert(t.name).second) c.fail("duplicate tensor " + quote_name(t.name));
    const uint32_t n_dims = uint32_t(c.uint(4, "a tensor's dimension count"));
    if (n_dims == 0 || n_dims > kMaxDims)
      c.fail("tensor " + quote_name(t.name) + " has " + std::to_string(n_dims) + " dimensions (1 to 4)");
    uint64_t numel = 1;
    for (uint32_t d = 0; d < n_dims; ++d) {
      const uint64_t ne = c.uint(8, "a tensor dimension");
      if (ne == 0 || ne > (uint64_t(1) << 40) || numel > (uint64_t(1) << 50) / ne)
        c.fail("tensor " + quote_name(t.name) + " has an impossible dimension " + std::to_string(ne));
      numel *= ne;
      t.ne.push_back(int64_t(ne));
    }
    t.type = uint32_t(c.uint(4, "a tensor type"));
    t.offset = c.uint(8, "a tensor offset");
    if (t.offset % f.alignment) c.fail("tensor " + quote_name(t.name) + " is not aligned to " + std::to_string(f.alignment));
    if (t.type == 0 || t.type == 1 || t.type == 2 || t.type == 8) {
      t.nbytes = ggml_row_size(GgmlType(t.type), t.ne[0]) * std::size_t(numel / uint64_t(t.ne[0]));
      if (t.nbytes == 0)
        c.fail("tensor " + quote_name(t.name) + ": a " + ggml_type_name(t.type) + " row of " +
               std::to_string(t.ne[0]) + " is not a whole number of 32-element blocks");
    }
    f.tensors.push_back(std::move(t));
  }
  // The data section starts at the next multiple of the alignment.
  const uint64_t data_start = (c.pos() + f.alignment - 1) / f.alignment * f.alignment;
  if (data_start > size && !f.tensors.empty()) c.fail("the data section starts past the end of the file");
  const uint64_t data_size = data_start <= size ? size - data_start : 0;
  std::vector<std::pair<uint64_t, uint64_t>> spans;
  for (GgufTensorInfo& t : f.tensors) {
    // Unknown types: size unknown; the tensor runs to the next tensor's start (read opaquely).
    if (t.nbytes == 0) continue;
    if (t.offset > data_size || t.nbytes > data_size - t.offset)
      throw InputError(source, "tensor " + quote_name(t.name) + " (" + std::to_string(t.nbytes) +
                                   " bytes at data offset " + std::to_string(t.offset) +
                                   ") lies past the end of the file");
    t.data = data + data_start + t.offset;
    spans.emplace_back(t.offset, t.offset + t.nbytes);
  }
  std::sort(spans.begin(), spans.end());
  for (std::size_t k = 1; k < spans.size(); ++k)
    if (spans[k].first < spans[k - 1].second) throw InputError(source, "two tensors' data overlap");
  return f;
}

GgufFile read_gguf(const std::filesystem::path& path) {
  std::shared_ptr<const MappedFile> m = MappedFile::open(path);
  GgufFile f = parse_gguf(m->data(), m->size(), path.string());
  f.mapping = std::move(m);
  return f;
}

// [SECTION] writer ------------------------------------------------------------------------------

namespace {

void put(std::string& out, uint64_t v, std::size_t n) {
  for (std::size_t k = 0; k < n; ++k) out.push_back(char((v >> (8 * k)) & 0xff));
}
void put_string(std::string& out, const std::string& s) {
  put(out, s.size(), 8);
  out += s;
}
void put_value(std::string& out, const GgufValue& v, bool with_type) {
  if (with_type) put(out, uint32_t(v.type), 4);
  switch (v.type) {
    case GgufType::U8: case GgufType::I8: case GgufType::Bool:
    case GgufType::U16: case GgufType::I16: case GgufType::U32: case GgufType::I32:
    case GgufType::U64: case GgufType::I64: {
      const bool is_signed = v.type == GgufType::I8 || v.type == GgufType::I16 ||
                             v.type == GgufType::I32 || v.type == GgufType::I64;
      put(out, is_signed ? uint64_t(v.i) : v.u, scalar_size(v.type));
      break;
    }
    case GgufType::F32: put(out, bits_of(float(v.f)), 4); break;
    case GgufType::F64: {
      uint64_t raw;
      std::memcpy(&raw, &v.f, 8);
      put(out, raw, 8);
      break;
    }
    case GgufType::String: put_string(out, v.s); break;
    case GgufType::Array:
      put(out, uint32_t(v.elem_type), 4);
      put(out, v.arr.size(), 8);
      for (const GgufValue& e : v.arr) put_value(out, e, false);
      break;
  }
}

uint64_t alignment_of(const std::vector<std::pair<std::string, GgufValue>>& kv) {
  for (const auto& [k, v] : kv)
    if (k == "general.alignment") {
      if (v.type != GgufType::U32 || v.u == 0 || (v.u & (v.u - 1)))
        throw UsageError("general.alignment must be a u32 power of two");
      return v.u;
    }
  return 32;
}

std::size_t tensor_bytes(const GgufTensorSpec& t) {
  if (t.ne.empty() || t.ne.size() > kMaxDims) throw UsageError("GGUF tensor " + t.name + ": 1 to 4 dimensions");
  const std::size_t row = ggml_row_size(t.type, t.ne[0]);
  if (row == 0)
    throw UsageError("GGUF tensor " + t.name + ": a " + ggml_type_name(uint32_t(t.type)) + " row of " +
                     std::to_string(t.ne[0]) + " is not a whole number of 32-element blocks");
  std::size_t rows = 1;
  for (std::size_t d = 1; d < t.ne.size(); ++d) rows *= std::size_t(t.ne[d]);
  return row * rows;
}

// Header (magic through tensor infos, padded) and each tensor's data offset.
std::string header_of(const std::vector<std::pair<std::string, GgufValue>>& kv,
                      const std::vector<GgufTensorSpec>& tensors, std::vector<uint64_t>& offsets,
                      uint64_t& data_size) {
  const uint64_t align = alignment_of(kv);
  std::string h = "GGUF";
  put(h, 3, 4);
  put(h, tensors.size(), 8);
  put(h, kv.size(), 8);
  for (const auto& [k, v] : kv) {
    put_string(h, k);
    put_value(h, v, true);
  }
  uint64_t offset = 0;
  offsets.clear();
  for (const GgufTensorSpec& t : tensors) {
    put_string(h, t.name);
    put(h, t.ne.size(), 4);
    for (int64_t d : t.ne) put(h, uint64_t(d), 8);
    put(h, uint32_t(t.type), 4);
    put(h, offset, 8);
    offsets.push_back(offset);
    offset += (tensor_bytes(t) + align - 1) / align * align;
  }
  data_size = offset;
  h.resize((h.size() + align - 1) / align * align, '\0');
  return h;
}

}  // namespace

uint64_t gguf_file_size(const std::vector<std::pair<std::string, GgufValue>>& kv,
                        const std::vector<GgufTensorSpec>& tensors) {
  std::vector<uint64_t> offsets;
  uint64_t data = 0;
  return header_of(kv, tensors, offsets, data).size() + data;
}

void write_gguf(const std::filesystem::path& path,
                const std::vector<std::pair<std::string, GgufValue>>& kv,
                const std::vector<GgufTensorSpec>& tensors,
                const std::function<std::vector<std::byte>(std::size_t index)>& produce) {
  std::vector<uint64_t> offsets;
  uint64_t data_size = 0;
  const std::string header = header_of(kv, tensors, offsets, data_size);
  const uint64_t align = alignment_of(kv);
  AtomicFile file(path);
  file.write(header);
  const std::string zeros(std::size_t(align), '\0');
  for (std::size_t k = 0; k < tensors.size(); ++k) {
    const std::vector<std::byte> bytes = produce(k);
    const std::size_t expected = tensor_bytes(tensors[k]);
    if (bytes.size() != expected)
      throw InputError(path.string(), "tensor " + tensors[k].name + " came with " +
                                          std::to_string(bytes.size()) + " bytes, expected " +
                                          std::to_string(expected));
    file.write(bytes.data(), bytes.size());
    // Pad every tensor (the last one too, as ggml's writer does) to the alignment.
    file.write(zeros.data(), std::size_t((align - bytes.size() % align) % align));
  }
  file.commit();
}

}  // namespace ms
