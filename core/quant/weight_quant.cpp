// Weight-only RTN over a checkpoint, and the weight error metrics. See weight_quant.h.
#include "core/quant/weight_quant.h"

#include <cmath>
#include <limits>
#include <set>

#include <ATen/ATen.h>

#include "core/io/mapped_file.h"
#include "core/util/error.h"

namespace ms {

const std::vector<Module>& default_weight_modules() {
  static const std::vector<Module> m{Module::InProj, Module::XProj, Module::DtProj, Module::OutProj};
  return m;
}

std::vector<Module> parse_weight_modules(const std::string& list) {
  if (list.empty()) return default_weight_modules();
  std::vector<Module> out;
  size_t start = 0;
  while (start <= list.size()) {
    size_t end = list.find(',', start);
    if (end == std::string::npos) end = list.size();
    const std::string name = list.substr(start, end - start);
    bool found = false;
    for (Module m : default_weight_modules())
      if (module_name(m) == name) {
        if (std::find(out.begin(), out.end(), m) == out.end()) out.push_back(m);
        found = true;
      }
    if (!found)
      throw UsageError("--modules: '" + name + "' is not a quantizable Linear (in_proj, x_proj, "
                       "dt_proj, out_proj; conv, norms, A, D, embeddings and lm_head stay in float)");
    start = end + 1;
  }
  return out;
}

WeightError weight_error(const std::string& key, const at::Tensor& w, const at::Tensor& w_hat) {
  at::Tensor a = w.to(at::kCPU, at::kDouble), b = w_hat.to(at::kCPU, at::kDouble);
  at::Tensor e = a - b;
  WeightError r;
  r.key = key;
  r.shape.assign(w.sizes().begin(), w.sizes().end());
  const double ee = e.pow(2).sum().item<double>(), aa = a.pow(2).sum().item<double>(),
               bb = b.pow(2).sum().item<double>(), ab = (a * b).sum().item<double>();
  r.mse = ee / double(std::max<int64_t>(1, w.numel()));
  r.sqnr_db = ee == 0 ? std::numeric_limits<double>::infinity() : 10.0 * std::log10(aa / ee);
  r.cosine = (aa == 0 && bb == 0) ? 1.0 : (aa == 0 || bb == 0) ? 0.0 : ab / std::sqrt(aa * bb);
  r.max_abs = w.numel() ? e.abs().max().item<double>() : 0.0;
  return r;
}

at::Tensor checkpoint_tensor(const Checkpoint& ck, const std::string& key) {
  const TensorView& v = ck.tensors.at(key);
  at::ScalarType t;
  switch (v.dtype) {
    case DType::F32: t = at::kFloat; break;
    case DType::F16: t = at::kHalf; break;
    case DType::BF16: t = at::kBFloat16; break;
    default: throw InputError(key, "weights must be F32, F16 or BF16");
  }
  // A copy: the mapping belongs to the checkpoint. Its pages are then dropped from the resident
  // set, so the copy is the only resident instance of these weights (issue 9's peak-memory goal).
  at::Tensor copy =
      at::from_blob(const_cast<std::byte*>(v.data), v.shape, at::TensorOptions().dtype(t)).clone();
  release_mapped_pages(v.data, v.nbytes);
  return copy;
}

QuantizedCheckpoint rtn_quantize_checkpoint(
    const Checkpoint& ck, const RtnSpec& spec, const std::vector<Module>& modules,
    std::optional<at::ScalarType> dtype,
    const std::function<bool(int64_t done, int64_t total)>& progress) {
  spec.validate();
  std::set<std::string> targets;
  std::vector<std::string> order;  // forward order for the report
  for (int64_t i = 0; i < ck.config.n_layer; ++i)
    for (Module m : modules) {
      const std::string key = "layers." + std::to_string(i) + "." + std::string(module_name(m)) + ".weight";
      if (ck.tensors.find(key)) {
        targets.insert(key);
        order.push_back(key);
      }
    }
  if (targets.empty())
    throw InputError(ck.dir.string(), "none of the chosen modules exists in this " +
                                          std::string(arch_name(ck.config.arch)) + " model");
  QuantizedCheckpoint out;
  std::map<std::string, WeightError> errors;
  int64_t done = 0;
  for (const auto& [key, view] : ck.tensors.tensors()) {
    // A tied head (the state-spaces .bin stores it beside the embedding it shares) is the
    // embedding: left out, so the export's tie_word_embeddings stays true and `check` is clean.
    if (key == "lm_head.weight" && ck.config.tie_embeddings) continue;
    at::Tensor t = checkpoint_tensor(ck, key);
    const at::ScalarType to = dtype.value_or(t.scalar_type());
    if (targets.count(key)) {
      at::Tensor stored = rtn_fake_quant(t, spec, key).to(to);
      errors[key] = weight_error(key, t, stored);
      out.tensors.emplace_back(key, stored);
    } else {
      out.tensors.emplace_back(key, t.to(to));
    }
    const int64_t total = int64_t(ck.tensors.tensors().size());
    if (progress && !progress(++done, total)) throw Cancelled();
  }
  for (const std::string& k : order) out.errors.push_back(errors.at(k));
  return out;
}

}  // namespace ms
