// `generate MODEL --prompt S [-n 64] [--temperature 0] [--seed N] [--echo]`: recurrent decoding.
#include <cstdio>

#include <nlohmann/json.hpp>

#include "core/cli/commands.h"
#include "core/cli/common.h"
#include "core/util/error.h"

namespace ms::cli {

Runner register_generate(CLI::App& app) {
  auto* cmd = app.add_subcommand("generate", "Continue a prompt by recurrent (cached) decoding; "
                                             "greedy at temperature 0; stops at EOS");
  struct Args {
    std::string model, prompt;
    int64_t n = 64;
    double temperature = 0;
    uint64_t seed = 0;
    bool echo = false;
    CommonOptions o;
  };
  auto a = std::make_shared<Args>();
  cmd->add_option("MODEL", a->model, "Model directory")->required();
  cmd->add_option("--prompt", a->prompt, "The prompt text")->required();
  cmd->add_option("-n,--max-new-tokens", a->n, "Tokens to generate at most")->capture_default_str()
      ->check(CLI::Range(int64_t{1}, int64_t{1} << 20));
  cmd->add_option("--temperature", a->temperature, "0 = greedy; > 0 samples")
      ->capture_default_str()->check(CLI::Range(0.0, 100.0));
  cmd->add_option("--seed", a->seed, "Sampling seed")->capture_default_str();
  cmd->add_flag("--echo", a->echo, "Print the prompt before the continuation");
  add_engine_options(cmd, a->o);
  add_tokenizer_options(cmd, a->o);
  return [a] {
    LoadedModel m = load_model(a->model, a->o);
    Tokenizer tok = load_tokenizer(m.checkpoint, a->o);
    std::vector<int32_t> prompt = encode(tok, a->prompt, a->o);
    if (prompt.empty()) throw UsageError("--prompt: the prompt has no tokens");
    GenerateOptions g;
    g.max_new_tokens = a->n;
    g.temperature = a->temperature;
    g.seed = a->seed;
    g.eos = tok.eos_id();
    if (!g.eos && m.checkpoint.config.eos_token_id)
      g.eos = static_cast<int32_t>(*m.checkpoint.config.eos_token_id);
    std::vector<int32_t> out = generate(*m.model, prompt, g);
    bool stopped = g.eos && !out.empty() && out.back() == *g.eos;
    std::vector<int32_t> shown(out.begin(), out.end() - (stopped ? 1 : 0));
    std::string text = tok.decode(shown);
    if (a->o.json) {
      nlohmann::json j{{"prompt", a->prompt}, {"prompt_ids", prompt}, {"ids", out},
                       {"text", text}, {"stopped_at_eos", stopped}};
      std::printf("%s\n", j.dump(2).c_str());
    } else {
      std::printf("%s%s\n", a->echo ? a->prompt.c_str() : "", text.c_str());
    }
    return 0;
  };
}

}  // namespace ms::cli
