// CleanupGuard: removes a temporary path if this process dies before it is done with it, even by
// SIGKILL, when none of our code runs. A tiny watcher process (/bin/sh) holds one end of a socket
// whose other end only we hold; when we die the kernel closes our end, the watcher reads
// end-of-file and removes the path. dismiss() (the write committed, or we cleaned up ourselves)
// tells the watcher to leave the path alone and reaps it.
//
// Used by write_directory_atomically: an export killed in the middle leaves nothing behind, not
// even the hidden sibling (issue 9, tests/cli/tst_cli_faults.cpp). If the watcher cannot be
// started the guard does nothing, and the next write of the same target removes the stale sibling.
#pragma once

#include <sys/types.h>

#include <filesystem>

namespace ms {

class CleanupGuard {
 public:
  explicit CleanupGuard(const std::filesystem::path& path);
  ~CleanupGuard();  // dismisses
  CleanupGuard(const CleanupGuard&) = delete;
  CleanupGuard& operator=(const CleanupGuard&) = delete;

  void dismiss();
  bool active() const { return pid_ > 0; }

 private:
  pid_t pid_ = -1;
  int socket_ = -1;  // our end
};

}  // namespace ms
