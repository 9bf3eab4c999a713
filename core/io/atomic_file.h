// Atomic output: write to a temporary file beside the target, fsync, then rename over it. If the
// writer is destroyed without commit() (an exception, a cancel), the temporary file is removed,
// so a reader never sees a half-written output. The temporary file is anonymous (O_TMPFILE) where
// the filesystem allows, so even a killed writer leaves nothing behind (atomic_file.cpp).
#pragma once

#include <cstddef>
#include <cstdio>
#include <filesystem>
#include <string_view>

namespace ms {

class AtomicFile {
 public:
  // Throws InputError when the target's directory does not exist or is not writable.
  explicit AtomicFile(std::filesystem::path target);
  ~AtomicFile();
  AtomicFile(const AtomicFile&) = delete;
  AtomicFile& operator=(const AtomicFile&) = delete;

  // Throw InputError("<target>: write failed: <reason>") on a short write (disk full, EFBIG).
  void write(const void* data, std::size_t size);
  void write(std::string_view text) { write(text.data(), text.size()); }
  void commit();  // flush, fsync, rename; throws on failure (and removes the temporary)

  const std::filesystem::path& target() const { return target_; }

 private:
  std::filesystem::path target_;
  std::filesystem::path temp_;
  std::FILE* file_ = nullptr;
  bool anonymous_ = false;  // O_TMPFILE: temp_ exists only from commit() on
  bool committed_ = false;
};

// Convenience: the whole content at once.
void write_file_atomic(const std::filesystem::path& target, std::string_view content);

}  // namespace ms
