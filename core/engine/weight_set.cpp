#include "core/engine/weight_set.h"

#include <ATen/ATen.h>

#include "core/quant/weight_quant.h"
#include "core/util/error.h"

namespace ms {

WeightSet WeightSet::from_checkpoint(const Checkpoint& ck, std::optional<at::ScalarType> dtype) {
  WeightSet w;
  w.config = ck.config;
  for (const auto& [key, view] : ck.tensors.tensors()) {
    (void)view;
    at::Tensor t = checkpoint_tensor(ck, key);
    w.tensors.emplace_back(key, dtype ? t.to(*dtype) : t);
  }
  return w;
}

const at::Tensor* WeightSet::find(const std::string& key) const {
  for (const auto& [k, t] : tensors)
    if (k == key) return &t;
  return nullptr;
}

at::Tensor& WeightSet::at(const std::string& key) {
  for (auto& [k, t] : tensors)
    if (k == key) return t;
  throw UsageError("the model has no tensor '" + key + "'");
}

const at::Tensor& WeightSet::at(const std::string& key) const {
  return const_cast<WeightSet*>(this)->at(key);
}

void WeightSet::set(const std::string& key, at::Tensor value) {
  for (auto& [k, t] : tensors)
    if (k == key) {
      t = std::move(value);
      return;
    }
  tensors.emplace_back(key, std::move(value));
}

std::string layer_key(int64_t layer, const std::string& name) {
  return "layers." + std::to_string(layer) + "." + name;
}

}  // namespace ms
