// A minimal, read-only zip reader over a memory mapping, for torch.save archives. It reads the
// end-of-central-directory record (ZIP64 too: torch.save writes it for large files) and the
// central directory, and hands out STORED entries (method 0, what torch.save writes) as spans of
// the mapping. It deliberately does not inflate (compressed entries are refused with a clear
// message), does not check CRCs (we never trust content anyway; the unpickler and the tensor
// checks do), and does not support multi-disk or encrypted archives.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/io/mapped_file.h"

namespace ms {

struct ZipEntry {
  std::string name;
  uint16_t method = 0;  // 0 = stored, 8 = deflate, ...
  uint16_t flags = 0;
  uint64_t compressed_size = 0;
  uint64_t uncompressed_size = 0;
  uint64_t local_header_offset = 0;
};

class ZipReader {
 public:
  // Parses the central directory. Throws InputError naming the file on anything malformed: no
  // end record, offsets or sizes past the end of the file, absolute or ".." entry names,
  // duplicate names.
  explicit ZipReader(std::shared_ptr<const MappedFile> file);

  const std::vector<ZipEntry>& entries() const { return entries_; }
  const ZipEntry* find(std::string_view name) const;  // nullptr when absent
  // The bytes of a STORED entry inside the mapping; the local header is validated here. Throws
  // for compressed or encrypted entries.
  std::span<const std::byte> data(const ZipEntry& entry) const;

  const std::shared_ptr<const MappedFile>& file() const { return file_; }
  const std::filesystem::path& path() const { return file_->path(); }

 private:
  std::shared_ptr<const MappedFile> file_;
  std::vector<ZipEntry> entries_;
  std::unordered_map<std::string, std::size_t> index_;  // name -> entries_ position
};

}  // namespace ms
