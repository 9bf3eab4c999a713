#include "core/io/atomic_dir.h"

#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <string>

#include "core/io/cleanup_guard.h"
#include "core/util/error.h"

namespace ms {
namespace fs = std::filesystem;

fs::path prepare_output_directory(const fs::path& requested) {
  fs::path out = requested;
  if (out.filename().empty()) out = out.parent_path();  // "dir/" -> "dir"
  const fs::path parent = out.has_parent_path() ? out.parent_path() : fs::path(".");
  if (!fs::is_directory(parent)) throw InputError(parent.string(), "output directory does not exist");
  if (fs::exists(out)) throw InputError(out.string(), "already exists; choose a new --out");
  return out;
}

namespace {
// A writer killed outright (SIGKILL) has its sibling removed by its CleanupGuard's watcher. When
// that could not run (no /bin/sh, power loss), the next write of the same target removes every
// ".<name>.tmp-<pid>" whose process no longer exists (tests/cli/tst_cli_faults.cpp). A sibling
// whose pid is alive (a concurrent writer, or a reused pid) is left alone.
void remove_stale_siblings(const fs::path& parent, const std::string& name) {
  const std::string prefix = "." + name + ".tmp-";
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(parent, ec)) {
    const std::string f = e.path().filename().string();
    if (f.size() <= prefix.size() || f.compare(0, prefix.size(), prefix) != 0) continue;
    const std::string pid = f.substr(prefix.size());
    if (pid.size() > 9 || pid.find_first_not_of("0123456789") != std::string::npos) continue;
    if (::kill(static_cast<pid_t>(std::stol(pid)), 0) != 0 && errno == ESRCH)
      fs::remove_all(e.path(), ec);
  }
}
}  // namespace

void write_directory_atomically(const fs::path& out,
                                const std::function<void(const fs::path& tmp)>& write) {
  const fs::path parent = out.has_parent_path() ? out.parent_path() : fs::path(".");
  const fs::path tmp = parent / ("." + out.filename().string() + ".tmp-" + std::to_string(getpid()));
  remove_stale_siblings(parent, out.filename().string());
  std::error_code ec;
  fs::remove_all(tmp, ec);
  // Before the sibling exists: if we are killed from here on, the watcher removes it.
  CleanupGuard guard(tmp);
  try {
    fs::create_directory(tmp);
    write(tmp);
    fs::rename(tmp, out);
    guard.dismiss();
  } catch (const InputError& e) {
    fs::remove_all(tmp, ec);
    // Name the directory the user asked for, not our temporary one.
    std::string msg = e.what();
    const std::string t = tmp.string();
    for (size_t at = msg.find(t); at != std::string::npos; at = msg.find(t, at + out.string().size()))
      msg.replace(at, t.size(), out.string());
    throw InputError("", msg);
  } catch (...) {
    fs::remove_all(tmp, ec);
    throw;
  }
}

}  // namespace ms
