// Sequential GPTQ over a model. See gptq_model.h.
#include "core/quant/gptq_model.h"

#include <map>
#include <set>

#include <ATen/ATen.h>

#include "core/engine/observer.h"
#include "core/util/error.h"

namespace ms {
namespace {

// Thrown by the observer once it has its input, to cut the forward short. Not a std::exception,
// so no error handler on the way mistakes it for a failure; caught only in run_to().
struct StopForward {};

// Accumulates XᵀX (fp64, on the model's device) of one activation point over the calibration
// batches, then stops each forward.
class HessianObserver : public Observer {
 public:
  explicit HessianObserver(QuantPoint point) : point_(point) {}
  bool wants(const QuantPoint& p) const override { return p == point_; }
  void collect(const QuantPoint&, const at::Tensor& value) override {
    at::Tensor x = value.reshape({-1, value.size(-1)}).to(at::kDouble);  // [B·T, C]
    if (!xtx_.defined()) xtx_ = at::zeros({x.size(1), x.size(1)}, x.options());
    xtx_.addmm_(x.t(), x);
    rows_ += x.size(0);
    throw StopForward{};
  }
  // H = 2 XᵀX / rows (GPTQ is invariant to H's scale; the mean keeps magnitudes readable).
  at::Tensor hessian() const { return (xtx_ * (2.0 / double(rows_))).to(at::kCPU); }
  int64_t rows() const { return rows_; }

 private:
  QuantPoint point_;
  at::Tensor xtx_;
  int64_t rows_ = 0;
};

void run_to(const MambaModel& model, const GptqCalibration& calib, HessianObserver& obs) {
  const int64_t n = calib.ids.size(0), batch = std::max<int64_t>(1, calib.batch);
  for (int64_t b = 0; b < n; b += batch) {
    try {
      model.forward(calib.ids.narrow(0, b, std::min(batch, n - b)), nullptr, &obs);
    } catch (const StopForward&) {
    }
  }
}

std::vector<std::pair<int64_t, Module>> targets_of(const WeightSet& weights,
                                                   const std::vector<Module>& modules) {
  std::vector<std::pair<int64_t, Module>> out;
  for (int64_t i = 0; i < weights.config.n_layer; ++i)
    for (Module m : default_weight_modules())  // forward order, whatever order the user listed
      if (std::find(modules.begin(), modules.end(), m) != modules.end() &&
          weights.find(layer_key(i, std::string(module_name(m)) + ".weight")))
        out.push_back({i, m});
  return out;
}

}  // namespace

at::Tensor gptq_calibration_windows(const std::vector<std::vector<int32_t>>& texts, int64_t nsamples,
                                    int64_t seq_len, const std::string& name) {
  if (nsamples < 1 || seq_len < 1)
    throw UsageError("GPTQ calibration needs at least 1 window of at least 1 token");
  std::vector<int64_t> flat;
  int64_t n = 0;
  for (const std::vector<int32_t>& ids : texts)
    for (size_t start = 0; n < nsamples && start + size_t(seq_len) <= ids.size(); start += size_t(seq_len), ++n)
      flat.insert(flat.end(), ids.begin() + ptrdiff_t(start), ids.begin() + ptrdiff_t(start + size_t(seq_len)));
  if (n == 0)
    throw InputError(name, "no calibration text holds a whole window of " + std::to_string(seq_len) +
                               " tokens (use a longer text or a shorter --calib-seq-len)");
  return at::tensor(flat, at::kLong).reshape({n, seq_len});
}

std::vector<GptqWeightReport> gptq_quantize_weights(WeightSet& weights, const GptqSpec& spec,
                                                    const std::vector<Module>& modules,
                                                    const GptqCalibration& calib,
                                                    const EngineOptions& engine,
                                                    const ProgressFn& progress) {
  spec.validate();
  if (!calib.ids.defined() || calib.ids.dim() != 2 || calib.ids.size(0) < 1 || calib.ids.size(1) < 1)
    throw UsageError("GPTQ calibration ids must be a non-empty [n, T] tensor");
  const auto targets = targets_of(weights, modules);
  if (targets.empty())
    throw InputError("gptq", "none of the chosen modules exists in this " +
                                 std::string(arch_name(weights.config.arch)) + " model");
  std::vector<GptqWeightReport> reports;
  for (const auto& [layer, module] : targets) {
    const std::string key = layer_key(layer, std::string(module_name(module)) + ".weight");
    // The model as quantized so far; its forward stops at this module's input.
    std::unique_ptr<MambaModel> model = MambaModel::load(weights, engine);
    HessianObserver obs(QuantPoint{int(layer), module, Site::Input});
    run_to(*model, calib, obs);
    model.reset();
    at::Tensor& w = weights.at(key);
    GptqResult r = gptq_quantize(w, obs.hessian(), spec, key);
    w = r.weight.to(w.scalar_type());
    reports.push_back({key, r.dead_columns, r.loss, obs.rows(), r.codes, r.scales, r.zeros, r.g_idx});
    if (progress && !progress(int64_t(reports.size()), int64_t(targets.size()))) throw Cancelled();
  }
  return reports;
}

GptqCheckpoint gptq_quantize_checkpoint(const Checkpoint& ck, const GptqSpec& spec,
                                        const std::vector<Module>& modules,
                                        std::optional<at::ScalarType> dtype,
                                        const GptqCalibration& calib, const EngineOptions& engine,
                                        const ProgressFn& progress) {
  WeightSet ws = WeightSet::from_checkpoint(ck, at::kFloat);
  GptqCheckpoint out;
  out.gptq = gptq_quantize_weights(ws, spec, modules, calib, engine, progress);
  std::set<std::string> targets;
  for (const GptqWeightReport& r : out.gptq) targets.insert(r.key);
  std::map<std::string, WeightError> errors;
  for (const auto& [key, view] : ck.tensors.tensors()) {
    (void)view;
    // A tied head is the embedding: left out, as rtn_quantize_checkpoint does.
    if (key == "lm_head.weight" && ck.config.tie_embeddings) continue;
    at::Tensor src = checkpoint_tensor(ck, key);
    const at::ScalarType to = dtype.value_or(src.scalar_type());
    if (targets.count(key)) {
      at::Tensor stored = ws.at(key).to(to);
      errors[key] = weight_error(key, src, stored);
      out.quantized.tensors.emplace_back(key, stored);
    } else {
      out.quantized.tensors.emplace_back(key, src.to(to));
    }
  }
  for (const GptqWeightReport& r : out.gptq) out.quantized.errors.push_back(errors.at(r.key));
  return out;
}

nlohmann::json gptq_scheme_json(const GptqSpec& spec, const GptqCalibration& calib,
                                const std::vector<GptqWeightReport>& reports) {
  nlohmann::json per = nlohmann::json::array();
  for (const GptqWeightReport& r : reports)
    per.push_back({{"key", r.key}, {"loss", r.loss}, {"dead_columns", r.dead_columns}, {"tokens", r.tokens}});
  const bool grouped = spec.rtn.granularity == RtnGranularity::Group;
  return {{"bits", spec.rtn.bits},
          {"granularity", spec.rtn.granularity_str()},
          {"symmetric", spec.rtn.symmetric},
          {"damp", spec.damp},
          {"block", spec.block},
          {"act_order", spec.act_order},
          {"groups", !grouped ? "none"
                     : spec.static_groups ? "static: adjacent columns, fitted before any feedback"
                     : "fitted when a group's first column comes up, from the weight as of the "
                       "block's start; with act-order a group is consecutive in processing order"},
          {"order", "sequential: layer by layer, module by module, model re-run after each"},
          {"calibration", {{"windows", calib.ids.size(0)}, {"seq_len", calib.ids.size(1)}}},
          {"weights", per}};
}

nlohmann::json gptq_weight_set(
    WeightSet& w, const GptqSpec& spec, const std::vector<Module>& modules,
    const GptqCalibration& calib, const EngineOptions& engine,
    const std::function<at::ScalarType(const std::string& key, at::ScalarType current)>& stored_dtype,
    std::vector<WeightError>& errors) {
  const WeightSet before = w;  // shares storage; gptq_quantize_weights replaces tensors, never writes into them
  const std::vector<GptqWeightReport> reports = gptq_quantize_weights(w, spec, modules, calib, engine);
  for (const GptqWeightReport& r : reports) {
    at::Tensor& t = w.at(r.key);
    const at::Tensor& src = before.at(r.key);
    t = t.to(stored_dtype ? stored_dtype(r.key, src.scalar_type()) : src.scalar_type());
    errors.push_back(weight_error(r.key, src, t));
  }
  return gptq_scheme_json(spec, calib, reports);
}

}  // namespace ms
