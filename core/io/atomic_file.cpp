// AtomicFile: an anonymous file in the target's directory (O_TMPFILE), fsync, linked under a
// hidden name ("." + name + ".tmp.<pid>.<n>") and renamed over the target. Anonymous until
// commit, a write killed outright (SIGKILL) leaves nothing at all: the kernel frees the inode.
// Where O_TMPFILE is not supported (some filesystems, no /proc), the hidden name is created up
// front instead and a SIGKILL can leave it. Same directory so rename(2) is atomic (no
// cross-device copy). Does not preserve the old file's permissions or owner; outputs are new
// files of ours.
#include "core/io/atomic_file.h"

#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <string>

#include "core/util/error.h"

namespace ms {

namespace {

// Writing past RLIMIT_FSIZE raises SIGXFSZ, whose default action kills the process. Ignored, the
// write fails with EFBIG and we report it like a full disk. Done once, on first use, so that a
// program that never writes never has its signal dispositions touched.
void ignore_sigxfsz_once() {
  static const bool done = [] {
    std::signal(SIGXFSZ, SIG_IGN);
    return true;
  }();
  (void)done;
}

std::atomic<unsigned> g_counter{0};

std::string errno_text(int err) { return std::strerror(err); }

// fsync of the directory makes the rename itself durable; failure here is not fatal (some
// filesystems refuse fsync on directories), the data is already safe.
void sync_directory(const std::filesystem::path& dir) {
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd >= 0) {
    ::fsync(fd);
    ::close(fd);
  }
}

}  // namespace

AtomicFile::AtomicFile(std::filesystem::path target) : target_(std::move(target)) {
  ignore_sigxfsz_once();
  std::filesystem::path dir = target_.parent_path();
  if (dir.empty()) dir = ".";
  std::error_code ec;
  if (!std::filesystem::is_directory(dir, ec)) {
    throw InputError(dir.string(), "output directory does not exist");
  }
  if (target_.filename().empty()) throw InputError(target_.string(), "not a file name");
  const std::string name = "." + target_.filename().string() + ".tmp." +
                           std::to_string(::getpid()) + "." + std::to_string(g_counter++);
  temp_ = dir / name;
  // /proc/self/fd is how an unprivileged process gives an O_TMPFILE inode a name (linkat).
  if (::access("/proc/self/fd", X_OK) == 0) {
    const int fd = ::open(dir.c_str(), O_TMPFILE | O_WRONLY | O_CLOEXEC, 0666);
    if (fd >= 0) {
      file_ = ::fdopen(fd, "wb");
      if (file_ == nullptr) ::close(fd);
      anonymous_ = file_ != nullptr;
    }
  }
  if (anonymous_) return;
  // "x": fail rather than clobber if a stale temp of the same name exists.
  file_ = std::fopen(temp_.c_str(), "wbx");
  if (file_ == nullptr) {
    throw InputError(target_.string(), "cannot create temporary file: " + errno_text(errno));
  }
}

AtomicFile::~AtomicFile() {
  if (file_ != nullptr) std::fclose(file_);
  if (!committed_) {
    std::error_code ec;
    std::filesystem::remove(temp_, ec);
  }
}

void AtomicFile::write(const void* data, std::size_t size) {
  if (file_ == nullptr) throw InputError(target_.string(), "write failed: file already closed");
  if (size == 0) return;
  errno = 0;
  if (std::fwrite(data, 1, size, file_) != size) {
    const int err = errno != 0 ? errno : EIO;
    std::fclose(file_);
    file_ = nullptr;
    std::error_code ec;
    std::filesystem::remove(temp_, ec);
    throw InputError(target_.string(), "write failed: " + errno_text(err));
  }
}

void AtomicFile::commit() {
  if (committed_) return;
  if (file_ == nullptr) throw InputError(target_.string(), "write failed: file already closed");
  // Buffered bytes surface their errors (ENOSPC, EFBIG) only here, so every step is checked.
  int err = 0;
  errno = 0;
  if (std::fflush(file_) != 0) err = errno != 0 ? errno : EIO;
  if (err == 0 && ::fsync(::fileno(file_)) != 0) err = errno;
  if (err == 0 && anonymous_) {
    const std::string fd_path = "/proc/self/fd/" + std::to_string(::fileno(file_));
    if (::linkat(AT_FDCWD, fd_path.c_str(), AT_FDCWD, temp_.c_str(), AT_SYMLINK_FOLLOW) != 0)
      err = errno;
  }
  if (std::fclose(file_) != 0 && err == 0) err = errno != 0 ? errno : EIO;
  file_ = nullptr;
  if (err == 0 && std::rename(temp_.c_str(), target_.c_str()) != 0) err = errno;
  if (err != 0) {
    std::error_code ec;
    std::filesystem::remove(temp_, ec);
    throw InputError(target_.string(), "write failed: " + errno_text(err));
  }
  committed_ = true;
  std::filesystem::path dir = target_.parent_path();
  sync_directory(dir.empty() ? std::filesystem::path(".") : dir);
}

void write_file_atomic(const std::filesystem::path& target, std::string_view content) {
  AtomicFile f(target);
  f.write(content);
  f.commit();
}

}  // namespace ms
