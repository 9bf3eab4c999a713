// `eval MODEL --scheme mambascope.json --file F`: the float model vs the same model under the scheme
// (its method chain as quantize ran it: transforms, then RTN, GPTQ or ggml rounding, giving the
// very weights `quantize --format hf` exports; activation bits at every Linear input; state bits
// inside the recurrence; smooth-fused's S-SiLU and online Hadamard at run time), on the same
// windows of F (the perplexity protocol): end-to-end perplexity of both, Δ perplexity, KL of
// next-token distributions (mean, p50, p90, p99, max) and top-1 agreement; per quant point MSE,
// SQNR, cosine and max error for weights, activations and states (core/quant/metrics.h). With
// transforms, activations and states are compared with the transformed float model's (the same
// coordinates); the end-to-end numbers always with the original model.
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
    EvalArgs e;
    bool no_points = false;
  };
  auto a = std::make_shared<Args>();
  add_eval_options(cmd, a->e);
  cmd->add_flag("--no-point-metrics", a->no_points,
                "Skip per-point activation/state errors (they keep one window's activations in memory)");
  return [a] {
    const EvalInputs in = load_eval_inputs(a->e);
    const Scheme& scheme = in.scheme;
    const SchemeWeights& w = in.weights;
    const MambaModel& fmodel = *in.model.model;
    const std::vector<int32_t>& ids = in.ids;
    // The quantized side: every tensor as the export stores it, or the transformed float weights.
    std::unique_ptr<MambaModel> qmodel, tmodel;
    if (w.stored) qmodel = MambaModel::load(*w.stored, fmodel.options());
    else if (w.transformed) qmodel = MambaModel::load(w.base, fmodel.options());
    const std::vector<QuantPoint> points = activation_points(fmodel.config());
    const std::unique_ptr<PointFakeQuant> fq =
        scheme_fake_quant(in, std::set<QuantPoint>(points.begin(), points.end()));
    PointFakeQuant runtime_only(ActQuantSpec{}, StateQuantSpec{}, {});
    runtime_only.set_runtime_transforms(w.runtime);

    QuantEvalOptions eo;
    eo.ctx = a->e.ctx;
    eo.stride = a->e.stride;
    eo.point_metrics = !a->no_points;
    if (w.transformed && eo.point_metrics) {
      tmodel = MambaModel::load(w.base, fmodel.options());
      eo.point_reference = tmodel.get();
      eo.point_reference_fake_quant = &runtime_only;
    }
    const QuantEvalResult r = evaluate_quantized(fmodel, qmodel ? *qmodel : fmodel, fq.get(), ids, eo,
                                                 progress_reporter("eval"));
    const EndToEndMetrics& e = r.end_to_end;
    if (a->e.o.json) {
      json weights = json::array(), acts = json::array();
      for (const WeightError& we : w.errors) {
        ErrorStats es{0, we.mse, we.sqnr_db, we.cosine, we.max_abs};
        es.count = 1;
        for (int64_t d : we.shape) es.count *= d;
        weights.push_back(error_json(we.key, es));
      }
      for (const PointError& p : r.points) acts.push_back(error_json(p.point, p.error));
      json runtime = json::array();
      for (const RuntimeTransform& t : w.runtime) runtime.push_back({{"kind", t.kind}, {"point", t.point}});
      json j{{"model", a->e.model},
             {"file", a->e.file},
             {"scheme", scheme.to_json()},
             {"scheme_text", scheme.describe()},
             {"ctx", a->e.ctx},
             {"stride", a->e.stride > 0 ? a->e.stride : a->e.ctx},
             {"text_tokens", ids.size()},
             {"transformed", w.transformed},
             {"runtime_transforms", runtime},
             {"device", describe_device(fmodel.options().device)},
             {"dtype", std::string(dtype_label(fmodel.options().dtype))},
             {"end_to_end", end_to_end_json(e)},
             {"weights", weights},
             {"points", acts}};
      std::printf("%s\n", j.dump(2).c_str());
      return 0;
    }
    std::printf("scheme: %s\n", scheme.describe().c_str());
    std::printf("tokens: %lld predicted in %lld window(s) of %lld\n", (long long)e.tokens,
                (long long)e.windows, (long long)a->e.ctx);
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
