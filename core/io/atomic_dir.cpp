#include "core/io/atomic_dir.h"

#include <unistd.h>

#include <string>

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

void write_directory_atomically(const fs::path& out,
                                const std::function<void(const fs::path& tmp)>& write) {
  const fs::path parent = out.has_parent_path() ? out.parent_path() : fs::path(".");
  const fs::path tmp = parent / ("." + out.filename().string() + ".tmp-" + std::to_string(getpid()));
  std::error_code ec;
  fs::remove_all(tmp, ec);
  try {
    fs::create_directory(tmp);
    write(tmp);
    fs::rename(tmp, out);
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
