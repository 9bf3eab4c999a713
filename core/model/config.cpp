// config.json in both layouts -> ModelConfig. The one place where every derived field is
// computed (derive()) and where sizes are checked for consistency (validate()).
//
// HF layout: `model_type` in {mamba, falcon_mamba, mamba2}; keys hidden_size, num_hidden_layers,
// state_size, conv_kernel, expand, time_step_rank, num_heads, head_dim, n_groups, ...
// state-spaces layout: d_model, n_layer, vocab_size, ssm_cfg{layer, d_state, ...},
// pad_vocab_size_multiple; Mamba-2 is marked by ssm_cfg.layer == "Mamba2".
#include "core/model/config.h"

#include <cmath>
#include <fstream>
#include <limits>
#include <sstream>

#include <nlohmann/json.hpp>

#include "core/util/error.h"

namespace ms {
namespace {

using nlohmann::json;

constexpr double kInf = std::numeric_limits<double>::infinity();
// Bounds on what a config.json may claim, so that a hostile one can neither overflow the size
// arithmetic nor make expected_tensors() allocate per layer without end (issue 9, found by
// tests/fuzz/fuzz_config). Real models: at most 64 layers and 7.3e9 parameters.
constexpr int64_t kMaxDimension = int64_t{1} << 24;
constexpr int64_t kMaxLayers = 4096;
constexpr __int128 kMaxParameters = __int128{1} << 40;

// Python's json module writes the non-standard literals Infinity, -Infinity and NaN (HF configs
// of Mamba-2 carry `"time_step_limit": [0.0, Infinity]`). Replace them, outside strings, with
// quoted markers that number_or_inf() understands, so a strict parser can read the file.
std::string quote_nonfinite_literals(const std::string& text) {
  std::string out;
  out.reserve(text.size() + 16);
  bool in_string = false;
  for (size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (in_string) {
      out += c;
      if (c == '\\' && i + 1 < text.size()) out += text[++i];
      else if (c == '"') in_string = false;
      continue;
    }
    if (c == '"') { in_string = true; out += c; continue; }
    for (const char* lit : {"-Infinity", "Infinity", "NaN"}) {
      size_t n = std::char_traits<char>::length(lit);
      if (text.compare(i, n, lit) == 0) {
        out += '"'; out += lit; out += '"';
        i += n - 1;
        c = 0;
        break;
      }
    }
    if (c) out += c;
  }
  return out;
}

class ConfigReader {
 public:
  ConfigReader(const json& j, std::string source) : j_(j), source_(std::move(source)) {}

  bool has(const char* key) const { return j_.contains(key) && !j_.at(key).is_null(); }

  int64_t positive_int(const char* key) const {
    if (!has(key)) throw InputError(source_, std::string("missing field '") + key + "'");
    return positive_int_value(j_.at(key), key);
  }
  int64_t positive_int_or(const char* key, int64_t fallback) const {
    return has(key) ? positive_int_value(j_.at(key), key) : fallback;
  }
  double positive_double_or(const char* key, double fallback) const {
    if (!has(key)) return fallback;
    const json& v = j_.at(key);
    if (!v.is_number() || !(v.get<double>() > 0) || !std::isfinite(v.get<double>()))
      throw InputError(source_, std::string("'") + key + "' must be a positive number (got " +
                                    v.dump() + ")");
    return v.get<double>();
  }
  bool bool_or(const char* key, bool fallback) const {
    if (!has(key)) return fallback;
    const json& v = j_.at(key);
    if (!v.is_boolean())
      throw InputError(source_, std::string("'") + key + "' must be true or false (got " +
                                    v.dump() + ")");
    return v.get<bool>();
  }
  std::optional<int64_t> optional_id(const char* key) const {
    if (!has(key)) return std::nullopt;
    const json& v = j_.at(key);
    if (v.is_array() && !v.empty()) return optional_id_value(v.front(), key);  // eos lists
    return optional_id_value(v, key);
  }
  std::string string_or(const char* key, const std::string& fallback) const {
    if (!has(key)) return fallback;
    const json& v = j_.at(key);
    if (!v.is_string())
      throw InputError(source_, std::string("'") + key + "' must be a string (got " + v.dump() + ")");
    return v.get<std::string>();
  }
  // dt_rank / time_step_rank: an integer or "auto" (-> 0, resolved by derive()).
  int64_t rank_or_auto(const char* key) const {
    if (!has(key)) return 0;
    const json& v = j_.at(key);
    if (v.is_string() && v.get<std::string>() == "auto") return 0;
    return positive_int_value(v, key);
  }
  // [lo, hi] with Infinity spelled any of the ways Python writes it.
  void limits_or(const char* key, double& lo, double& hi) const {
    if (!has(key)) return;
    const json& v = j_.at(key);
    if (!v.is_array() || v.size() != 2)
      throw InputError(source_, std::string("'") + key + "' must be a pair [min, max] (got " +
                                    v.dump() + ")");
    lo = number_or_inf(v[0], key);
    hi = number_or_inf(v[1], key);
    if (!(lo >= 0) || !(hi > lo))
      throw InputError(source_, std::string("'") + key + "' must satisfy 0 <= min < max (got " +
                                    v.dump() + ")");
  }
  const json& raw() const { return j_; }

 private:
  int64_t positive_int_value(const json& v, const char* key) const {
    if (!v.is_number_integer() || v.get<int64_t>() <= 0)
      throw InputError(source_, std::string("'") + key + "' must be a positive integer (got " +
                                    v.dump() + ")");
    int64_t x = v.get<int64_t>();
    // Far above any real size (vocabularies ~256k, d_model ~8k), and it keeps derive()'s
    // products (E = expand * d, 2E + 2GN + H) inside int64; the fuzzer found the overflow.
    if (x > kMaxDimension)
      throw InputError(source_, std::string("'") + key + "' is implausibly large (" +
                                    std::to_string(x) + ")");
    return x;
  }
  std::optional<int64_t> optional_id_value(const json& v, const char* key) const {
    if (v.is_null()) return std::nullopt;
    if (!v.is_number_integer() || v.get<int64_t>() < 0)
      throw InputError(source_, std::string("'") + key + "' must be a token id (got " + v.dump() + ")");
    return v.get<int64_t>();
  }
  double number_or_inf(const json& v, const char* key) const {
    if (v.is_number()) return v.get<double>();
    std::string s;
    if (v.is_string()) s = v.get<std::string>();
    else if (v.is_object() && v.contains("__float__") && v.at("__float__").is_string())
      s = v.at("__float__").get<std::string>();
    if (s == "Infinity" || s == "inf" || s == "Inf") return kInf;
    throw InputError(source_, std::string("'") + key + "' holds a value that is not a number: " +
                                  v.dump());
  }

  const json& j_;
  std::string source_;
};

void refuse_hf_model_type(const std::string& type, const std::string& source) {
  static const char* hybrids[] = {"jamba", "zamba", "zamba2", "bamba", "nemotron_h",
                                  "falcon_h1", "granitemoehybrid", "plamo2"};
  for (const char* h : hybrids)
    if (type == h)
      throw InputError(source, "model_type '" + type +
                                   "' is a hybrid (attention + Mamba) model, which MambaScope does "
                                   "not support (supported: mamba, mamba2, falcon_mamba)");
  throw InputError(source, "unsupported model_type '" + type +
                               "' (supported: mamba, mamba2, falcon_mamba)");
}

ModelConfig parse_hf(const ConfigReader& r, const std::string& type, const std::string& source) {
  ModelConfig c;
  c.layout = Layout::HF;
  if (type == "mamba") c.arch = Arch::Mamba1;
  else if (type == "falcon_mamba") c.arch = Arch::FalconMamba;
  else if (type == "mamba2") c.arch = Arch::Mamba2;
  else refuse_hf_model_type(type, source);

  std::string act = r.string_or("hidden_act", "silu");
  if (act != "silu" && act != "swish")
    throw InputError(source, "hidden_act '" + act + "' is not supported (only silu)");
  c.d_model = r.positive_int("hidden_size");
  c.n_layer = r.positive_int("num_hidden_layers");
  c.vocab_size = r.positive_int("vocab_size");
  c.d_state = r.positive_int_or("state_size", c.is_mamba2() ? 128 : 16);
  c.d_conv = r.positive_int_or("conv_kernel", 4);
  c.expand = r.positive_int_or("expand", 2);
  c.norm_eps = r.positive_double_or("layer_norm_epsilon", 1e-5);
  c.proj_bias = r.bool_or("use_bias", false);
  c.conv_bias = r.bool_or("use_conv_bias", true);
  c.residual_in_fp32 = r.bool_or("residual_in_fp32", true);
  c.bos_token_id = r.optional_id("bos_token_id");
  c.eos_token_id = r.optional_id("eos_token_id");
  c.pad_token_id = r.optional_id("pad_token_id");
  if (c.is_mamba2()) {
    c.tie_embeddings = r.bool_or("tie_word_embeddings", false);
    if (!r.bool_or("rms_norm", true))
      throw InputError(source, "rms_norm = false (Mamba-2 without the gated RMSNorm) is not supported");
    c.head_dim = r.positive_int_or("head_dim", 64);
    c.n_groups = r.positive_int_or("n_groups", 1);
    c.n_heads = r.positive_int_or("num_heads", 0);
    c.dt_limit_max = kInf;
    r.limits_or("time_step_limit", c.dt_limit_min, c.dt_limit_max);
    c.d_inner = c.expand * c.d_model;  // HF computes it from expand, ignoring intermediate_size
  } else {
    c.tie_embeddings = r.bool_or("tie_word_embeddings", true);
    c.dt_rank = r.rank_or_auto("time_step_rank");
    c.d_inner = r.positive_int_or("intermediate_size", c.expand * c.d_model);
    if (c.arch == Arch::FalconMamba) c.mixer_rms_eps = r.positive_double_or("mixer_rms_eps", 1e-6);
  }
  return c;
}

ModelConfig parse_state_spaces(const ConfigReader& r, const std::string& source) {
  ModelConfig c;
  c.layout = Layout::StateSpaces;
  c.d_model = r.positive_int("d_model");
  c.n_layer = r.positive_int("n_layer");
  c.vocab_size = r.positive_int("vocab_size");
  c.pad_vocab_size_multiple = r.positive_int_or("pad_vocab_size_multiple", 8);
  c.residual_in_fp32 = r.bool_or("residual_in_fp32", true);
  c.tie_embeddings = r.bool_or("tie_embeddings", true);
  if (!r.bool_or("rms_norm", true))
    throw InputError(source, "rms_norm = false (LayerNorm blocks) is not supported");
  if (r.has("d_intermediate") && r.raw().at("d_intermediate") != 0)
    throw InputError(source, "d_intermediate > 0 (MLP blocks between mixers) is not supported");
  if (r.has("attn_layer_idx") && r.raw().at("attn_layer_idx").is_array() &&
      !r.raw().at("attn_layer_idx").empty())
    throw InputError(source, "attention layers (attn_layer_idx) are not supported");

  json ssm = r.has("ssm_cfg") ? r.raw().at("ssm_cfg") : json::object();
  if (!ssm.is_object()) throw InputError(source, "'ssm_cfg' must be an object");
  ConfigReader s(ssm, source);
  std::string layer = s.string_or("layer", "Mamba1");
  if (layer == "Mamba1") c.arch = Arch::Mamba1;
  else if (layer == "Mamba2") c.arch = Arch::Mamba2;
  else throw InputError(source, "unsupported ssm_cfg.layer '" + layer + "' (supported: Mamba1, Mamba2)");

  c.d_state = s.positive_int_or("d_state", c.is_mamba2() ? 128 : 16);
  c.d_conv = s.positive_int_or("d_conv", 4);
  c.expand = s.positive_int_or("expand", 2);
  c.proj_bias = s.bool_or("bias", false);
  c.conv_bias = s.bool_or("conv_bias", true);
  c.d_inner = c.expand * c.d_model;
  if (c.is_mamba2()) {
    c.head_dim = s.positive_int_or("headdim", 64);
    c.n_groups = s.positive_int_or("ngroups", 1);
    c.dt_limit_max = kInf;
    s.limits_or("dt_limit", c.dt_limit_min, c.dt_limit_max);
    if (!s.bool_or("rmsnorm", true))
      throw InputError(source, "ssm_cfg.rmsnorm = false (Mamba-2 without the gated norm) is not supported");
    if (s.bool_or("norm_before_gate", false))
      throw InputError(source, "ssm_cfg.norm_before_gate = true is not supported");
    if (s.has("d_ssm") && s.positive_int("d_ssm") != c.d_inner)
      throw InputError(source, "ssm_cfg.d_ssm < d_inner (a partial SSM with an MLP branch) is not supported");
  } else {
    c.dt_rank = s.rank_or_auto("dt_rank");
  }
  return c;
}

}  // namespace

std::string_view arch_name(Arch arch) {
  switch (arch) {
    case Arch::Mamba1: return "mamba";
    case Arch::FalconMamba: return "falcon_mamba";
    case Arch::Mamba2: return "mamba2";
  }
  return "?";
}

std::string_view layout_name(Layout layout) {
  return layout == Layout::HF ? "hf" : "state-spaces";
}

ModelConfig ModelConfig::from_json_text(const std::string& text, const std::string& source) {
  json j = json::parse(quote_nonfinite_literals(text), nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) throw InputError(source, "not valid JSON");
  if (!j.is_object()) throw InputError(source, "not a JSON object");
  ConfigReader r(j, source);
  ModelConfig c;
  if (r.has("model_type")) {
    c = parse_hf(r, r.string_or("model_type", ""), source);
  } else if (r.has("d_model") && r.has("n_layer")) {
    c = parse_state_spaces(r, source);
  } else {
    throw InputError(source, "neither an HF config (no 'model_type') nor a state-spaces config "
                             "(no 'd_model'/'n_layer')");
  }
  c.derive();
  c.validate(source);
  return c;
}

ModelConfig ModelConfig::from_file(const std::filesystem::path& config_json) {
  std::ifstream in(config_json, std::ios::binary);
  if (!in) throw InputError(config_json.string(), "cannot open");
  std::ostringstream ss;
  ss << in.rdbuf();
  return from_json_text(ss.str(), config_json.string());
}

void ModelConfig::derive() {
  if (d_inner == 0) d_inner = expand * d_model;
  if (arch != Arch::Mamba2) {
    if (dt_rank == 0) dt_rank = (d_model + 15) / 16;  // "auto": ceil(d_model / 16)
    conv_dim = d_inner;
    in_proj_rows = 2 * d_inner;
  } else {
    if (n_heads == 0 && head_dim > 0) n_heads = d_inner / head_dim;
    conv_dim = d_inner + 2 * n_groups * d_state;
    in_proj_rows = 2 * d_inner + 2 * n_groups * d_state + n_heads;
    if (dt_limit_max == 0) dt_limit_max = kInf;
  }
  int64_t m = std::max<int64_t>(1, pad_vocab_size_multiple);
  padded_vocab = (vocab_size + m - 1) / m * m;
}

namespace {
// In 128 bits, so that validate() can refuse a total above kMaxParameters before anything
// multiplies the sizes in int64 (each size is at most 2^24; their products are not bounded).
__int128 count_parameters(const ModelConfig& c) {
  const __int128 d = c.d_model, E = c.d_inner, rows = c.in_proj_rows, conv = c.conv_dim;
  __int128 per_layer = d;  // block norm
  per_layer += rows * d + (c.proj_bias ? rows : 0);
  per_layer += conv * c.d_conv + (c.conv_bias ? conv : 0);
  per_layer += d * E + (c.proj_bias ? d : 0);  // out_proj
  if (c.arch == Arch::Mamba2) {
    per_layer += 3 * __int128{c.n_heads} + E;  // dt_bias, A_log, D, gated norm
  } else {
    per_layer += __int128{c.x_proj_rows()} * E;  // x_proj
    per_layer += E * c.dt_rank + E;              // dt_proj weight + bias
    per_layer += E * c.d_state + E;              // A_log, D
  }
  const __int128 embedding = __int128{c.padded_vocab} * d;
  __int128 total = per_layer * c.n_layer + embedding + d;
  if (!c.tie_embeddings) total += embedding;
  return total;
}
}  // namespace

void ModelConfig::validate(const std::string& source) const {
  auto fail = [&](const std::string& what) { throw InputError(source, what); };
  if (d_model <= 0 || n_layer <= 0 || vocab_size <= 0 || d_state <= 0 || d_conv <= 0 || d_inner <= 0)
    fail("sizes must be positive");
  if (arch == Arch::Mamba2) {
    if (d_inner % head_dim != 0)
      fail("d_inner " + std::to_string(d_inner) + " is not a multiple of head_dim " +
           std::to_string(head_dim));
    if (n_heads * head_dim != d_inner)
      fail("num_heads * head_dim = " + std::to_string(n_heads) + " * " + std::to_string(head_dim) +
           " does not equal d_inner = expand * hidden_size = " + std::to_string(d_inner));
    if (n_heads % n_groups != 0)
      fail("num_heads " + std::to_string(n_heads) + " is not a multiple of n_groups " +
           std::to_string(n_groups));
    if (d_inner % n_groups != 0) fail("d_inner is not a multiple of n_groups");
  } else if (dt_rank <= 0) {
    fail("dt_rank must be positive");
  }
  if (n_layer > kMaxLayers)
    fail("implausibly many layers (" + std::to_string(n_layer) + "; the limit is " +
         std::to_string(kMaxLayers) + ")");
  if (count_parameters(*this) > kMaxParameters)
    fail("implausibly large: the sizes give more than 2^40 parameters");
}

int64_t ModelConfig::parameter_count() const {
  return static_cast<int64_t>(count_parameters(*this));  // validate() bounds it by 2^40
}

namespace {
json limits_json(double lo, double hi) {
  // Written the way transformers 5.x writes an infinite bound, which strict parsers accept.
  json hij = std::isinf(hi) ? json{{"__float__", "Infinity"}} : json(hi);
  return json::array({lo, hij});
}
}  // namespace

std::string ModelConfig::to_hf_json() const {
  json j;
  j["model_type"] = std::string(arch_name(arch));
  j["architectures"] = json::array({arch == Arch::Mamba1        ? "MambaForCausalLM"
                                    : arch == Arch::FalconMamba ? "FalconMambaForCausalLM"
                                                                : "Mamba2ForCausalLM"});
  j["hidden_size"] = d_model;
  j["num_hidden_layers"] = n_layer;
  j["vocab_size"] = padded_vocab;
  j["state_size"] = d_state;
  j["conv_kernel"] = d_conv;
  j["expand"] = expand;
  j["layer_norm_epsilon"] = norm_eps;
  j["use_bias"] = proj_bias;
  j["use_conv_bias"] = conv_bias;
  j["residual_in_fp32"] = residual_in_fp32;
  j["tie_word_embeddings"] = tie_embeddings;
  j["hidden_act"] = "silu";
  if (bos_token_id) j["bos_token_id"] = *bos_token_id;
  if (eos_token_id) j["eos_token_id"] = *eos_token_id;
  if (pad_token_id) j["pad_token_id"] = *pad_token_id;
  if (arch == Arch::Mamba2) {
    j["num_heads"] = n_heads;
    j["head_dim"] = head_dim;
    j["n_groups"] = n_groups;
    j["time_step_limit"] = limits_json(dt_limit_min, dt_limit_max);
    j["rms_norm"] = true;
  } else {
    j["intermediate_size"] = d_inner;
    j["time_step_rank"] = dt_rank;
    if (arch == Arch::FalconMamba) j["mixer_rms_eps"] = mixer_rms_eps;
  }
  return j.dump(2) + "\n";
}

std::string ModelConfig::to_state_spaces_json() const {
  json ssm;
  ssm["layer"] = arch == Arch::Mamba2 ? "Mamba2" : "Mamba1";
  ssm["d_state"] = d_state;
  ssm["d_conv"] = d_conv;
  ssm["expand"] = expand;
  ssm["bias"] = proj_bias;
  ssm["conv_bias"] = conv_bias;
  if (arch == Arch::Mamba2) {
    ssm["headdim"] = head_dim;
    ssm["ngroups"] = n_groups;
    if (dt_limit_min != 0 || !std::isinf(dt_limit_max))
      ssm["dt_limit"] = limits_json(dt_limit_min, dt_limit_max);
  } else {
    ssm["dt_rank"] = dt_rank;
  }
  json j;
  j["d_model"] = d_model;
  j["d_intermediate"] = 0;
  j["n_layer"] = n_layer;
  j["vocab_size"] = vocab_size;
  j["ssm_cfg"] = ssm;
  j["attn_layer_idx"] = json::array();
  j["attn_cfg"] = json::object();
  j["rms_norm"] = true;
  j["residual_in_fp32"] = residual_in_fp32;
  j["fused_add_norm"] = true;
  j["pad_vocab_size_multiple"] = pad_vocab_size_multiple;
  j["tie_embeddings"] = tie_embeddings;
  return j.dump(2) + "\n";
}

}  // namespace ms
