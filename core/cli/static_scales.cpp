// Static activation scales. See static_scales.h.
#include "core/cli/static_scales.h"

#include <set>

#include "core/engine/mamba_model.h"
#include "core/model/quant_point.h"
#include "core/util/error.h"

namespace ms::cli {

StaticActAbsmax measure_static_absmax(const WeightSet& weights, const std::vector<RuntimeTransform>& runtime,
                                      const std::vector<CalibText>& texts, int64_t tokens, int64_t seq_len,
                                      const ProgressFn& progress) {
  // A hook that quantizes nothing: only the run-time parts act, and the observer sees their output.
  PointFakeQuant runtime_only(ActQuantSpec{}, StateQuantSpec{}, {});
  runtime_only.set_runtime_transforms(runtime);
  CalibOptions co;
  co.seq_len = seq_len;
  co.max_tokens = tokens;
  co.engine = CalibEngine::Reference;
  co.fake_quant = &runtime_only;
  const auto model = MambaModel::load(weights, EngineOptions{});
  const CalibStats stats = calibrate(*model, texts, co, progress);
  if (stats.metadata.fields.count("cancelled") && stats.metadata.fields.at("cancelled") == "true")
    throw Cancelled();
  StaticActAbsmax s = StaticActAbsmax::of(stats);
  s.after_runtime_transforms = true;
  return s;
}

std::optional<StaticActAbsmax> scheme_static_absmax(const Scheme& scheme, const SchemeArgs& args,
                                                    const SchemeWeights& weights, const Checkpoint& source,
                                                    const std::optional<std::filesystem::path>& tokenizer) {
  if (!scheme.act.enabled() || scheme.act.scale != ActScale::Static) return std::nullopt;
  if (!scheme.act_absmax.empty()) {
    // Recorded for this model? Every Linear input it has, and no other (a scheme recorded on
    // another model with the same module names would otherwise pass).
    const std::string where = args.scheme.empty() ? std::string("the scheme") : args.scheme;
    std::set<std::string> points;
    for (const QuantPoint& p : activation_points(source.config)) {
      if (p.site != Site::Input) continue;  // the state has no activation scale
      points.insert(p.str());
      if (!scheme.act_absmax.count(p.str()))
        throw InputError(where, "activations.absmax has no value for " + p.str() + " (recorded for another model?)");
    }
    for (const auto& [key, value] : scheme.act_absmax)
      if (!points.count(key)) throw InputError(where, "activations.absmax names " + key + ", which this model lacks");
    return StaticActAbsmax{scheme.act_absmax, true};
  }
  if (weights.transformed) {
    const SchemeCalibration& c = scheme.calibration;
    const std::vector<CalibText> texts = calibration_texts(source, c.files, c.sha256, tokenizer);
    return measure_static_absmax(weights.base, weights.runtime, texts, c.tokens, c.seq_len,
                                 progress_reporter("static scales"));
  }
  return StaticActAbsmax::of(*scheme_statistics(scheme, args));
}

}  // namespace ms::cli
