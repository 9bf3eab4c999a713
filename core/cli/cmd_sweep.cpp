// `sweep MODEL --scheme mambascope.json --file F [--by layer|point]`: the scheme applied to one
// layer (all its weights, Linear inputs and state) or one quant point at a time, everything else
// float, ranked by the damage each does alone: mean KL(float ‖ quantized) of next-token
// distributions, with Δ perplexity and top-1 agreement beside it. The float run happens once (its
// logits are kept per window); each unit then costs one quantized forward over the text. A scheme
// with transforms runs its method chain as quantize does (core/cli/scheme_model.h): "float" is
// then the transformed model in float, run-time parts (S-SiLU, online Hadamard) at every layer.
#include <algorithm>
#include <cstdio>
#include <set>

#include <nlohmann/json.hpp>

#include "core/cli/commands.h"
#include "core/cli/common.h"
#include "core/cli/scheme_args.h"
#include "core/engine/fake_quant.h"
#include "core/util/error.h"

namespace ms::cli {
using nlohmann::json;

namespace {

struct Unit {
  std::string name;                   // `layers.3` or a quant point
  std::vector<size_t> weights;        // indices into SchemeWeights::quantized
  std::set<QuantPoint> points;        // activation / state points
  EndToEndMetrics metrics;
};

std::vector<Unit> make_units(const std::string& by, const ModelConfig& c, const Scheme& s,
                             const SchemeWeights& w) {
  std::vector<Unit> units;
  auto quantized_here = [&](const QuantPoint& p) {
    return (p.site == Site::Input && s.act.enabled()) || (p.site == Site::State && s.state.enabled());
  };
  if (by == "layer") {
    for (int i = 0; i < c.n_layer; ++i) {
      Unit u{"layers." + std::to_string(i), {}, {}, {}};
      for (size_t k = 0; k < w.quantized.size(); ++k)
        if (w.quantized[k].point.layer == i) u.weights.push_back(k);
      for (const QuantPoint& p : activation_points(c))
        if (p.layer == i && quantized_here(p)) u.points.insert(p);
      if (!u.weights.empty() || !u.points.empty()) units.push_back(std::move(u));
    }
    return units;
  }
  // By point, in forward order per layer: each weight, then each activation or state point.
  for (int i = 0; i < c.n_layer; ++i) {
    for (size_t k = 0; k < w.quantized.size(); ++k)
      if (w.quantized[k].point.layer == i) units.push_back({w.quantized[k].key, {k}, {}, {}});
    for (const QuantPoint& p : activation_points(c))
      if (p.layer == i && quantized_here(p)) units.push_back({p.str(), {}, {p}, {}});
  }
  return units;
}

}  // namespace

Runner register_sweep(CLI::App& app) {
  auto* cmd = app.add_subcommand(
      "sweep", "Quantize one layer or one quant point at a time (the rest float) and rank them by "
               "damage: mean KL of next-token distributions, delta perplexity, top-1 agreement");
  struct Args {
    EvalArgs e;
    std::string by = "layer";
  };
  auto a = std::make_shared<Args>();
  add_eval_options(cmd, a->e);
  cmd->add_option("--by", a->by, "layer (all of a layer's points at once) or point")
      ->capture_default_str()->check(CLI::IsMember({"layer", "point"}));
  return [a] {
    const EvalInputs in = load_eval_inputs(a->e);
    const Scheme& scheme = in.scheme;
    const SchemeWeights& w = in.weights;
    const MambaModel& fmodel = *in.model.model;
    std::vector<Unit> units = make_units(a->by, fmodel.config(), scheme, w);
    if (units.empty())
      throw UsageError("the scheme quantizes nothing (" + scheme.describe() + "): nothing to sweep");

    QuantEvalOptions eo;
    eo.ctx = a->e.ctx;
    eo.stride = a->e.stride;
    eo.point_metrics = false;
    std::vector<at::Tensor> float_logits;
    ProgressFn bar = progress_reporter("sweep");
    const int64_t total = int64_t(units.size());
    for (int64_t k = 0; k < total; ++k) {
      Unit& u = units[size_t(k)];
      std::unique_ptr<MambaModel> qmodel;
      if (!u.weights.empty() || w.transformed) qmodel = load_with(w, u.weights, fmodel.options());
      const std::unique_ptr<PointFakeQuant> fq = scheme_fake_quant(in, u.points);
      u.metrics = evaluate_quantized(fmodel, qmodel ? *qmodel : fmodel, fq.get(), in.ids, eo, {},
                                     &float_logits).end_to_end;
      if (!bar(k + 1, total)) throw Cancelled();
    }
    // Most damaging first; ties (e.g. exact units) keep forward order.
    std::stable_sort(units.begin(), units.end(), [](const Unit& x, const Unit& y) {
      return x.metrics.kl_mean > y.metrics.kl_mean;
    });
    const EndToEndMetrics& any = units.front().metrics;
    if (a->e.o.json) {
      json rows = json::array();
      for (size_t r = 0; r < units.size(); ++r) {
        json row = end_to_end_json(units[r].metrics);
        row["rank"] = r + 1;
        row["unit"] = units[r].name;
        rows.push_back(row);
      }
      json j{{"model", a->e.model},         {"file", a->e.file},
             {"scheme", scheme.to_json()}, {"scheme_text", scheme.describe()},
             {"by", a->by},               {"ctx", a->e.ctx},
             {"tokens", any.tokens},      {"perplexity_float", any.ppl_float},
             {"ranked_by", "kl_mean"},    {"units", rows}};
      std::printf("%s\n", j.dump(2).c_str());
      return 0;
    }
    std::printf("scheme: %s, one %s at a time\n", scheme.describe().c_str(), a->by.c_str());
    std::printf("tokens: %lld predicted; float perplexity %.6f\n\n", (long long)any.tokens, any.ppl_float);
    std::printf("%4s  %-32s %12s %12s %12s %9s\n", "rank", a->by.c_str(), "KL mean", "KL p99",
                "delta ppl", "top-1 %");
    for (size_t r = 0; r < units.size(); ++r) {
      const EndToEndMetrics& e = units[r].metrics;
      std::printf("%4zu  %-32s %12.4e %12.4e %+12.6f %9.4f\n", r + 1, units[r].name.c_str(), e.kl_mean,
                  e.kl_p99, e.delta_ppl, 100.0 * e.top1);
    }
    return 0;
  };
}

}  // namespace ms::cli
