#include "core/quant/scheme.h"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <sstream>

#include "core/quant/pipeline.h"
#include "core/quant/weight_quant.h"
#include "core/util/error.h"

namespace ms {
using nlohmann::json;

void Scheme::validate() const {
  if (weights) weights->validate();
  act.validate();
  state.validate();
}

std::vector<std::string> Scheme::transforms() const {
  std::vector<std::string> t;
  for (const std::string& m : methods)
    if (!is_rounding_method(m)) t.push_back(m);
  return t;
}

std::string Scheme::rounding() const {
  for (const std::string& m : methods)
    if (is_rounding_method(m)) return m;
  return "";
}

std::string Scheme::describe() const {
  std::string w = "W16";
  if (weights)
    w = "W" + std::to_string(weights->bits) + " " + weights->granularity_str() + " " +
        (weights->symmetric ? "sym" : "asym") + " " + weight_method;
  std::string chain;
  for (const std::string& t : transforms()) chain += (chain.empty() ? "" : ",") + t;
  // "(weights only)": smooth-fused without its run-time parts (--weights-only); the other
  // transforms have none.
  const bool dropped = !runtime_transforms && std::count(methods.begin(), methods.end(), "smooth-fused");
  if (!chain.empty()) chain = chain + (dropped ? " (weights only)" : "") + " then ";
  return chain + w + ", " + act.describe() + ", " + state.describe();
}

json Scheme::to_json() const {
  json j;
  j["methods"] = methods;
  if (weights) {
    json mods = json::array();
    for (Module m : weight_modules) mods.push_back(std::string(module_name(m)));
    const bool group = weights->granularity == RtnGranularity::Group;
    j["weights"] = {{"method", weight_method},
                    {"bits", weights->bits},
                    {"granularity", group ? "group"
                                    : weights->granularity == RtnGranularity::Channel ? "channel"
                                                                                      : "tensor"},
                    {"group_size", group ? json(weights->group_size) : json(nullptr)},
                    {"symmetric", weights->symmetric},
                    {"modules", mods}};
    if (weight_method == "gptq")
      j["weights"]["gptq"] = {{"damp", gptq.damp}, {"block", gptq.block}, {"act_order", gptq.act_order}};
    if (!gguf_type.empty()) j["weights"]["gguf_type"] = gguf_type;
  }
  json steps = json::array();
  if (zero_outliers) steps.push_back({{"method", "zero-outliers"}});
  if (zero_random_seed) steps.push_back({{"method", "zero-random"}, {"seed", *zero_random_seed}});
  for (const std::string& t : transforms()) {
    json step{{"method", t}};
    if (t == "smoothquant" || t == "smooth-fused") step["alpha"] = alpha;
    steps.push_back(step);
  }
  j["transforms"] = steps;
  j["runtime_transforms"] = runtime_transforms;
  json texts = json::array();
  for (size_t i = 0; i < calibration.files.size(); ++i)
    texts.push_back({{"file", calibration.files[i]},
                     {"sha256", i < calibration.sha256.size() ? calibration.sha256[i] : ""}});
  j["calibration"] = {{"texts", texts}, {"tokens", calibration.tokens}, {"seq_len", calibration.seq_len}};
  j["dtype"] = dtype.empty() ? "source" : dtype;
  if (!format.empty()) j["format"] = format;
  j["activations"] = {{"bits", act.bits},
                      {"scale", act_scale_name(act.scale)},
                      {"granularity", act_granularity_name(act.granularity)}};
  if (!act_absmax.empty()) j["activations"]["absmax"] = act_absmax;
  j["state"] = {{"bits", state.bits},
                {"method", state_method_name(state.method)},
                {"dsq_variant", dsq_variant_name(state.variant)}};
  j["statistics"] = statistics.empty() ? json(nullptr) : json(statistics);
  return j;
}

namespace {

// Field readers that name the file and the field on a wrong type.
struct Reader {
  const std::string& where;
  [[noreturn]] void fail(const std::string& field, const std::string& problem) const {
    throw InputError(where, field + " " + problem);
  }
  int integer(const json& obj, const std::string& section, const char* key, int fallback) const {
    if (!obj.contains(key) || obj[key].is_null()) return fallback;
    if (!obj[key].is_number_integer()) fail(section + "." + key, "must be an integer");
    return obj[key].get<int>();
  }
  int64_t integer64(const json& obj, const std::string& section, const char* key, int64_t fallback) const {
    if (!obj.contains(key) || obj[key].is_null()) return fallback;
    if (!obj[key].is_number_integer()) fail(section + "." + key, "must be an integer");
    return obj[key].get<int64_t>();
  }
  double number(const json& obj, const std::string& section, const char* key, double fallback) const {
    if (!obj.contains(key) || obj[key].is_null()) return fallback;
    if (!obj[key].is_number()) fail(section + "." + key, "must be a number");
    return obj[key].get<double>();
  }
  bool boolean(const json& obj, const std::string& section, const char* key, bool fallback) const {
    if (!obj.contains(key) || obj[key].is_null()) return fallback;
    if (!obj[key].is_boolean()) fail(section + "." + key, "must be true or false");
    return obj[key].get<bool>();
  }
  std::string text(const json& obj, const std::string& section, const char* key,
                   const std::string& fallback) const {
    if (!obj.contains(key) || obj[key].is_null()) return fallback;
    if (!obj[key].is_string()) fail(section + "." + key, "must be a string");
    return obj[key].get<std::string>();
  }
  const json& section(const json& j, const char* key) const {
    static const json empty = json::object();
    if (!j.contains(key) || j[key].is_null()) return empty;
    if (!j[key].is_object()) fail(key, "must be an object");
    return j[key];
  }
};

// Parse errors of the shared parsers (UsageError naming a flag) become InputErrors on the file.
template <typename F>
auto field(const Reader& r, const std::string& name, F&& f) {
  try {
    return f();
  } catch (const UsageError& e) {
    throw InputError(r.where, name + ": " + e.what());
  }
}

// The method chain's settings: transforms' steps, GPTQ, calibration text, dtype, format.
void read_chain_settings(const Reader& r, const json& j, Scheme& s) {
  if (j.contains("transforms") && !j["transforms"].is_null()) {
    if (!j["transforms"].is_array()) r.fail("transforms", "must be an array of objects");
    for (const json& step : j["transforms"]) {
      if (!step.is_object()) r.fail("transforms", "must be an array of objects");
      const std::string m = r.text(step, "transforms[]", "method", "");
      if (m == "zero-outliers") s.zero_outliers = true;
      if (m == "zero-random") {
        const int64_t seed = r.integer64(step, "transforms[zero-random]", "seed", -1);
        if (seed < 0) r.fail("transforms[zero-random].seed", "must be a non-negative integer");
        s.zero_random_seed = uint64_t(seed);
      }
      if (step.contains("alpha")) s.alpha = r.number(step, "transforms[" + m + "]", "alpha", 0.5);
      if (step.contains("dropped") && step["dropped"].is_array() && !step["dropped"].empty())
        s.runtime_transforms = false;
    }
  }
  s.runtime_transforms = r.boolean(j, "scheme", "runtime_transforms", s.runtime_transforms);
  if (!(s.alpha >= 0 && s.alpha <= 1)) r.fail("transforms[].alpha", "must lie in [0, 1]");
  const json& w = r.section(j, "weights");
  const json& g = r.section(w, "gptq");
  s.gptq.damp = r.number(g, "weights.gptq", "damp", s.gptq.damp);
  s.gptq.block = r.integer64(g, "weights.gptq", "block", s.gptq.block);
  s.gptq.act_order = r.boolean(g, "weights.gptq", "act_order", s.gptq.act_order);
  if (!(s.gptq.damp >= 0) || s.gptq.block < 1) r.fail("weights.gptq", "needs damp >= 0 and block >= 1");
  s.gguf_type = r.text(w, "weights", "gguf_type", "");
  const json& c = r.section(j, "calibration");
  if (c.contains("texts") && !c["texts"].is_null()) {
    if (!c["texts"].is_array()) r.fail("calibration.texts", "must be an array of {file, sha256}");
    for (const json& t : c["texts"]) {
      if (!t.is_object()) r.fail("calibration.texts", "must be an array of {file, sha256}");
      s.calibration.files.push_back(r.text(t, "calibration.texts[]", "file", ""));
      s.calibration.sha256.push_back(r.text(t, "calibration.texts[]", "sha256", ""));
      if (s.calibration.files.back().empty()) r.fail("calibration.texts[].file", "must name a file");
    }
  }
  s.calibration.tokens = r.integer64(c, "calibration", "tokens", s.calibration.tokens);
  s.calibration.seq_len = r.integer64(c, "calibration", "seq_len", s.calibration.seq_len);
  if (s.calibration.tokens < 1 || s.calibration.seq_len < 1)
    r.fail("calibration", "needs tokens >= 1 and seq_len >= 1");
  s.dtype = r.text(j, "scheme", "dtype", "");
  if (s.dtype == "source") s.dtype.clear();
  if (!s.dtype.empty() && s.dtype != "fp32" && s.dtype != "fp16" && s.dtype != "bf16")
    r.fail("dtype", "must be source, fp32, fp16 or bf16");
  s.format = r.text(j, "scheme", "format", "");
}

}  // namespace

Scheme Scheme::from_json(const json& j, const std::string& where) {
  const Reader r{where};
  if (!j.is_object()) throw InputError(where, "is not a JSON object");
  Scheme s;
  if (j.contains("methods") && !j["methods"].is_null()) {
    if (!j["methods"].is_array()) r.fail("methods", "must be an array of strings");
    for (const json& m : j["methods"]) {
      if (!m.is_string()) r.fail("methods", "must be an array of strings");
      s.methods.push_back(m.get<std::string>());
      if (!is_known_method(s.methods.back()))
        r.fail("methods", "names an unknown method '" + s.methods.back() + "'");
    }
    // The chain's rules (core/quant/pipeline.h): no repeats, one rounding method, last.
    std::string list;
    for (const std::string& m : s.methods) list += (list.empty() ? "" : ",") + m;
    if (!list.empty()) field(r, "methods", [&] { return parse_method_list(list); });
  }
  const json& w = r.section(j, "weights");
  if (!w.empty()) {
    s.weight_method = r.text(w, "weights", "method", "rtn");
    RtnSpec spec;
    spec.bits = r.integer(w, "weights", "bits", 8);
    if (w.contains("symmetric") && !w["symmetric"].is_null()) {
      if (!w["symmetric"].is_boolean()) r.fail("weights.symmetric", "must be true or false");
      spec.symmetric = w["symmetric"].get<bool>();
    }
    std::string gran = r.text(w, "weights", "granularity", "channel");
    if (gran == "group") gran += ":" + std::to_string(r.integer(w, "weights", "group_size", 0));
    spec = field(r, "weights.granularity", [&] { return RtnSpec::with_granularity(spec, gran); });
    field(r, "weights", [&] { spec.validate(); return 0; });
    s.weights = spec;
    if (w.contains("modules") && !w["modules"].is_null()) {
      if (!w["modules"].is_array()) r.fail("weights.modules", "must be an array of module names");
      std::string list;
      for (const json& m : w["modules"]) {
        if (!m.is_string()) r.fail("weights.modules", "must be an array of module names");
        list += (list.empty() ? "" : ",") + m.get<std::string>();
      }
      if (!list.empty())
        s.weight_modules = field(r, "weights.modules", [&] { return parse_weight_modules(list); });
    }
  }
  const json& a = r.section(j, "activations");
  s.act.bits = r.integer(a, "activations", "bits", 16);
  s.act.scale = field(r, "activations.scale", [&] {
    return parse_act_scale(r.text(a, "activations", "scale", "dynamic"));
  });
  s.act.granularity = field(r, "activations.granularity", [&] {
    return parse_act_granularity(r.text(a, "activations", "granularity", "token"));
  });
  if (a.contains("absmax") && !a["absmax"].is_null()) {
    if (!a["absmax"].is_object()) r.fail("activations.absmax", "must map quant points to numbers");
    for (const auto& [key, v] : a["absmax"].items()) {
      const std::optional<QuantPoint> p = QuantPoint::parse(key);
      if (!p || p->site != Site::Input) r.fail("activations.absmax", "names '" + key + "', not a Linear input");
      if (!v.is_number() || !(v.get<double>() >= 0) || !std::isfinite(v.get<double>()))
        r.fail("activations.absmax." + key, "must be a finite number >= 0");
      s.act_absmax[key] = v.get<double>();
    }
  }
  const json& st = r.section(j, "state");
  s.state.bits = r.integer(st, "state", "bits", 16);
  s.state.method = field(r, "state.method", [&] {
    return parse_state_method(r.text(st, "state", "method", "dsq"));
  });
  s.state.variant = field(r, "state.dsq_variant", [&] {
    return parse_dsq_variant(r.text(st, "state", "dsq_variant", "abs.mean.sqrt"));
  });
  if (j.contains("statistics") && !j["statistics"].is_null()) {
    const json& stats = j["statistics"];
    if (stats.is_string()) s.statistics = stats.get<std::string>();
    else if (stats.is_object())
      s.statistics = r.text(stats, "statistics", "path", r.text(stats, "statistics", "file", ""));
    else r.fail("statistics", "must be null, a path or an object with a path");
  }
  read_chain_settings(r, j, s);
  field(r, "scheme", [&] { s.validate(); return 0; });
  return s;
}

std::vector<QuantizedWeight> scheme_weights(const WeightSet& base, const Scheme& scheme) {
  for (const std::string& m : scheme.methods)
    if (m != "rtn")
      throw InputError("scheme", "method '" + m + "' is not applied by eval/sweep in this version "
                                                  "(weights are rounded with rtn only)");
  std::vector<QuantizedWeight> out;
  if (!scheme.weights) return out;
  if (scheme.weight_method != "rtn")
    throw InputError("scheme", "weights.method '" + scheme.weight_method +
                                   "' is not applied by eval/sweep in this version (rtn only)");
  const std::vector<Module>& modules =
      scheme.weight_modules.empty() ? default_weight_modules() : scheme.weight_modules;
  for (int i = 0; i < base.config.n_layer; ++i)
    for (Module m : modules) {
      const QuantPoint p{i, m, Site::Weight};
      const std::string key = layer_key(i, std::string(module_name(m)) + ".weight");
      const at::Tensor* w = base.find(key);
      if (!w) continue;  // Mamba-2 has no x_proj, dt_proj
      out.push_back({p, key, rtn_fake_quant(*w, *scheme.weights, key)});
    }
  return out;
}

Scheme Scheme::read(const std::filesystem::path& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) throw InputError(file.string(), "cannot be read");
  std::stringstream ss;
  ss << in.rdbuf();
  json j;
  try {
    j = json::parse(ss.str());
  } catch (const json::parse_error& e) {
    throw InputError(file.string(), std::string("is not valid JSON (") + e.what() + ")");
  }
  Scheme s = from_json(j, file.string());
  // A relative statistics path is relative to the scheme's own directory.
  if (!s.statistics.empty() && std::filesystem::path(s.statistics).is_relative())
    s.statistics = (file.parent_path() / s.statistics).string();
  return s;
}

}  // namespace ms
