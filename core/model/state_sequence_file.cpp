#include "core/model/state_sequence_file.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include <nlohmann/json.hpp>

#include "core/io/safetensors.h"
#include "core/io/tensor_store.h"
#include "core/util/error.h"

namespace ms {
namespace {

template <typename T>
std::vector<T> read_values(const TensorStore& store, const std::string& name, DType dtype,
                           const std::vector<int64_t>& shape, const std::string& where) {
  const TensorView* v = store.find(name);
  if (!v) throw InputError(where, "missing tensor " + name);
  if (v->dtype != dtype)
    throw InputError(where, name + ": expected dtype " + std::string(dtype_name(dtype)) + ", got " + std::string(dtype_name(v->dtype)));
  if (v->shape != shape) {
    TensorView want;
    want.shape = shape;
    throw InputError(where, name + ": expected shape " + want.shape_str() + ", got " + v->shape_str());
  }
  std::vector<T> out(static_cast<std::size_t>(v->numel()));
  std::memcpy(out.data(), v->data, out.size() * sizeof(T));
  return out;
}

float absmax_of(const std::vector<float>& v, const std::string& where, const std::string& name) {
  float m = 0.0f;
  for (const float x : v) {
    if (!std::isfinite(x)) throw InputError(where, name + " holds a non-finite value");
    m = std::max(m, std::abs(x));
  }
  return m;
}

int int_field(const std::map<std::string, std::string>& meta, const std::string& key, const std::string& where) {
  const auto it = meta.find(key);
  if (it == meta.end()) throw InputError(where, "metadata has no '" + key + "'");
  try {
    return std::stoi(it->second);
  } catch (const std::exception&) {
    throw InputError(where, "metadata '" + key + "' is not a number: " + it->second);
  }
}

}  // namespace

const float* StateSequenceSnapshot::map(SequenceSide side, int64_t token) const {
  const std::vector<float>& v =
      side == SequenceSide::Float ? float_states : side == SequenceSide::Quantized ? quant_states : difference;
  return v.data() + token * rows * states;
}

std::shared_ptr<const StateSequenceSnapshot> read_state_sequence(const std::filesystem::path& file) {
  const std::string where = file.string();
  TensorStore store;
  const std::map<std::string, std::string> meta = read_safetensors(file, store);
  const auto format = meta.find("format");
  if (format == meta.end() || format->second != "mambascope.states/1")
    throw InputError(where, "not a `mambascope-cli states` file (metadata format is not mambascope.states/1)");
  auto s = std::make_shared<StateSequenceSnapshot>();
  s->layer = int_field(meta, "layer", where);
  s->hbits = int_field(meta, "hbits", where);
  s->heads = int_field(meta, "heads", where);
  s->arch = meta.count("arch") ? meta.at("arch") : "";
  s->state_method = meta.count("state_method") ? meta.at("state_method") : "";
  s->dsq_variant = meta.count("dsq_variant") ? meta.at("dsq_variant") : "";
  const TensorView* f = store.find("float_states");
  if (!f) throw InputError(where, "missing tensor float_states");
  if (f->shape.size() != 3 || f->numel() < 1) throw InputError(where, "float_states: expected shape [T, R, N], got " + f->shape_str());
  s->tokens = f->shape[0];
  s->rows = f->shape[1];
  s->states = f->shape[2];
  if (s->heads < 1 || s->rows % s->heads != 0) throw InputError(where, "metadata 'heads' does not divide the rows");
  s->head_dim = s->heads > 1 ? s->rows / s->heads : 0;
  const std::vector<int64_t> map_shape{s->tokens, s->rows, s->states};
  s->float_states = read_values<float>(store, "float_states", DType::F32, map_shape, where);
  s->quant_states = read_values<float>(store, "quant_states", DType::F32, map_shape, where);
  s->channel_scales = read_values<float>(store, "channel_scales", DType::F32, {s->tokens, s->rows}, where);
  s->state_scales = read_values<float>(store, "state_scales", DType::F32, {s->tokens, s->heads, s->states}, where);
  s->ids = read_values<int32_t>(store, "token_ids", DType::I32, {s->tokens}, where);
  try {
    const nlohmann::json pieces = nlohmann::json::parse(meta.count("pieces") ? meta.at("pieces") : "");
    for (const auto& p : pieces) s->pieces.push_back(p.get<std::string>());
  } catch (const std::exception&) {
    throw InputError(where, "metadata 'pieces' is not a JSON array of strings");
  }
  if (static_cast<int64_t>(s->pieces.size()) != s->tokens)
    throw InputError(where, "metadata 'pieces' has " + std::to_string(s->pieces.size()) + " pieces for " +
                                std::to_string(s->tokens) + " tokens");
  s->difference.resize(s->float_states.size());
  for (std::size_t i = 0; i < s->difference.size(); ++i) s->difference[i] = s->quant_states[i] - s->float_states[i];
  s->value_absmax = std::max(absmax_of(s->float_states, where, "float_states"), absmax_of(s->quant_states, where, "quant_states"));
  s->difference_absmax = absmax_of(s->difference, where, "the difference");
  s->channel_scale_max = absmax_of(s->channel_scales, where, "channel_scales");
  s->state_scale_max = absmax_of(s->state_scales, where, "state_scales");
  return s;
}

}  // namespace ms
