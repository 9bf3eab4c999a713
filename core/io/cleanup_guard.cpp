#include "core/io/cleanup_guard.h"

#include <fcntl.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <string>

extern char** environ;

namespace ms {

namespace {
// The watcher: blocks until a line or end-of-file arrives on stdin. "keep" means the owner
// finished normally; anything else (end-of-file: the owner died) removes the path.
constexpr const char* kScript = "read -r word; [ \"$word\" = keep ] || rm -rf -- \"$1\"";
}  // namespace

CleanupGuard::CleanupGuard(const std::filesystem::path& path) {
  int sv[2];
  // SOCK_CLOEXEC: neither end leaks into other children; the watcher gets its end as stdin only.
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) return;
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, sv[1], 0);
  // Not our stdout/stderr: a parent reading them (QProcess, a pipe) must see end-of-file when we
  // exit, not when the watcher does.
  posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0);
  const std::string p = path.string();
  char* const argv[] = {const_cast<char*>("sh"), const_cast<char*>("-c"),
                        const_cast<char*>(kScript), const_cast<char*>("mambascope-cleanup"),
                        const_cast<char*>(p.c_str()), nullptr};
  pid_t pid = -1;
  const int rc = ::posix_spawn(&pid, "/bin/sh", &actions, nullptr, argv, environ);
  posix_spawn_file_actions_destroy(&actions);
  ::close(sv[1]);
  if (rc != 0) {
    ::close(sv[0]);
    return;
  }
  pid_ = pid;
  socket_ = sv[0];
}

CleanupGuard::~CleanupGuard() { dismiss(); }

void CleanupGuard::dismiss() {
  if (pid_ <= 0) return;
  // MSG_NOSIGNAL: a watcher that already died must not take us down with SIGPIPE.
  static const char kKeep[] = "keep\n";
  (void)::send(socket_, kKeep, sizeof kKeep - 1, MSG_NOSIGNAL);
  ::close(socket_);
  int status = 0;
  while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
  }
  pid_ = -1;
  socket_ = -1;
}

}  // namespace ms
