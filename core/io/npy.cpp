// .npy format 1.0 writer (float32, C order) and a reader for '<f4' / '<f8' C-order arrays. The
// header is a Python dict literal; we parse just the subset numpy writes (quoted strings,
// True/False, tuples of ints), not general Python. No big-endian, no Fortran order, no objects.
#include "core/io/npy.h"

#include <cstring>
#include <string>
#include <string_view>

#include "core/io/atomic_file.h"
#include "core/io/mapped_file.h"
#include "core/util/bytes.h"
#include "core/util/error.h"
#include "core/util/quote.h"

namespace ms {

namespace {

constexpr char kMagic[] = "\x93NUMPY";  // 6 bytes + version(2) + header length

// A tiny cursor over the header dict: "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }"
struct HeaderParser {
  std::string_view s;
  std::size_t i = 0;
  std::string where;

  [[noreturn]] void fail(const std::string& what) const {
    throw InputError(where, "bad .npy header (" + what + ")");
  }
  void skip_ws() {
    while (i < s.size() && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n')) ++i;
  }
  bool eat(char c) {
    skip_ws();
    if (i < s.size() && s[i] == c) {
      ++i;
      return true;
    }
    return false;
  }
  void expect(char c) {
    if (!eat(c)) fail(std::string("expected '") + c + "'");
  }
  std::string string_lit() {
    skip_ws();
    if (i >= s.size() || (s[i] != '\'' && s[i] != '"')) fail("expected a string");
    const char q = s[i++];
    const std::size_t end = s.find(q, i);
    if (end == std::string_view::npos) fail("unterminated string");
    std::string out(s.substr(i, end - i));
    i = end + 1;
    return out;
  }
  bool word(std::string_view w) {
    skip_ws();
    if (s.substr(i, w.size()) == w) {
      i += w.size();
      return true;
    }
    return false;
  }
  int64_t int_lit() {
    skip_ws();
    const std::size_t start = i;
    int64_t v = 0;
    while (i < s.size() && s[i] >= '0' && s[i] <= '9') {
      if (__builtin_mul_overflow(v, 10, &v) || __builtin_add_overflow(v, s[i] - '0', &v))
        fail("dimension too large");
      ++i;
    }
    if (i == start) fail("expected a non-negative integer");
    if (i < s.size() && s[i] == 'L') ++i;  // Python 2 longs
    return v;
  }
};

}  // namespace

void write_npy_f32(const std::filesystem::path& file, const float* data,
                   const std::vector<int64_t>& shape) {
  uint64_t numel = 1;
  std::string dims;
  for (int64_t d : shape) {
    if (d < 0 || __builtin_mul_overflow(numel, static_cast<uint64_t>(d), &numel))
      throw InputError(file.string(), "cannot write .npy: bad shape");
    dims += std::to_string(d) + ", ";
  }
  if (shape.size() > 1)
    dims.resize(dims.size() - 2);  // "(2, 3)"; one dim keeps "(5,)"
  else if (shape.size() == 1)
    dims.resize(dims.size() - 1);
  if (numel > 0 && data == nullptr) throw InputError(file.string(), "cannot write .npy: no data");
  std::string header = "{'descr': '<f4', 'fortran_order': False, 'shape': (" + dims + "), }";
  // Total of magic(6) + version(2) + length(2) + header must be a multiple of 64, the header
  // ending in '\n' (numpy >= 1.9 aligns so that the data can be mmap'ed with any dtype).
  const std::size_t unpadded = 10 + header.size() + 1;
  header.append((64 - unpadded % 64) % 64, ' ');
  header += '\n';
  if (header.size() > 65535) throw InputError(file.string(), "cannot write .npy: shape too long");
  std::byte prefix[10];
  std::memcpy(prefix, kMagic, 6);
  prefix[6] = std::byte{1};
  prefix[7] = std::byte{0};
  store_le(prefix + 8, header.size(), 2);

  static_assert(sizeof(float) == 4);
  AtomicFile out(file);
  out.write(prefix, sizeof prefix);
  out.write(header);
  // Little-endian host assumed (x86-64/aarch64), matching '<f4'.
  out.write(data, static_cast<std::size_t>(numel) * 4);
  out.commit();
}

NpyArray read_npy_f32(const std::filesystem::path& file) {
  const std::string where = file.string();
  auto m = MappedFile::open(file);
  const std::byte* p = m->data();
  const std::size_t size = m->size();
  if (size < 10 || std::memcmp(p, kMagic, 6) != 0)
    throw InputError(where, "not a .npy file (bad magic)");
  const int major = static_cast<int>(p[6]);
  std::size_t len_bytes = 0;
  if (major == 1)
    len_bytes = 2;
  else if (major == 2 || major == 3)
    len_bytes = 4;
  else
    throw InputError(where, "unsupported .npy version " + std::to_string(major));
  if (size < 8 + len_bytes) throw InputError(where, "truncated .npy header");
  const uint64_t hlen = load_le(p + 8, len_bytes);
  const std::size_t data_off = 8 + len_bytes;
  if (hlen > size - data_off) throw InputError(where, "header length exceeds the file size");

  HeaderParser hp{std::string_view(reinterpret_cast<const char*>(p + data_off), hlen), 0, where};
  std::string descr;
  bool have_descr = false, have_order = false, have_shape = false, fortran = false;
  std::vector<int64_t> shape;
  hp.expect('{');
  while (!hp.eat('}')) {
    const std::string key = hp.string_lit();
    hp.expect(':');
    if (key == "descr") {
      descr = hp.string_lit();
      have_descr = true;
    } else if (key == "fortran_order") {
      if (hp.word("True"))
        fortran = true;
      else if (!hp.word("False"))
        hp.fail("fortran_order is not True/False");
      have_order = true;
    } else if (key == "shape") {
      hp.expect('(');
      while (!hp.eat(')')) {
        shape.push_back(hp.int_lit());
        if (!hp.eat(',')) {
          hp.expect(')');
          break;
        }
      }
      have_shape = true;
    } else {
      hp.fail("unknown key " + quote_name(key));
    }
    if (!hp.eat(',')) {
      hp.expect('}');
      break;
    }
  }
  if (!have_descr || !have_order || !have_shape) hp.fail("missing descr, fortran_order or shape");
  if (fortran) throw InputError(where, "Fortran-order arrays are not supported");
  std::size_t item = 0;
  if (descr == "<f4")
    item = 4;
  else if (descr == "<f8")
    item = 8;
  else
    throw InputError(where,
                     "unsupported dtype " + quote_name(descr) + " (expected '<f4' or '<f8')");

  uint64_t numel = 1, nbytes = 0;
  for (int64_t d : shape)
    if (__builtin_mul_overflow(numel, static_cast<uint64_t>(d), &numel)) hp.fail("shape overflows");
  const uint64_t avail = size - data_off - hlen;
  if (__builtin_mul_overflow(numel, item, &nbytes) || nbytes != avail) {
    throw InputError(
        where, "data is " + std::to_string(avail) + " bytes but the shape needs " +
                   (nbytes == 0 && numel != 0 ? std::string("more") : std::to_string(nbytes)));
  }
  NpyArray out;
  out.shape = std::move(shape);
  out.data.resize(static_cast<std::size_t>(numel));  // bounded: nbytes == bytes that exist
  const std::byte* d = p + data_off + hlen;
  if (item == 4) {
    if (nbytes > 0) std::memcpy(out.data.data(), d, nbytes);
  } else {
    for (std::size_t i = 0; i < out.data.size(); ++i) {
      double v;
      std::memcpy(&v, d + 8 * i, 8);
      out.data[i] = static_cast<float>(v);
    }
  }
  return out;
}

}  // namespace ms
