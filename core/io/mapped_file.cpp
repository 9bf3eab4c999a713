// Read-only mmap of a whole file. The descriptor is closed right after mapping (the mapping keeps
// the pages reachable). Does not lock the file: a checkpoint rewritten underneath us is the
// writer's problem, which is why our own writers go through AtomicFile (rename, never truncate).
#include "core/io/mapped_file.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "core/util/error.h"

namespace ms {

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
  }
  ::close(fd);
  return file;
}

MappedFile::~MappedFile() {
  if (data_ != nullptr) ::munmap(const_cast<std::byte*>(data_), size_);
}

}  // namespace ms
