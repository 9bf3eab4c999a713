// Quant point ids, their canonical text, and the key table (canonical / HF / state-spaces / GGUF).
#include "core/model/quant_point.h"

#include <array>
#include <charconv>

namespace ms {
namespace {

struct ModuleInfo {
  Module module;
  std::string_view name;  // our vocabulary, also the HF and state-spaces mixer attribute
  std::string_view gguf;  // llama.cpp tensor stem
  bool is_linear;
};

constexpr std::array<ModuleInfo, 6> kModules{{
    {Module::InProj, "in_proj", "ssm_in", true},
    {Module::Conv1d, "conv1d", "ssm_conv1d", false},
    {Module::XProj, "x_proj", "ssm_x", true},
    {Module::DtProj, "dt_proj", "ssm_dt", true},
    {Module::OutProj, "out_proj", "ssm_out", true},
    {Module::Ssm, "ssm", "", false},
}};

const ModuleInfo& info(Module m) {
  for (const auto& i : kModules)
    if (i.module == m) return i;
  return kModules.back();
}

// The combinations that exist: Linear inputs and weights, the conv weight, the state.
bool valid_combination(Module m, Site s) {
  if (m == Module::Ssm) return s == Site::State;
  if (m == Module::Conv1d) return s == Site::Weight;
  return s == Site::Input || s == Site::Weight;
}

}  // namespace

std::string_view module_name(Module module) { return info(module).name; }

std::string_view site_name(Site site) {
  switch (site) {
    case Site::Input: return "input";
    case Site::Weight: return "weight";
    case Site::State: return "state";
  }
  return "?";
}

std::string QuantPoint::str() const {
  std::string s = "layers.";
  s += std::to_string(layer);
  s += '.';
  s += module_name(module);
  s += '.';
  s += site_name(site);
  return s;
}

std::optional<QuantPoint> QuantPoint::parse(std::string_view text) {
  constexpr std::string_view prefix = "layers.";
  if (text.substr(0, prefix.size()) != prefix) return std::nullopt;
  text.remove_prefix(prefix.size());
  size_t dot = text.find('.');
  if (dot == std::string_view::npos || dot == 0) return std::nullopt;
  std::string_view num = text.substr(0, dot);
  if (num.size() > 1 && num[0] == '0') return std::nullopt;  // one spelling per layer
  QuantPoint p;
  auto [end, ec] = std::from_chars(num.data(), num.data() + num.size(), p.layer);
  if (ec != std::errc() || end != num.data() + num.size() || p.layer < 0) return std::nullopt;
  text.remove_prefix(dot + 1);
  dot = text.find('.');
  if (dot == std::string_view::npos) return std::nullopt;
  std::string_view mod = text.substr(0, dot), site = text.substr(dot + 1);
  bool found = false;
  for (const auto& i : kModules)
    if (i.name == mod) { p.module = i.module; found = true; }
  if (!found) return std::nullopt;
  if (site == "input") p.site = Site::Input;
  else if (site == "weight") p.site = Site::Weight;
  else if (site == "state") p.site = Site::State;
  else return std::nullopt;
  if (!valid_combination(p.module, p.site)) return std::nullopt;
  return p;
}

std::vector<QuantPoint> activation_points(const ModelConfig& config) {
  std::vector<QuantPoint> out;
  for (int i = 0; i < config.n_layer; ++i) {
    out.push_back({i, Module::InProj, Site::Input});
    if (!config.is_mamba2()) {
      out.push_back({i, Module::XProj, Site::Input});
      out.push_back({i, Module::DtProj, Site::Input});
    }
    out.push_back({i, Module::Ssm, Site::State});
    out.push_back({i, Module::OutProj, Site::Input});
  }
  return out;
}

std::vector<QuantPoint> quant_points(const ModelConfig& config) {
  std::vector<QuantPoint> out;
  for (int i = 0; i < config.n_layer; ++i) {
    auto linear = [&](Module m) {
      out.push_back({i, m, Site::Input});
      out.push_back({i, m, Site::Weight});
    };
    linear(Module::InProj);
    if (!config.is_mamba2()) {
      linear(Module::XProj);
      linear(Module::DtProj);
    }
    out.push_back({i, Module::Ssm, Site::State});
    linear(Module::OutProj);
  }
  return out;
}

std::optional<WeightKeys> weight_keys(const QuantPoint& point) {
  if (point.site != Site::Weight) return std::nullopt;
  const ModuleInfo& m = info(point.module);
  std::string layer = std::to_string(point.layer);
  WeightKeys k;
  k.canonical = "layers." + layer + "." + std::string(m.name) + ".weight";
  k.hf = "backbone.layers." + layer + ".mixer." + std::string(m.name) + ".weight";
  k.state_spaces = k.hf;  // both layouts name the mixer's modules alike
  k.gguf = "blk." + layer + "." + std::string(m.gguf) + ".weight";
  return k;
}

}  // namespace ms
