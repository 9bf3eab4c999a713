// `check MODEL`: validate a checkpoint and list every problem; exit 1 when there are problems.
#include <cstdio>

#include <nlohmann/json.hpp>

#include "core/cli/commands.h"
#include "core/cli/common.h"

namespace ms::cli {

Runner register_check(CLI::App& app) {
  auto* cmd = app.add_subcommand("check", "Validate a checkpoint and list every problem found "
                                          "(exit status 1 when there is any)");
  struct Args {
    std::string model;
    CommonOptions o;
  };
  auto a = std::make_shared<Args>();
  cmd->add_option("MODEL", a->model, "Model directory, config.json or weights file")->required();
  add_json_option(cmd, a->o);
  return [a] {
    std::vector<std::string> problems = check_checkpoint(a->model);
    // The tokenizer.json beside the weights comes in the same download; check_checkpoint reads
    // config and weights only, so read the tokenizer here (a broken one fails every text command).
    const std::filesystem::path given(a->model);
    std::filesystem::path dir = std::filesystem::is_directory(given) ? given : given.parent_path();
    if (dir.empty()) dir = ".";
    if (std::filesystem::is_regular_file(dir / "tokenizer.json")) {
      try {
        Tokenizer::from_file(dir / "tokenizer.json");
      } catch (const std::exception& e) {
        problems.push_back(e.what());
      }
    }
    if (a->o.json) {
      std::printf("%s\n", nlohmann::json{{"model", a->model}, {"ok", problems.empty()},
                                         {"problems", problems}}.dump(2).c_str());
    } else if (problems.empty()) {
      std::printf("ok: %s has no problems\n", a->model.c_str());
    } else {
      for (const std::string& p : problems) std::printf("%s\n", p.c_str());
      std::fprintf(stderr, "mambascope-cli: %zu problem(s) found in %s\n", problems.size(),
                   a->model.c_str());
    }
    return problems.empty() ? 0 : 1;
  };
}

}  // namespace ms::cli
