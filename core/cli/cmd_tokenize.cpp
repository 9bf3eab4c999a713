// `tokenize MODEL|tokenizer.json (--text S | --file F)`: the ids of the whole text, separated by
// single spaces on one line.
#include <cstdio>
#include <filesystem>

#include <nlohmann/json.hpp>

#include "core/cli/commands.h"
#include "core/cli/common.h"
#include "core/util/error.h"

namespace ms::cli {

Runner register_tokenize(CLI::App& app) {
  auto* cmd = app.add_subcommand("tokenize", "Token ids of a text (one line, space separated)");
  struct Args {
    std::string source, text, file;
    CommonOptions o;
  };
  auto a = std::make_shared<Args>();
  cmd->add_option("MODEL", a->source, "Model directory (its tokenizer.json) or a tokenizer.json")
      ->required();
  auto* text = cmd->add_option("--text", a->text, "The text to tokenize");
  auto* file = cmd->add_option("--file", a->file, "A UTF-8 file, used byte for byte");
  text->excludes(file);
  add_tokenizer_options(cmd, a->o);
  add_json_option(cmd, a->o);
  return [a, text, file] {
    if (!*text && !*file) throw UsageError("tokenize needs --text or --file");
    namespace fs = std::filesystem;
    fs::path p(a->source);
    std::optional<Tokenizer> tok;
    if (!a->o.tokenizer.empty()) tok.emplace(Tokenizer::from_file(a->o.tokenizer));
    else if (fs::is_regular_file(p) && p.extension() == ".json" && p.filename() != "config.json")
      tok.emplace(Tokenizer::from_file(p));
    else {
      fs::path dir = fs::is_directory(p) ? p : p.parent_path();
      if (!fs::exists(p)) throw InputError(p.string(), "no such file or directory");
      if (!fs::exists(dir / "tokenizer.json"))
        throw InputError(dir.string(), "no tokenizer.json here; pass --tokenizer FILE");
      tok.emplace(Tokenizer::from_file(dir / "tokenizer.json"));
    }
    std::string content = *file ? read_text_file(a->file) : a->text;
    std::vector<int32_t> ids;
    try {
      ids = encode(*tok, content, a->o);
    } catch (const InputError& e) {
      // Name the text's origin, not the tokenizer, for bad UTF-8.
      std::string msg = e.what();
      if (*file && msg.find("UTF-8") != std::string::npos)
        throw InputError(a->file, msg.substr(msg.find("text is")));
      throw;
    }
    if (a->o.json) {
      std::printf("%s\n", nlohmann::json{{"ids", ids}, {"count", ids.size()}}.dump().c_str());
      return 0;
    }
    std::string line;
    for (size_t i = 0; i < ids.size(); ++i) line += (i ? " " : "") + std::to_string(ids[i]);
    std::printf("%s\n", line.c_str());
    return 0;
  };
}

}  // namespace ms::cli
