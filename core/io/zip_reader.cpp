// Zip central-directory parsing (APPNOTE.TXT 4.3). Every field read from the file is checked
// against the mapping's size before it is used as an offset or a count; counts are checked against
// the bytes that could hold them before anything is reserved.
#include "core/io/zip_reader.h"

#include <algorithm>

#include "core/util/bytes.h"
#include "core/util/error.h"
#include "core/util/quote.h"

namespace ms {

namespace {

constexpr uint32_t kEocdSig = 0x06054b50;
constexpr uint32_t kZip64LocatorSig = 0x07064b50;
constexpr uint32_t kZip64EocdSig = 0x06064b50;
constexpr uint32_t kCentralSig = 0x02014b50;
constexpr uint32_t kLocalSig = 0x04034b50;
constexpr std::size_t kEocdSize = 22, kZip64LocatorSize = 20, kZip64EocdSize = 56;
constexpr std::size_t kCentralSize = 46, kLocalSize = 30;

// An entry name that could escape an extraction directory. We never extract, but a consumer
// might, and no legitimate torch archive has one, so refuse early.
bool unsafe_name(const std::string& name) {
  if (name.empty() || name.front() == '/' || name.front() == '\\') return true;
  if (name.find('\0') != std::string::npos || name.find('\\') != std::string::npos) return true;
  if (name.size() >= 2 && name[1] == ':') return true;  // "C:..."
  std::size_t start = 0;
  while (start <= name.size()) {
    std::size_t end = name.find('/', start);
    if (end == std::string::npos) end = name.size();
    if (name.compare(start, end - start, "..") == 0 && end - start == 2) return true;
    start = end + 1;
  }
  return false;
}

}  // namespace

ZipReader::ZipReader(std::shared_ptr<const MappedFile> file) : file_(std::move(file)) {
  const std::string where = file_->path().string();
  const std::byte* p = file_->data();
  const uint64_t size = file_->size();
  if (size < kEocdSize) throw InputError(where, "not a zip archive (too short)");

  // The EOCD sits at the end, followed only by a comment of at most 65535 bytes: scan backwards
  // through that window for a signature whose comment length matches the bytes after it.
  uint64_t eocd = UINT64_MAX;
  const uint64_t lowest = size - kEocdSize > 65535 ? size - kEocdSize - 65535 : 0;
  for (uint64_t pos = size - kEocdSize + 1; pos-- > lowest;) {
    if (load_u32le(p + pos) == kEocdSig && pos + kEocdSize + load_u16le(p + pos + 20) == size) {
      eocd = pos;
      break;
    }
  }
  if (eocd == UINT64_MAX)
    throw InputError(where, "not a zip archive (no end-of-central-directory record)");

  uint64_t disk = load_u16le(p + eocd + 4), cd_disk = load_u16le(p + eocd + 6);
  uint64_t count = load_u16le(p + eocd + 10);
  uint64_t cd_size = load_u32le(p + eocd + 12), cd_offset = load_u32le(p + eocd + 16);
  // ZIP64: any saturated field means the real values live in the ZIP64 end record, found through
  // the locator that immediately precedes the classic one.
  if (count == 0xFFFF || cd_size == 0xFFFFFFFF || cd_offset == 0xFFFFFFFF || disk == 0xFFFF) {
    if (eocd < kZip64LocatorSize || load_u32le(p + eocd - kZip64LocatorSize) != kZip64LocatorSig)
      throw InputError(where, "zip: ZIP64 fields used but the ZIP64 locator is missing");
    const uint64_t z = load_u64le(p + eocd - kZip64LocatorSize + 8);
    if (z > eocd - kZip64LocatorSize || eocd - kZip64LocatorSize - z < kZip64EocdSize)
      throw InputError(where, "zip: ZIP64 end record offset out of range");
    if (load_u32le(p + z) != kZip64EocdSig)
      throw InputError(where, "zip: bad ZIP64 end record signature");
    disk = load_u32le(p + z + 16);
    cd_disk = load_u32le(p + z + 20);
    count = load_u64le(p + z + 32);
    cd_size = load_u64le(p + z + 40);
    cd_offset = load_u64le(p + z + 48);
  }
  if (disk != 0 || cd_disk != 0)
    throw InputError(where, "zip: multi-disk archives are not supported");
  if (cd_offset > eocd || cd_size > eocd - cd_offset)
    throw InputError(where, "zip: central directory lies outside the file");
  if (count > cd_size / kCentralSize)
    throw InputError(
        where, "zip: " + std::to_string(count) + " entries cannot fit in the central directory");

  entries_.reserve(static_cast<std::size_t>(count));
  uint64_t pos = cd_offset;
  const uint64_t cd_end = cd_offset + cd_size;
  for (uint64_t i = 0; i < count; ++i) {
    if (cd_end - pos < kCentralSize || load_u32le(p + pos) != kCentralSig)
      throw InputError(where,
                       "zip: central directory entry " + std::to_string(i) + " is malformed");
    ZipEntry e;
    e.flags = load_u16le(p + pos + 8);
    e.method = load_u16le(p + pos + 10);
    e.compressed_size = load_u32le(p + pos + 20);
    e.uncompressed_size = load_u32le(p + pos + 24);
    const uint64_t name_len = load_u16le(p + pos + 28), extra_len = load_u16le(p + pos + 30);
    const uint64_t comment_len = load_u16le(p + pos + 32);
    const uint64_t start_disk = load_u16le(p + pos + 34);
    e.local_header_offset = load_u32le(p + pos + 42);
    if (cd_end - pos - kCentralSize < name_len + extra_len + comment_len)
      throw InputError(where,
                       "zip: central directory entry " + std::to_string(i) + " runs past its end");
    e.name.assign(reinterpret_cast<const char*>(p + pos + kCentralSize), name_len);

    // ZIP64 extended information (header id 1): 8-byte values present only for the fields that
    // are saturated in the fixed part, in this order.
    const std::byte* x = p + pos + kCentralSize + name_len;
    const std::byte* x_end = x + extra_len;
    while (x_end - x >= 4) {
      const uint16_t id = load_u16le(x), len = load_u16le(x + 2);
      if (x_end - x - 4 < len)
        throw InputError(where, "zip: extra field of " + quote_name(e.name) + " runs past its end");
      if (id == 1) {
        const std::byte* f = x + 4;
        std::size_t left = len;
        auto take = [&](uint64_t& field) {
          if (left < 8)
            throw InputError(where,
                             "zip: ZIP64 extra field of " + quote_name(e.name) + " too short");
          field = load_u64le(f);
          f += 8;
          left -= 8;
        };
        if (e.uncompressed_size == 0xFFFFFFFF) take(e.uncompressed_size);
        if (e.compressed_size == 0xFFFFFFFF) take(e.compressed_size);
        if (e.local_header_offset == 0xFFFFFFFF) take(e.local_header_offset);
      }
      x += 4 + len;
    }
    if (start_disk != 0 && start_disk != 0xFFFF)
      throw InputError(where, "zip: multi-disk archives are not supported");
    if (unsafe_name(e.name))
      throw InputError(where, "zip: unsafe entry name " + quote_name(e.name));
    if (!index_.emplace(e.name, entries_.size()).second)
      throw InputError(where, "zip: duplicate entry " + quote_name(e.name));
    if (e.local_header_offset > cd_offset || e.compressed_size > cd_offset - e.local_header_offset)
      throw InputError(where,
                       "zip: entry " + quote_name(e.name) + " lies outside the file's data area");
    entries_.push_back(std::move(e));
    pos += kCentralSize + name_len + extra_len + comment_len;
  }
}

const ZipEntry* ZipReader::find(std::string_view name) const {
  // Hashed: torch_bin looks up one storage per tensor, and a hostile archive may hold many entries.
  const auto it = index_.find(std::string(name));
  return it == index_.end() ? nullptr : &entries_[it->second];
}

std::span<const std::byte> ZipReader::data(const ZipEntry& e) const {
  const std::string where = path().string();
  if (e.flags & 1) throw InputError(where, "zip: entry " + quote_name(e.name) + " is encrypted");
  if (e.method != 0) {
    throw InputError(where, "zip: entry " + quote_name(e.name) + " is compressed (method " +
                                std::to_string(e.method) +
                                "); only stored entries are supported, as torch.save writes them");
  }
  if (e.compressed_size != e.uncompressed_size)
    throw InputError(where, "zip: stored entry " + quote_name(e.name) +
                                " has different compressed and uncompressed sizes");
  const std::byte* p = file_->data();
  const uint64_t size = file_->size();
  const uint64_t off = e.local_header_offset;
  if (off > size || size - off < kLocalSize || load_u32le(p + off) != kLocalSig)
    throw InputError(where, "zip: bad local header for " + quote_name(e.name));
  // The local name and extra lengths may differ from the central ones (torch pads the local extra
  // field so that data is 64-byte aligned), so the data offset comes from the local header.
  const uint64_t start = off + kLocalSize + load_u16le(p + off + 26) + load_u16le(p + off + 28);
  if (start > size || size - start < e.compressed_size)
    throw InputError(where,
                     "zip: data of " + quote_name(e.name) + " runs past the end of the file");
  return {p + start, static_cast<std::size_t>(e.compressed_size)};
}

}  // namespace ms
