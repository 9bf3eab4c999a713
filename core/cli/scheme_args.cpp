#include "core/cli/scheme_args.h"

#include <cmath>
#include <filesystem>

#include <ATen/ATen.h>

#include "core/cli/scheme_model.h"
#include "core/cli/static_scales.h"
#include "core/quant/weight_quant.h"
#include "core/util/error.h"

namespace ms::cli {
using nlohmann::json;

void add_scheme_options(CLI::App* cmd, SchemeArgs& a) {
  cmd->add_option("--scheme", a.scheme, "mambascope.json (written by quantize) giving the scheme");
  cmd->add_option("--abits", a.abits, "Override: activation bits at every Linear input (16: none)")
      ->check(CLI::Range(2, 16));
  cmd->add_option("--act-scale", a.act_scale,
                  "Override: static (the scheme's recorded scales; else measured after its transforms on "
                  "its calibration text, or from --stats when it has none) or dynamic")
      ->check(CLI::IsMember({"static", "dynamic"}));
  cmd->add_option("--act-granularity", a.act_granularity, "Override: tensor or token")
      ->check(CLI::IsMember({"tensor", "token"}));
  cmd->add_option("--hbits", a.hbits, "Override: SSM state bits (16: none)")->check(CLI::Range(2, 16));
  cmd->add_option("--state-method", a.state_method, "Override: dsq, tensor, channel or state")
      ->check(CLI::IsMember({"dsq", "tensor", "channel", "state"}));
  cmd->add_option("--dsq-variant", a.dsq_variant, "Override: abs.max, abs.max.sqrt, abs.mean or "
                                                  "abs.mean.sqrt (DSQ's own)")
      ->check(CLI::IsMember({"abs.max", "abs.max.sqrt", "abs.mean", "abs.mean.sqrt"}));
  cmd->add_option("--stats", a.stats, "Calibration statistics (calibrate) for static activation scales");
}

Scheme resolve_scheme(const SchemeArgs& a) {
  const bool overrides = a.abits || a.hbits || !a.act_scale.empty() || !a.act_granularity.empty() ||
                         !a.state_method.empty() || !a.dsq_variant.empty();
  if (a.scheme.empty() && !overrides)
    throw UsageError("give --scheme mambascope.json (from quantize), or --abits / --hbits");
  Scheme s;
  if (!a.scheme.empty()) s = Scheme::read(a.scheme);
  if (a.abits) s.act.bits = a.abits;
  if (!a.act_scale.empty()) s.act.scale = parse_act_scale(a.act_scale);
  if (!a.act_granularity.empty()) s.act.granularity = parse_act_granularity(a.act_granularity);
  if (a.hbits) s.state.bits = a.hbits;
  if (!a.state_method.empty()) s.state.method = parse_state_method(a.state_method);
  if (!a.dsq_variant.empty()) s.state.variant = parse_dsq_variant(a.dsq_variant);
  if (!a.stats.empty() && !s.transforms().empty()) {
    // The transforms rerun on the statistics the scheme records: another file would change the
    // weights eval measures (SmoothQuant's s), silently.
    namespace fs = std::filesystem;
    const bool same = !s.statistics.empty() && fs::absolute(a.stats).lexically_normal() ==
                                                   fs::absolute(s.statistics).lexically_normal();
    if (!same)
      throw UsageError("--stats: the scheme's transforms ran on " +
                       (s.statistics.empty() ? std::string("statistics they collected") : s.statistics) +
                       ", and another file would change its weights; leave --stats out (its static "
                       "scales come from the scheme)");
  }
  if (!a.stats.empty()) s.statistics = a.stats;
  s.validate();
  return s;
}

void require_statistics_file(const Scheme& s) {
  if (s.statistics.empty())
    throw UsageError("static activation scales need calibration statistics: pass --stats S "
                     "(made by `mambascope-cli calibrate`)");
  if (!std::filesystem::is_regular_file(s.statistics))
    throw InputError(s.statistics, "no such statistics file");
}

std::optional<CalibStats> scheme_statistics(const Scheme& s, const SchemeArgs&) {
  if (!s.act.enabled() || s.act.scale != ActScale::Static) return std::nullopt;
  require_statistics_file(s);
  return CalibStats::load(s.statistics);
}

bool statistics_give_static_scales(const Scheme& s) {
  return s.act.enabled() && s.act.scale == ActScale::Static && s.act_absmax.empty() &&
         s.transforms().empty() && !s.zero_outliers && !s.zero_random_seed;
}

SchemeWeights scheme_weights_of(const Checkpoint& ck, const Scheme& scheme,
                                const std::optional<std::filesystem::path>& tokenizer) {
  const std::unique_ptr<SchemeModel> m = scheme_model(ck, scheme, tokenizer);
  SchemeWeights w{std::move(m->base), {}, {}, std::nullopt,
                  m->transformed.applied, m->transformed.result.runtime};
  if (!m->rounded) return w;
  QuantizedCheckpoint& q = m->rounded->quantized;
  w.stored = WeightSet{m->checkpoint.config, q.tensors};
  for (const WeightError& e : q.errors) {
    const std::optional<QuantPoint> p = QuantPoint::parse(e.key);
    if (!p) throw UsageError("scheme_weights_of: '" + e.key + "' is not a weight point");
    w.quantized.push_back({*p, e.key, w.stored->at(e.key).to(at::kFloat)});
  }
  w.errors = std::move(q.errors);
  return w;
}

void add_eval_options(CLI::App* cmd, EvalArgs& a) {
  cmd->add_option("MODEL", a.model, "Model directory (the float model)")->required();
  cmd->add_option("--file", a.file, "UTF-8 text file, used byte for byte")->required();
  add_scheme_options(cmd, a.s);
  cmd->add_option("--ctx", a.ctx, "Window length in tokens (state reset per window)")
      ->capture_default_str()->check(CLI::Range(int64_t{2}, int64_t{1} << 24));
  cmd->add_option("--stride", a.stride, "Tokens between window starts (default: --ctx)")
      ->check(CLI::Range(int64_t{1}, int64_t{1} << 24));
  cmd->add_option("--max-tokens", a.max_tokens, "Use only the first N tokens of the text (0: all)")
      ->check(CLI::NonNegativeNumber);
  add_engine_options(cmd, a.o);
  add_tokenizer_options(cmd, a.o);
}

EvalInputs load_eval_inputs(const EvalArgs& a) {
  EvalInputs in;
  in.scheme = resolve_scheme(a.s);
  // A missing statistics file fails here, before the model loads (the scales are taken below).
  if (statistics_give_static_scales(in.scheme)) require_statistics_file(in.scheme);
  in.model = load_model(a.model, a.o);
  Tokenizer tok = load_tokenizer(in.model.checkpoint, a.o);
  in.ids = encode(tok, read_text_file(a.file), a.o);
  if (a.max_tokens > 0 && int64_t(in.ids.size()) > a.max_tokens) in.ids.resize(size_t(a.max_tokens));
  const std::optional<std::filesystem::path> tokenizer =
      a.o.tokenizer.empty() ? std::nullopt : std::optional<std::filesystem::path>(a.o.tokenizer);
  in.weights = scheme_weights_of(in.model.checkpoint, in.scheme, tokenizer);
  in.static_scales = scheme_static_absmax(in.scheme, a.s, in.weights, in.model.checkpoint, tokenizer);
  return in;
}

std::unique_ptr<PointFakeQuant> scheme_fake_quant(const EvalInputs& in, const std::set<QuantPoint>& points) {
  auto fq = std::make_unique<PointFakeQuant>(in.scheme.act, in.scheme.state, points,
                                             in.static_scales.value_or(StaticActAbsmax{}));
  fq->set_runtime_transforms(in.weights.runtime);
  return fq;
}

std::unique_ptr<MambaModel> load_with(const SchemeWeights& w, const std::vector<size_t>& which,
                                      const EngineOptions& options) {
  WeightSet set = w.base;  // shallow: tensors are shared, the list is copied
  for (size_t i : which) set.set(w.quantized.at(i).key, w.quantized.at(i).value);
  return MambaModel::load(set, options);
}

json json_number_or_null(double v) { return std::isfinite(v) ? json(v) : json(nullptr); }

json end_to_end_json(const EndToEndMetrics& e) {
  return {{"tokens", e.tokens},       {"windows", e.windows},   {"perplexity_float", e.ppl_float},
          {"perplexity_quant", e.ppl_quant}, {"delta_perplexity", e.delta_ppl},
          {"kl_mean", e.kl_mean},     {"kl_p50", e.kl_p50},     {"kl_p90", e.kl_p90},
          {"kl_p99", e.kl_p99},       {"kl_max", e.kl_max},     {"top1_agreement", e.top1}};
}

json error_json(const std::string& point, const ErrorStats& e) {
  return {{"point", point},        {"count", e.count},    {"mse", e.mse},
          {"sqnr_db", json_number_or_null(e.sqnr_db)}, {"cosine", e.cosine},
          {"max_abs_error", e.max_abs}};
}

}  // namespace ms::cli
