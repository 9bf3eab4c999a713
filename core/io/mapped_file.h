// Read-only memory mapping of a whole file (RAII). Checkpoints are mapped, never read into
// memory: a 2.8b model opens in milliseconds and pages in only what is used.
#pragma once

#include <cstddef>
#include <filesystem>
#include <memory>

namespace ms {

class MappedFile {
 public:
  // Throws InputError("<path>: cannot open: <reason>") on failure. An empty file maps to size 0.
  static std::shared_ptr<const MappedFile> open(const std::filesystem::path& path);
  ~MappedFile();
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  const std::byte* data() const { return data_; }
  std::size_t size() const { return size_; }
  const std::filesystem::path& path() const { return path_; }

 private:
  MappedFile() = default;
  std::filesystem::path path_;
  const std::byte* data_ = nullptr;
  std::size_t size_ = 0;
};

// Drops the pages that lie wholly inside [data, data + size) of a read-only mapping from this
// process's resident set (madvise MADV_DONTNEED). The mapping stays valid: a page read again comes
// back from the file (or the page cache). Called once a mapped tensor has been copied into the
// engine's own memory, so that opening a model costs the weights once, not twice (issue 9).
// Does nothing unless the whole range lies inside a live MappedFile: on ordinary memory (a tensor
// in memory viewed as a checkpoint) MADV_DONTNEED would zero the data, not drop a copy.
void release_mapped_pages(const void* data, std::size_t size);

}  // namespace ms
