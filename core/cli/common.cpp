#include "core/cli/common.h"

#include <cstdlib>

#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <sstream>

#include <ATen/Parallel.h>

#include "core/engine/device.h"
#include "core/tokenizer/unicode.h"
#include "core/util/error.h"
#include "core/util/sha256.h"

namespace ms::cli {

void add_json_option(CLI::App* cmd, CommonOptions& o) {
  cmd->add_flag("--json", o.json, "Write one JSON object to stdout instead of text");
}

void add_engine_options(CLI::App* cmd, CommonOptions& o) {
  cmd->add_option("--device", o.device, "cpu, cuda, cuda:N or auto (cuda when available)")
      ->capture_default_str();
  cmd->add_option("--dtype", o.dtype, "Compute dtype: fp32 or bf16")
      ->check(CLI::IsMember({"fp32", "bf16"}))
      ->capture_default_str();
  cmd->add_option("--threads", o.threads, "CPU threads (default: all cores)")
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--gated-norm", o.gated_norm,
                  "Mamba-2 with n_groups > 1: 'group' normalises each group of E/G channels "
                  "(original implementation, llama.cpp); 'full' normalises all E (HF transformers)")
      ->check(CLI::IsMember({"group", "full"}))
      ->capture_default_str();
  add_json_option(cmd, o);
}

void add_tokenizer_options(CLI::App* cmd, CommonOptions& o) {
  cmd->add_option("--tokenizer", o.tokenizer,
                  "tokenizer.json to use (needed for the state-spaces layout, which ships none)");
  cmd->add_flag("--add-bos", o.add_bos, "Prepend the BOS token to the text");
}

std::string read_text_file(const std::filesystem::path& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) throw InputError(file.string(), "cannot open");
  std::ostringstream ss;
  ss << in.rdbuf();
  if (in.bad()) throw InputError(file.string(), "read failed");
  std::string text = ss.str();
  // Checked here so that the message names the text file, not the tokenizer.
  size_t bad = tok::utf8_first_invalid(text);
  if (bad != std::string::npos)
    throw InputError(file.string(), "text is not valid UTF-8 at byte " + std::to_string(bad));
  return text;
}

Tokenizer load_tokenizer(const Checkpoint& ck, const CommonOptions& o) {
  if (!o.tokenizer.empty()) return Tokenizer::from_file(o.tokenizer);
  if (ck.tokenizer_file) return Tokenizer::from_file(*ck.tokenizer_file);
  throw InputError(ck.dir.string(), "no tokenizer.json beside the model; pass --tokenizer FILE "
                                    "(the state-spaces layout ships none; the released models "
                                    "use GPT-NeoX-20B's)");
}

std::vector<int32_t> encode(const Tokenizer& tok, const std::string& text, const CommonOptions& o) {
  std::vector<int32_t> ids = tok.encode(text);
  if (o.add_bos) {
    std::optional<int32_t> bos = tok.bos_id();
    if (!bos) throw InputError(tok.source(), "--add-bos: the tokenizer declares no BOS token");
    ids.insert(ids.begin(), *bos);
  }
  return ids;
}

EngineOptions engine_options(const CommonOptions& o) {
  if (o.threads > 0) at::set_num_threads(o.threads);
  EngineOptions e;
  e.device = resolve_device(o.device);
  e.dtype = resolve_dtype(o.dtype);
  e.gated_norm = o.gated_norm == "full" ? GatedNorm::Full : GatedNorm::PerGroup;
  return e;
}

LoadedModel load_model(const std::string& path, const CommonOptions& o) {
  LoadedModel m;
  m.checkpoint = open_checkpoint(path);
  m.model = MambaModel::load(m.checkpoint, engine_options(o));
  return m;
}

ProgressFn progress_reporter(const std::string& label, const std::string& unit) {
  const bool tty = isatty(STDERR_FILENO);
  const std::string rate_unit = unit == "tokens" ? "tok" : unit;
  auto start = std::chrono::steady_clock::now();
  auto last = std::make_shared<std::chrono::steady_clock::time_point>(start);
  return [=](int64_t done, int64_t total) {
    auto now = std::chrono::steady_clock::now();
    const bool finished = done >= total;
    if (!finished && now - *last < std::chrono::milliseconds(tty ? 100 : 2000)) return true;
    *last = now;
    double secs = std::chrono::duration<double>(now - start).count();
    double rate = secs > 0 ? done / secs : 0;
    int pct = total > 0 ? static_cast<int>(100.0 * done / total) : 100;
    if (tty) {
      int filled = pct * 30 / 100;
      std::fprintf(stderr, "\r%s [%.*s%*s] %3d%%  %lld/%lld %s  %.0f %s/s", label.c_str(),
                   filled, "==============================", 30 - filled, "", pct,
                   static_cast<long long>(done), static_cast<long long>(total), unit.c_str(), rate,
                   rate_unit.c_str());
      if (finished) std::fputc('\n', stderr);
    } else {
      std::fprintf(stderr, "%s: %d%% (%lld/%lld %s, %.0f %s/s)\n", label.c_str(), pct,
                   static_cast<long long>(done), static_cast<long long>(total), unit.c_str(), rate,
                   rate_unit.c_str());
    }
    std::fflush(stderr);
    return true;
  };
}

std::vector<int32_t> parse_ids(const std::string& text) {
  std::vector<int32_t> ids;
  std::stringstream ss(text);
  std::string item;
  while (std::getline(ss, item, ',')) {
    size_t used = 0;
    long long v = 0;
    try {
      v = std::stoll(item, &used);
    } catch (...) {
      used = 0;
    }
    if (used == 0 || used != item.size() || v < 0 || v > INT32_MAX)
      throw UsageError("--ids: '" + item + "' is not a token id (give ids like 1,2,3)");
    ids.push_back(static_cast<int32_t>(v));
  }
  if (ids.empty()) throw UsageError("--ids: no ids given");
  return ids;
}

std::optional<std::filesystem::path> shipped_calibration_text() {
  namespace fs = std::filesystem;
  std::vector<fs::path> dirs;
  if (const char* env = std::getenv("MAMBASCOPE_DATA_DIR")) dirs.emplace_back(env);
  std::error_code ec;
  const fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  if (!ec) {
    dirs.push_back(exe.parent_path() / ".." / "share" / "mambascope");
    dirs.push_back(exe.parent_path() / ".." / ".." / "resources");
  }
  for (const fs::path& d : dirs)
    if (fs::is_regular_file(d / "texts" / "austen.txt")) return (d / "texts" / "austen.txt").lexically_normal();
  return std::nullopt;
}

std::vector<CalibText> calibration_texts(const Checkpoint& ck, std::vector<std::string> files,
                                         const std::vector<std::string>& sha256,
                                         const std::optional<std::filesystem::path>& tokenizer) {
  if (files.empty()) {
    const std::optional<std::filesystem::path> def = shipped_calibration_text();
    if (!def)
      throw UsageError("calibration needs a text: pass --calib-file (the default text "
                       "resources/texts/austen.txt was not found)");
    files.push_back(def->string());
  }
  CommonOptions o;
  if (tokenizer) o.tokenizer = tokenizer->string();
  const Tokenizer tok = load_tokenizer(ck, o);
  std::vector<CalibText> texts;
  for (size_t i = 0; i < files.size(); ++i) {
    const std::string content = read_text_file(files[i]);
    const std::string digest = sha256_hex(content);
    if (i < sha256.size() && !sha256[i].empty() && sha256[i] != digest)
      throw InputError(files[i], "changed since the scheme recorded it (SHA-256 differs)");
    texts.push_back({files[i], digest, encode(tok, content, o)});
  }
  return texts;
}

}  // namespace ms::cli
