// What every mambascope-cli command shares: the common flags of shared/CLI-CONTRACT.md, loading
// text, tokenizer and model, progress on stderr, and output helpers.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "core/engine/calibration.h"
#include "core/engine/evaluation.h"
#include "core/engine/mamba_model.h"
#include "core/model/checkpoint.h"
#include "core/tokenizer/tokenizer.h"

namespace ms::cli {

struct CommonOptions {
  std::string device = "auto";
  std::string dtype = "fp32";
  int threads = 0;  // 0: LibTorch's default
  bool json = false;
  std::string tokenizer;  // --tokenizer FILE
  bool add_bos = false;
  std::string gated_norm = "group";
};

// Adds --device, --dtype, --threads, --json (and --gated-norm) to a subcommand.
void add_engine_options(CLI::App* cmd, CommonOptions& o);
void add_json_option(CLI::App* cmd, CommonOptions& o);
// Adds --tokenizer and --add-bos.
void add_tokenizer_options(CLI::App* cmd, CommonOptions& o);

// Reads a text file byte for byte; refuses non-UTF-8 with the byte offset, naming the file.
std::string read_text_file(const std::filesystem::path& file);
// The shipped calibration text (texts/austen.txt): under $MAMBASCOPE_DATA_DIR, an installed
// share/mambascope, or the source tree's resources/ beside build/bin; nullopt when none exists.
std::optional<std::filesystem::path> shipped_calibration_text();

// tokenizer.json beside the model, or --tokenizer; throws InputError with a hint when neither.
Tokenizer load_tokenizer(const Checkpoint& ck, const CommonOptions& o);
std::vector<int32_t> encode(const Tokenizer& tok, const std::string& text, const CommonOptions& o);

// Calibration texts (transforms, GPTQ, static scales) tokenized with the model's tokenizer (or
// `tokenizer`): `files`, or the shipped default text when empty. A non-empty `sha256[i]` must match
// file i (InputError naming the file when it changed since a scheme recorded it).
std::vector<CalibText> calibration_texts(const Checkpoint& ck, std::vector<std::string> files,
                                         const std::vector<std::string>& sha256,
                                         const std::optional<std::filesystem::path>& tokenizer);

struct LoadedModel {
  Checkpoint checkpoint;
  std::unique_ptr<MambaModel> model;
};
LoadedModel load_model(const std::string& path, const CommonOptions& o);
EngineOptions engine_options(const CommonOptions& o);  // also applies --threads

// A progress callback drawing a bar on a terminal, plain lines otherwise (stderr):
// "<label>: 45% (460/1024 <unit>, 300 <rate unit>/s)", the rate unit "tok" for tokens. The app
// parses the plain form (app/calibration_process.cpp, app/export_process.cpp).
ProgressFn progress_reporter(const std::string& label, const std::string& unit = "tokens");

// "1,2,3" -> ids; throws UsageError on anything else.
std::vector<int32_t> parse_ids(const std::string& text);

}  // namespace ms::cli
