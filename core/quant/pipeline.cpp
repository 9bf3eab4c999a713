// The method chain. See pipeline.h.
#include "core/quant/pipeline.h"

#include <algorithm>

#include <ATen/ATen.h>

#include "core/quant/outliers.h"
#include "core/quant/rotation.h"
#include "core/quant/smoothquant.h"
#include "core/util/error.h"

namespace ms {
namespace {

using nlohmann::json;

// What a step sees: the weights, statistics when it declared it needs them (else null), the
// options, and the result to record into.
using StepFn = std::function<json(WeightSet&, const CalibStats*, const PipelineOptions&, PipelineResult&)>;

struct MethodInfo {
  const char* name;
  bool rounding;         // at most one, last
  bool needs_stats;      // calibration statistics of the model as it is at this step
  bool needs_covariance; // ... including X^T X
  StepFn run;
};

json str_list(const std::vector<std::string>& v) { return json(v); }

const std::vector<MethodInfo>& methods_table() {
  static const std::vector<MethodInfo> table{
      {"smoothquant", false, true, false,
       [](WeightSet& w, const CalibStats* s, const PipelineOptions& o, PipelineResult&) {
         return json{{"alpha", o.alpha}, {"sites", str_list(apply_smoothquant(w, *s, o.alpha))}};
       }},
      {"hadamard", false, false, false,
       [](WeightSet& w, const CalibStats*, const PipelineOptions&, PipelineResult&) {
         return json{{"sites", str_list(apply_hadamard(w))}};
       }},
      {"klt", false, true, true,
       [](WeightSet& w, const CalibStats* s, const PipelineOptions&, PipelineResult&) {
         // The residual stream's channel-variance spread before, under Hadamard alone, and under
         // K H (MambaQuant's claim: the last is ~0 on correlated channels).
         const at::Tensor C = residual_covariance(w, *s);
         const int64_t d = C.size(0);
         json cv{{"identity", coefficient_of_variation(C.diagonal())},
                 {"hadamard", coefficient_of_variation(rotated_channel_variance(C, hadamard_rotation(d)))},
                 {"klt", coefficient_of_variation(rotated_channel_variance(C, klt_rotation(C)))}};
         return json{{"sites", str_list(apply_klt(w, *s))}, {"residual_variance_cv", cv}};
       }},
      {"smooth-fused", false, true, false,
       [](WeightSet& w, const CalibStats* s, const PipelineOptions& o, PipelineResult& r) {
         SmoothFusedResult f = apply_smooth_fused(w, *s, o.alpha, o.runtime_transforms);
         json rt = json::array();
         for (const RuntimeTransform& t : f.runtime) rt.push_back({{"kind", t.kind}, {"point", t.point}});
         r.runtime.insert(r.runtime.end(), f.runtime.begin(), f.runtime.end());
         r.dropped.insert(r.dropped.end(), f.dropped.begin(), f.dropped.end());
         return json{{"alpha", o.alpha}, {"sites", str_list(f.sites)}, {"runtime", rt},
                     {"dropped", str_list(f.dropped)}};
       }},
      {"rtn", true, false, false,
       [](WeightSet& w, const CalibStats*, const PipelineOptions& o, PipelineResult& r) {
         r.errors = rtn_weight_set(w, o);
         json mods = json::array();
         for (Module m : o.modules) mods.push_back(std::string(module_name(m)));
         return json{{"bits", o.rtn.bits}, {"granularity", o.rtn.granularity_str()},
                     {"symmetric", o.rtn.symmetric}, {"modules", mods}};
       }},
      {"gptq", true, false, false,
       [](WeightSet& w, const CalibStats*, const PipelineOptions& o, PipelineResult& r) {
         if (!o.gptq_calibration.ids.defined())
           throw UsageError("gptq needs calibration tokens (PipelineOptions::gptq_calibration)");
         GptqSpec spec = o.gptq;
         spec.rtn = o.rtn;  // one grid for both rounding methods
         return gptq_weight_set(w, spec, o.modules, o.gptq_calibration, o.engine, o.stored_dtype, r.errors);
       }},
  };
  return table;
}

const MethodInfo* find_method(const std::string& name) {
  for (const MethodInfo& m : methods_table())
    if (name == m.name) return &m;
  return nullptr;
}

std::string known_names() {
  std::string s;
  for (const MethodInfo& m : methods_table()) s += (s.empty() ? "" : ", ") + std::string(m.name);
  return s;
}

bool has_covariance(const CalibStats& s) {
  for (const auto& [k, a] : s.activations)
    if (!a.cov.defined()) return false;
  return !s.activations.empty();
}

}  // namespace

bool is_known_method(const std::string& name) { return find_method(name) != nullptr; }

bool is_rounding_method(const std::string& name) {
  const MethodInfo* m = find_method(name);
  return m && m->rounding;
}

std::vector<std::string> parse_method_list(const std::string& list) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= list.size()) {
    size_t end = list.find(',', start);
    if (end == std::string::npos) end = list.size();
    const std::string m = list.substr(start, end - start);
    if (!find_method(m))
      throw UsageError("--method: unknown method '" + m + "' (known: " + known_names() + ")");
    if (std::find(out.begin(), out.end(), m) != out.end())
      throw UsageError("--method: '" + m + "' is given twice");
    out.push_back(m);
    start = end + 1;
  }
  for (size_t i = 0; i < out.size(); ++i)
    if (is_rounding_method(out[i]) && i + 1 != out.size())
      throw UsageError("--method: the weight rounding ('" + out[i] + "') must come last, after "
                       "every transform");
  return out;
}

bool methods_need_statistics(const std::vector<std::string>& methods, const PipelineOptions& o) {
  if (o.zero_outliers || o.zero_random_seed) return true;
  for (const std::string& m : methods)
    if (const MethodInfo* info = find_method(m); info && info->needs_stats) return true;
  return false;
}

bool methods_have_runtime_parts(const std::vector<std::string>& methods, const ModelConfig&) {
  // smooth-fused's S-SiLU (Mamba-1) and online Hadamard (both families) run at run time.
  return std::find(methods.begin(), methods.end(), "smooth-fused") != methods.end();
}

void check_statistics(const ModelConfig& c, const CalibStats& stats, const std::string& source) {
  for (const QuantPoint& p : activation_points(c)) {
    const std::string key = p.str();
    if (p.site == Site::State) {
      auto it = stats.states.find(key);
      const int64_t expected = c.is_mamba2() ? c.n_heads * c.head_dim * c.d_state : c.d_inner * c.d_state;
      if (it != stats.states.end() && it->second.absmax.defined() && it->second.absmax.numel() != expected)
        throw InputError(source, "statistics of another model: '" + key + "' has " +
                                     std::to_string(it->second.absmax.numel()) + " values, the model " +
                                     std::to_string(expected));
      continue;
    }
    auto it = stats.activations.find(key);
    const int64_t expected = p.module == Module::InProj ? c.d_model : p.module == Module::DtProj ? c.dt_rank : c.d_inner;
    if (it != stats.activations.end() && it->second.absmax.defined() && it->second.absmax.numel() != expected)
      throw InputError(source, "statistics of another model: '" + key + "' has " +
                                   std::to_string(it->second.absmax.numel()) + " channels, the model " +
                                   std::to_string(expected));
  }
  for (const auto& [key, a] : stats.activations) {
    auto p = QuantPoint::parse(key);
    if (p && p->layer >= c.n_layer)
      throw InputError(source, "statistics of another model: '" + key + "' is beyond the model's " +
                                   std::to_string(c.n_layer) + " layers");
  }
}

Checkpoint checkpoint_view(WeightSet& w, const Checkpoint& source) {
  Checkpoint ck;
  ck.dir = source.dir;
  ck.config_file = source.config_file;
  ck.weight_files = source.weight_files;
  ck.config = w.config;
  ck.notes = source.notes;
  ck.tokenizer_file = source.tokenizer_file;
  for (auto& [key, t] : w.tensors) {
    t = t.to(at::kCPU).contiguous();
    TensorView v;
    v.name = key;
    switch (t.scalar_type()) {
      case at::kFloat: v.dtype = DType::F32; break;
      case at::kHalf: v.dtype = DType::F16; break;
      case at::kBFloat16: v.dtype = DType::BF16; break;
      default: throw InputError(key, "weights must be fp32, fp16 or bf16");
    }
    v.shape.assign(t.sizes().begin(), t.sizes().end());
    v.data = static_cast<const std::byte*>(t.data_ptr());
    v.nbytes = t.nbytes();
    ck.tensors.add(v, source.dir);
    auto fk = source.file_keys.find(key);
    ck.file_keys[key] = fk != source.file_keys.end() ? fk->second : key;
  }
  return ck;
}

std::vector<WeightError> rtn_weight_set(WeightSet& w, const PipelineOptions& o) {
  o.rtn.validate();
  std::vector<WeightError> errors;
  for (int64_t i = 0; i < w.config.n_layer; ++i)
    for (Module m : o.modules) {
      const std::string key = layer_key(i, std::string(module_name(m)) + ".weight");
      const at::Tensor* t = w.find(key);
      if (!t) continue;  // Mamba-2 has no x_proj or dt_proj
      const at::Tensor src = *t;
      const at::ScalarType to = o.stored_dtype ? o.stored_dtype(key, src.scalar_type()) : src.scalar_type();
      at::Tensor stored = rtn_fake_quant(src, o.rtn, key).to(to);
      errors.push_back(weight_error(key, src, stored));
      w.set(key, stored);
    }
  if (errors.empty())
    throw InputError("--modules", "none of the chosen modules exists in this " +
                                      std::string(arch_name(w.config.arch)) + " model");
  return errors;
}

PipelineResult apply_methods(WeightSet& w, const std::vector<std::string>& methods,
                             const PipelineOptions& options, const PipelineContext& context) {
  PipelineResult result;
  const CalibStats* current = context.stats;
  CalibStats fresh;
  bool stale = false;
  // Statistics of the weights as they are now: the given ones until a transform has run, then
  // fresh ones from the callback.
  auto stats_for = [&](const std::string& who, bool covariance) -> const CalibStats* {
    if (current && !stale && (!covariance || has_covariance(*current))) return current;
    if (!context.calibrate) {
      if (!current)
        throw UsageError(who + " needs calibration statistics (--stats)");
      if (stale)
        throw UsageError(who + " needs statistics of the model as the earlier methods left it, and "
                               "no calibration text is at hand to collect them");
      throw UsageError(who + " needs statistics with covariance (calibrate with --cov)");
    }
    fresh = context.calibrate(w, covariance);
    ++result.calibrations;
    current = &fresh;
    stale = false;
    return current;
  };

  if (options.zero_outliers || options.zero_random_seed) {
    const bool random = options.zero_random_seed.has_value();
    const ZeroingPlan plan = plan_zeroing(w.config, *stats_for(random ? "--zero-random" : "--zero-outliers", false),
                                          options.zero_random_seed.value_or(0));
    apply_zeroing(w, random ? plan.random : plan.outliers);
    json step{{"method", random ? "zero-random" : "zero-outliers"},
              {"rule", "outlier: absmax > layer mean + 6 std (one-sided); zeroed at the Linear input"},
              {"channels", random ? plan.random : plan.outliers}, {"count", plan.count()}};
    if (random) step["seed"] = *options.zero_random_seed;
    result.steps.push_back(step);
    stale = true;
  }
  const int64_t total = int64_t(methods.size());
  for (int64_t k = 0; k < total; ++k) {
    const MethodInfo* m = find_method(methods[size_t(k)]);
    if (!m) throw UsageError("--method: unknown method '" + methods[size_t(k)] + "'");
    const CalibStats* s = m->needs_stats ? stats_for(m->name, m->needs_covariance) : nullptr;
    json details = m->run(w, s, options, result);
    details["method"] = m->name;
    if (m->needs_stats) details["statistics"] = result.calibrations > 0 && s == &fresh ? "recalibrated" : "given";
    result.steps.push_back(details);
    if (!m->rounding) stale = true;
    if (context.progress && !context.progress(k + 1, total)) throw Cancelled();
  }
  return result;
}

}  // namespace ms
