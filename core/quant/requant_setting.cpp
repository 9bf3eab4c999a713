#include "core/quant/requant_setting.h"

#include "core/util/error.h"

namespace ms {
using nlohmann::json;

namespace {

bool bits_ok(int b) { return b >= 2 && b <= 16; }

void check_bits(int b, const std::string& field) {
  if (!bits_ok(b))
    throw UsageError(field + ": " + std::to_string(b) + " is outside 2..16 (16: stay float)");
}

int pick(int layer_value, int global) { return layer_value != 0 ? layer_value : global; }

}  // namespace

void RequantSetting::validate(int n_layer) const {
  check_bits(wbits, "wbits");
  check_bits(abits, "abits");
  check_bits(hbits, "hbits");
  RtnSpec::with_granularity(RtnSpec{}, granularity).validate();
  for (const auto& [layer, b] : layers) {
    const std::string where = "layers." + std::to_string(layer);
    if (layer < 0 || layer >= n_layer)
      throw UsageError(where + ": the model has layers 0.." + std::to_string(n_layer - 1));
    if (b.wbits) check_bits(b.wbits, where + ".wbits");
    if (b.abits) check_bits(b.abits, where + ".abits");
    if (b.hbits) check_bits(b.hbits, where + ".hbits");
  }
  for (int i = 0; i < n_layer; ++i) act_spec(i).validate();  // static per token is refused there
}

std::optional<RtnSpec> RequantSetting::weight_spec(int layer) const {
  auto it = layers.find(layer);
  const int bits = pick(it == layers.end() ? 0 : it->second.wbits, wbits);
  if (bits >= 16) return std::nullopt;
  RtnSpec s = RtnSpec::with_granularity(RtnSpec{}, granularity);
  s.bits = bits;
  s.symmetric = symmetric;
  return s;
}

ActQuantSpec RequantSetting::act_spec(int layer) const {
  auto it = layers.find(layer);
  ActQuantSpec s;
  s.bits = pick(it == layers.end() ? 0 : it->second.abits, abits);
  s.scale = act_scale;
  s.granularity = act_granularity;
  return s;
}

StateQuantSpec RequantSetting::state_spec(int layer) const {
  auto it = layers.find(layer);
  StateQuantSpec s;
  s.bits = pick(it == layers.end() ? 0 : it->second.hbits, hbits);
  s.method = state_method;
  s.variant = dsq_variant;
  return s;
}

json RequantSetting::to_json() const {
  json l = json::object();
  for (const auto& [layer, b] : layers) {
    json o = json::object();
    if (b.wbits) o["wbits"] = b.wbits;
    if (b.abits) o["abits"] = b.abits;
    if (b.hbits) o["hbits"] = b.hbits;
    l[std::to_string(layer)] = o;
  }
  return {{"id", id},
          {"wbits", wbits},
          {"abits", abits},
          {"hbits", hbits},
          {"granularity", granularity},
          {"symmetric", symmetric},
          {"state_method", state_method_name(state_method)},
          {"dsq_variant", dsq_variant_name(dsq_variant)},
          {"act_scale", act_scale_name(act_scale)},
          {"act_granularity", act_granularity_name(act_granularity)},
          {"token_detail", token_detail},
          {"layers", l}};
}

RequantSetting RequantSetting::from_json(const json& j, const std::string& where) {
  if (!j.is_object()) throw InputError(where, "is not a JSON object");
  auto fail = [&](const std::string& field, const std::string& problem) -> void {
    throw InputError(where, field + " " + problem);
  };
  auto integer = [&](const json& o, const char* key, int64_t fallback, const std::string& name) {
    if (!o.contains(key) || o[key].is_null()) return fallback;
    if (!o[key].is_number_integer()) fail(name, "must be an integer");
    return o[key].get<int64_t>();
  };
  auto text = [&](const char* key, const std::string& fallback) {
    if (!j.contains(key) || j[key].is_null()) return fallback;
    if (!j[key].is_string()) fail(key, "must be a string");
    return j[key].get<std::string>();
  };
  auto flag = [&](const char* key, bool fallback) {
    if (!j.contains(key) || j[key].is_null()) return fallback;
    if (!j[key].is_boolean()) fail(key, "must be true or false");
    return j[key].get<bool>();
  };
  // Parse errors of the shared parsers (UsageError) become InputErrors on the request.
  auto parsed = [&](const char* key, auto&& f) {
    try {
      return f();
    } catch (const UsageError& e) {
      throw InputError(where, std::string(key) + ": " + e.what());
    }
  };
  RequantSetting s;
  s.id = integer(j, "id", 0, "id");
  s.wbits = int(integer(j, "wbits", 16, "wbits"));
  s.abits = int(integer(j, "abits", 16, "abits"));
  s.hbits = int(integer(j, "hbits", 16, "hbits"));
  s.granularity = text("granularity", "channel");
  s.symmetric = flag("symmetric", true);
  s.token_detail = flag("token_detail", true);
  s.state_method = parsed("state_method", [&] { return parse_state_method(text("state_method", "dsq")); });
  s.dsq_variant = parsed("dsq_variant", [&] { return parse_dsq_variant(text("dsq_variant", "abs.mean.sqrt")); });
  s.act_scale = parsed("act_scale", [&] { return parse_act_scale(text("act_scale", "dynamic")); });
  s.act_granularity =
      parsed("act_granularity", [&] { return parse_act_granularity(text("act_granularity", "token")); });
  if (j.contains("layers") && !j["layers"].is_null()) {
    if (!j["layers"].is_object()) fail("layers", "must be an object keyed by layer index");
    for (const auto& [key, o] : j["layers"].items()) {
      const std::string name = "layers." + key;
      int layer = -1;
      try {
        size_t used = 0;
        layer = std::stoi(key, &used);
        if (used != key.size()) layer = -1;
      } catch (const std::exception&) {
        layer = -1;
      }
      if (layer < 0) fail(name, "is not a layer index");
      if (!o.is_object()) fail(name, "must be an object");
      LayerBits b;
      b.wbits = int(integer(o, "wbits", 0, name + ".wbits"));
      b.abits = int(integer(o, "abits", 0, name + ".abits"));
      b.hbits = int(integer(o, "hbits", 0, name + ".hbits"));
      s.layers[layer] = b;
    }
  }
  return s;
}

}  // namespace ms
