// `eval MODEL --scheme mambascope.json --file F`: the float model vs the same model under the scheme
// (RTN weights, activation bits at every Linear input, state bits inside the recurrence), on the
// same windows of F (the perplexity protocol): end-to-end perplexity of both, Δ perplexity, KL of
// next-token distributions (mean, p50, p90, p99, max) and top-1 agreement; per quant point MSE,
// SQNR, cosine and max error for weights, activations and states (core/quant/metrics.h).
#include <cmath>
#include <cstdio>
#include <set>

#include <nlohmann/json.hpp>

#include "core/cli/commands.h"
#include "core/cli/common.h"
#include "core/cli/scheme_args.h"
#include "core/engine/device.h"
#include "core/engine/fake_quant.h"
#include "core/util/error.h"

namespace ms::cli {
using nlohmann::json;

namespace {

std::string sqnr_text(double v) {
  if (std::isinf(v)) return v > 0 ? "exact" : "-inf";
  char b[32];
  std::snprintf(b, sizeof b, "%.2f", v);
  return b;
}

void print_row(const std::string& point, const ErrorStats& e) {
  std::printf("%-32s %12.4e %9s %10.6f %12.4e\n", point.c_str(), e.mse, sqnr_text(e.sqnr_db).c_str(),
              e.cosine, e.max_abs);
}

}  // namespace

Runner register_eval(CLI::App& app) {
  auto* cmd = app.add_subcommand(
      "eval", "Float vs quantized on the same text: perplexity of both, KL divergence of next-token "
              "distributions, top-1 agreement, and per-point MSE/SQNR/cosine/max error of weights, "
              "activations and states");
  struct Args {
    std::string model, file;
    int64_t ctx = 2048, stride = 0, max_tokens = 0;
    bool no_points = false;
    SchemeArgs s;
    CommonOptions o;
  };
  auto a = std::make_shared<Args>();
  cmd->add_option("MODEL", a->model, "Model directory (the float model)")->required();
  cmd->add_option("--file", a->file, "UTF-8 text file, used byte for byte")->required();
  add_scheme_options(cmd, a->s);
  cmd->add_option("--ctx", a->ctx, "Window length in tokens (state reset per window)")
      ->capture_default_str()->check(CLI::Range(int64_t{2}, int64_t{1} << 24));
  cmd->add_option("--stride", a->stride, "Tokens between window starts (default: --ctx)")
      ->check(CLI::Range(int64_t{1}, int64_t{1} << 24));
  cmd->add_option("--max-tokens", a->max_tokens, "Use only the first N tokens of the text (0: all)")
      ->check(CLI::NonNegativeNumber);
  cmd->add_flag("--no-point-metrics", a->no_points,
                "Skip per-point activation/state errors (they keep one window's activations in memory)");
  add_engine_options(cmd, a->o);
  add_tokenizer_options(cmd, a->o);
  return [a] {
    const Scheme scheme = resolve_scheme(a->s);
    const std::optional<CalibStats> stats = scheme_statistics(scheme, a->s);
    LoadedModel m = load_model(a->model, a->o);
    Tokenizer tok = load_tokenizer(m.checkpoint, a->o);
    std::vector<int32_t> ids = encode(tok, read_text_file(a->file), a->o);
    if (a->max_tokens > 0 && int64_t(ids.size()) > a->max_tokens) ids.resize(size_t(a->max_tokens));

    const SchemeWeights w = scheme_weights_of(m.checkpoint, scheme);
    std::vector<size_t> all(w.quantized.size());
    for (size_t i = 0; i < all.size(); ++i) all[i] = i;
    std::unique_ptr<MambaModel> qmodel;
    if (!all.empty()) qmodel = load_with(w, all, m.model->options());
    const std::vector<QuantPoint> points = activation_points(m.model->config());
    PointFakeQuant fq(scheme.act, scheme.state, std::set<QuantPoint>(points.begin(), points.end()),
                      stats ? &*stats : nullptr);

    QuantEvalOptions eo;
    eo.ctx = a->ctx;
    eo.stride = a->stride;
    eo.point_metrics = !a->no_points;
    const QuantEvalResult r = evaluate_quantized(*m.model, qmodel ? *qmodel : *m.model, &fq, ids, eo,
                                                 progress_reporter("eval"));
    const EndToEndMetrics& e = r.end_to_end;
    if (a->o.json) {
      json weights = json::array(), acts = json::array();
      for (const WeightError& we : w.errors) {
        ErrorStats es{0, we.mse, we.sqnr_db, we.cosine, we.max_abs};
        es.count = 1;
        for (int64_t d : we.shape) es.count *= d;
        weights.push_back(error_json(we.key, es));
      }
      for (const PointError& p : r.points) acts.push_back(error_json(p.point, p.error));
      json j{{"model", a->model},
             {"file", a->file},
             {"scheme", scheme.to_json()},
             {"scheme_text", scheme.describe()},
             {"ctx", a->ctx},
             {"stride", a->stride > 0 ? a->stride : a->ctx},
             {"text_tokens", ids.size()},
             {"device", describe_device(m.model->options().device)},
             {"dtype", std::string(dtype_label(m.model->options().dtype))},
             {"end_to_end", end_to_end_json(e)},
             {"weights", weights},
             {"points", acts}};
      std::printf("%s\n", j.dump(2).c_str());
      return 0;
    }
    std::printf("scheme: %s\n", scheme.describe().c_str());
    std::printf("tokens: %lld predicted in %lld window(s) of %lld\n", (long long)e.tokens,
                (long long)e.windows, (long long)a->ctx);
    std::printf("perplexity: float %.6f, quantized %.6f, delta %+.6f\n", e.ppl_float, e.ppl_quant,
                e.delta_ppl);
    std::printf("KL(float || quantized) per token: mean %.6g, p50 %.6g, p90 %.6g, p99 %.6g, max %.6g\n",
                e.kl_mean, e.kl_p50, e.kl_p90, e.kl_p99, e.kl_max);
    std::printf("top-1 agreement: %.4f %%\n", 100.0 * e.top1);
    if (!w.errors.empty() || !r.points.empty())
      std::printf("\n%-32s %12s %9s %10s %12s\n", "point", "MSE", "SQNR dB", "cosine", "max error");
    for (const WeightError& we : w.errors) print_row(we.key, {0, we.mse, we.sqnr_db, we.cosine, we.max_abs});
    for (const PointError& p : r.points) print_row(p.point, p.error);
    return 0;
  };
}

}  // namespace ms::cli
