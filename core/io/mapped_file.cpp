// Read-only mmap of a whole file. The descriptor is closed right after mapping (the mapping keeps
// the pages reachable). Does not lock the file: a checkpoint rewritten underneath us is the
// writer's problem, which is why our own writers go through AtomicFile (rename, never truncate).
#include "core/io/mapped_file.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <map>
#include <mutex>

#include "core/util/error.h"

namespace ms {

namespace {
// Every live mapping, begin -> end: release_mapped_pages acts only inside one of them. A
// TensorView may point at ordinary memory (a checkpoint built from tensors in memory, as the
// transform pipeline does), where MADV_DONTNEED would zero the data instead of dropping a copy.
std::mutex g_mappings_mutex;
std::map<std::uintptr_t, std::uintptr_t> g_mappings;
}  // namespace

std::shared_ptr<const MappedFile> MappedFile::open(const std::filesystem::path& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw InputError(path.string(), std::string("cannot open: ") + std::strerror(errno));
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    const int err = errno;
    ::close(fd);
    throw InputError(path.string(), std::string("cannot open: ") + std::strerror(err));
  }
  // A directory or a FIFO would "open" fine and then fail in confusing ways later.
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    throw InputError(path.string(), "cannot open: not a regular file");
  }
  std::shared_ptr<MappedFile> file(new MappedFile());
  file->path_ = path;
  file->size_ = static_cast<std::size_t>(st.st_size);
  if (file->size_ > 0) {  // mmap of length 0 is EINVAL; an empty file is a valid (empty) input
    void* p = ::mmap(nullptr, file->size_, PROT_READ, MAP_PRIVATE, fd, 0);
    if (p == MAP_FAILED) {
      const int err = errno;
      ::close(fd);
      file->size_ = 0;
      throw InputError(path.string(), std::string("cannot map: ") + std::strerror(err));
    }
    file->data_ = static_cast<const std::byte*>(p);
    const auto begin = reinterpret_cast<std::uintptr_t>(p);
    std::lock_guard<std::mutex> lock(g_mappings_mutex);
    g_mappings[begin] = begin + file->size_;
  }
  ::close(fd);
  return file;
}

void release_mapped_pages(const void* data, std::size_t size) {
  if (data == nullptr || size == 0) return;
  const auto page = static_cast<std::uintptr_t>(::sysconf(_SC_PAGESIZE));
  const auto begin = reinterpret_cast<std::uintptr_t>(data);
  const std::uintptr_t first = (begin + page - 1) / page * page;  // partial pages are shared with
  const std::uintptr_t last = (begin + size) / page * page;       // neighbours: keep them
  if (last <= first) return;
  // Only inside a live file mapping of ours (the lock also keeps it from being unmapped meanwhile).
  std::lock_guard<std::mutex> lock(g_mappings_mutex);
  auto it = g_mappings.upper_bound(begin);
  if (it == g_mappings.begin()) return;
  --it;
  if (begin < it->first || begin + size > it->second) return;
  // Advice, not a requirement: a failure only means the pages stay resident.
  (void)::madvise(reinterpret_cast<void*>(first), last - first, MADV_DONTNEED);
}

MappedFile::~MappedFile() {
  if (data_ == nullptr) return;
  {
    std::lock_guard<std::mutex> lock(g_mappings_mutex);
    g_mappings.erase(reinterpret_cast<std::uintptr_t>(data_));
  }
  ::munmap(const_cast<std::byte*>(data_), size_);
}

}  // namespace ms
