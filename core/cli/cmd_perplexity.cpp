// `perplexity MODEL --file F [--ctx 2048] [--stride N]`: the contract's windowed protocol
// (core/engine/evaluation.h).
#include <cstdio>

#include <nlohmann/json.hpp>

#include "core/cli/commands.h"
#include "core/cli/common.h"
#include "core/engine/device.h"

namespace ms::cli {

Runner register_perplexity(CLI::App& app) {
  auto* cmd = app.add_subcommand(
      "perplexity", "Perplexity of a text: windows of --ctx tokens every --stride, the state "
                    "reset per window, every predicted token counted, the last short window kept");
  struct Args {
    std::string model, file;
    int64_t ctx = 2048, stride = 0;
    CommonOptions o;
  };
  auto a = std::make_shared<Args>();
  cmd->add_option("MODEL", a->model, "Model directory")->required();
  cmd->add_option("--file", a->file, "UTF-8 text file, used byte for byte")->required();
  cmd->add_option("--ctx", a->ctx, "Window length in tokens")->capture_default_str()
      ->check(CLI::Range(int64_t{2}, int64_t{1} << 24));
  cmd->add_option("--stride", a->stride, "Tokens between window starts (default: --ctx)")
      ->check(CLI::Range(int64_t{1}, int64_t{1} << 24));
  add_engine_options(cmd, a->o);
  add_tokenizer_options(cmd, a->o);
  return [a] {
    LoadedModel m = load_model(a->model, a->o);
    Tokenizer tok = load_tokenizer(m.checkpoint, a->o);
    std::vector<int32_t> ids = encode(tok, read_text_file(a->file), a->o);
    const int64_t stride = a->stride > 0 ? a->stride : a->ctx;
    PerplexityResult r = perplexity(*m.model, ids, a->ctx, stride, progress_reporter("perplexity"));
    if (a->o.json) {
      nlohmann::json j{{"perplexity", r.perplexity}, {"mean_nll", r.mean_nll},
                       {"tokens", r.tokens}, {"windows", r.windows}, {"ctx", a->ctx},
                       {"stride", stride}, {"text_tokens", ids.size()}, {"file", a->file},
                       {"device", describe_device(m.model->options().device)},
                       {"dtype", std::string(dtype_label(m.model->options().dtype))}};
      std::printf("%s\n", j.dump(2).c_str());
    } else {
      std::printf("perplexity: %.6f\ntokens: %lld predicted in %lld window(s) of %lld\n",
                  r.perplexity, (long long)r.tokens, (long long)r.windows, (long long)a->ctx);
    }
    return 0;
  };
}

}  // namespace ms::cli
