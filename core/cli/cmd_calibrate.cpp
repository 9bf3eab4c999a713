// `calibrate MODEL --file F [--file G ...] --out S.safetensors [--seq-len 2048] [--batch N]
// [--max-tokens N] [--cov]`: statistics at every quant point (core/engine/calib_stats.h).
// Ctrl+C stops between batches and saves what was collected, marked cancelled.
#include <csignal>
#include <cstdio>

#include <nlohmann/json.hpp>

#include "core/cli/commands.h"
#include "core/cli/common.h"
#include "core/engine/calibration.h"
#include "core/util/error.h"
#include "core/util/sha256.h"

namespace ms::cli {
namespace {
volatile std::sig_atomic_t g_interrupted = 0;
void on_sigint(int) { g_interrupted = 1; }
}  // namespace

Runner register_calibrate(CLI::App& app) {
  auto* cmd = app.add_subcommand("calibrate", "Statistics at every quant point (per-channel absmax, "
                                              "min, max, sums, histograms; state absmax and mean |s|)");
  struct Args {
    std::string model, out;
    std::vector<std::string> files;
    int64_t seq_len = 2048, batch = 1, max_tokens = 0;
    bool cov = false;
    std::string engine = "auto";
    CommonOptions o;
  };
  auto a = std::make_shared<Args>();
  cmd->add_option("MODEL", a->model, "Model directory")->required();
  cmd->add_option("--file", a->files, "UTF-8 text file (repeat for several; each ends a sequence)")
      ->required();
  cmd->add_option("--out", a->out, "Statistics file (.safetensors, written atomically)")->required();
  cmd->add_option("--seq-len", a->seq_len, "Tokens per sequence (the last piece of a file is shorter)")
      ->capture_default_str()->check(CLI::Range(int64_t{1}, int64_t{1} << 24));
  cmd->add_option("--batch", a->batch, "Sequences per forward")->capture_default_str()
      ->check(CLI::Range(int64_t{1}, int64_t{1} << 16));
  cmd->add_option("--max-tokens", a->max_tokens, "Stop after this many tokens (0: all)")
      ->capture_default_str()->check(CLI::NonNegativeNumber);
  cmd->add_flag("--cov", a->cov, "Also accumulate X^T X (fp64) at every activation point");
  cmd->add_option("--engine", a->engine, "auto: our fused CUDA kernels on a GPU, the reference "
                                         "forward elsewhere; fused: insist; reference: the "
                                         "observer path (the definition the kernels are checked "
                                         "against)")
      ->capture_default_str()->check(CLI::IsMember({"auto", "fused", "reference"}));
  add_engine_options(cmd, a->o);
  add_tokenizer_options(cmd, a->o);
  return [a] {
    LoadedModel m = load_model(a->model, a->o);
    Tokenizer tok = load_tokenizer(m.checkpoint, a->o);
    std::vector<CalibText> texts;
    for (const std::string& f : a->files) {
      std::string content = read_text_file(f);
      texts.push_back({f, sha256_hex(content), encode(tok, content, a->o)});
    }
    CalibOptions co;
    co.seq_len = a->seq_len;
    co.batch = a->batch;
    co.max_tokens = a->max_tokens;
    co.covariance = a->cov;
    co.engine = a->engine == "fused"       ? CalibEngine::Fused
                : a->engine == "reference" ? CalibEngine::Reference
                                           : CalibEngine::Auto;
    auto previous = std::signal(SIGINT, on_sigint);
    ProgressFn bar = progress_reporter("calibrate");
    CalibStats stats = calibrate(*m.model, texts, co, [&](int64_t done, int64_t total) {
      bar(done, total);
      return g_interrupted == 0;
    });
    std::signal(SIGINT, previous);
    stats.metadata.fields["model"] = m.checkpoint.dir.string();
    stats.save(a->out);
    const bool cancelled = stats.metadata.fields["cancelled"] == "true";
    if (a->o.json)
      std::printf("%s\n", nlohmann::json{{"out", a->out}, {"tokens", stats.tokens},
                                         {"points", stats.activations.size() + stats.states.size()},
                                         {"cancelled", cancelled}}.dump().c_str());
    else
      std::fprintf(stderr, "wrote %s: %lld tokens, %zu activation and %zu state points\n",
                   a->out.c_str(), (long long)stats.tokens, stats.activations.size(), stats.states.size());
    if (cancelled)
      throw InputError(a->out, "interrupted after " + std::to_string(stats.tokens) +
                                   " tokens; the statistics collected so far were saved (marked cancelled)");
    return 0;
  };
}

}  // namespace ms::cli
