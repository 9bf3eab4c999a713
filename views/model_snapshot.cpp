// Building a ModelSnapshot from an opened checkpoint: which stored tensor belongs to which quant
// point, what shape each point observes, and which op separates two consecutive points. This is
// model knowledge (core/model/glossary.h), kept here in one place so no view has to know it.
#include "views/model_snapshot.h"

#include <algorithm>
#include <map>
#include <string_view>

#include "core/model/checkpoint.h"

namespace ms {
namespace {

constexpr std::string_view kLayerPrefix = "layers.";

// "layers.12.in_proj.weight" -> layer 12, local name "in_proj.weight". nullopt for globals.
std::optional<std::pair<int, std::string>> split_layer_key(const std::string& key) {
  if (key.compare(0, kLayerPrefix.size(), kLayerPrefix) != 0) return std::nullopt;
  const std::size_t dot = key.find('.', kLayerPrefix.size());
  if (dot == std::string::npos || dot == kLayerPrefix.size()) return std::nullopt;
  int layer = 0;
  for (std::size_t i = kLayerPrefix.size(); i < dot; ++i) {
    if (key[i] < '0' || key[i] > '9') return std::nullopt;
    layer = layer * 10 + (key[i] - '0');
  }
  return std::make_pair(layer, key.substr(dot + 1));
}

TensorInfo make_tensor_info(const TensorView& view, std::string local_name) {
  TensorInfo info;
  info.key = view.name;
  info.local_name = std::move(local_name);
  info.dtype = view.dtype;
  info.shape = view.shape;
  info.nbytes = view.nbytes;
  return info;
}

PointKind kind_of(const QuantPoint& point) {
  switch (point.site) {
    case Site::Weight: return PointKind::Weight;
    case Site::State: return PointKind::State;
    case Site::Input: break;
  }
  return PointKind::Activation;
}

// Where a layer tensor is shown. Tensors of a module go to its weight point (or, lacking one, to
// any point of that module); the SSM parameters go to the state they define; the block norm
// scales in_proj's input and the gated norm out_proj's input, which is also where SmoothQuant-style
// methods fold scales. Anything else stays unassigned and is listed as such.
std::optional<Module> module_of_tensor(std::string_view local, Site& preferred_site) {
  const auto starts = [&](std::string_view prefix) { return local.substr(0, prefix.size()) == prefix; };
  preferred_site = Site::Weight;
  if (starts("in_proj.")) return Module::InProj;
  if (starts("conv1d.")) return Module::Conv1d;
  if (starts("x_proj.")) return Module::XProj;
  if (starts("dt_proj.")) return Module::DtProj;
  if (starts("out_proj.")) return Module::OutProj;
  preferred_site = Site::State;
  if (local == "A_log" || local == "D" || local == "dt_bias") return Module::Ssm;
  preferred_site = Site::Input;
  if (starts("norm.")) return Module::InProj;
  if (starts("gated_norm.")) return Module::OutProj;
  return std::nullopt;
}

// Shape of the value a point observes, in the glossary's symbols (T = tokens).
std::vector<int64_t> observed_shape(const ModelConfig& c, const QuantPoint& p,
                                    const std::vector<TensorInfo>& tensors) {
  if (p.site == Site::Weight) {
    const std::string weight = std::string(module_name(p.module)) + ".weight";
    for (const TensorInfo& t : tensors)
      if (t.local_name == weight) return t.shape;
    return {};
  }
  switch (p.module) {
    case Module::InProj: return {kTokens, c.d_model};                        // [T, d]
    case Module::Conv1d: return {kTokens, c.conv_dim};                       // [T, E] or [T, E+2GN]
    case Module::XProj: return {kTokens, c.d_inner};                         // [T, E]
    case Module::DtProj: return {kTokens, c.dt_rank};                        // [T, R]
    case Module::OutProj: return {kTokens, c.d_inner};                       // [T, E]
    case Module::Ssm:
      if (c.is_mamba2()) return {c.n_heads, c.head_dim, c.d_state};        // [H, P, N]
      return {c.d_inner, c.d_state};                                         // [E, N]
  }
  return {};
}

// The op between this point's output and the next point (Mamba-1: Gu & Dao 2023, Alg. 2;
// Mamba-2: Dao & Gu 2024, Fig. 6). Inputs feed their Linear unchanged.
std::string op_after(const ModelConfig& c, const QuantPoint& p) {
  const bool m2 = c.is_mamba2();
  switch (p.module) {
    case Module::InProj:
      if (p.site != Site::Weight) return {};
      return m2 ? "split → xBC | z | dt" : "split → x | z";
    case Module::Conv1d:
      if (p.site != Site::Weight) return {};
      return m2 ? "SiLU, split → x | B | C" : "SiLU";
    case Module::XProj:
      return p.site == Site::Weight ? "split → dt | B | C" : std::string();
    case Module::DtProj:
      return p.site == Site::Weight ? "softplus → Δ" : std::string();
    case Module::Ssm:
      return m2 ? "gated RMSNorm(y, z)" : "y · SiLU(z)";
    case Module::OutProj:
      return p.site == Site::Weight ? "+ residual" : std::string();
  }
  return {};
}

std::string point_label(const QuantPoint& p) {
  if (p.site == Site::Weight) return std::string(module_name(p.module));
  return std::string(module_name(p.module)) + "." + std::string(site_name(p.site));
}

}  // namespace

std::string shape_text(const std::vector<int64_t>& shape) {
  std::string out = "[";
  for (std::size_t i = 0; i < shape.size(); ++i) {
    if (i) out += ", ";
    out += shape[i] == kTokens ? std::string("T") : std::to_string(shape[i]);
  }
  return out + "]";
}

std::string TensorInfo::shape_text() const { return ms::shape_text(shape); }

std::size_t LayerInfo::quant_point_count() const {
  return static_cast<std::size_t>(std::count_if(points.begin(), points.end(),
                                                [](const PointInfo& p) { return p.kind != PointKind::Module; }));
}

const LayerInfo* ModelSnapshot::layer(int index) const {
  if (index < 0 || index >= static_cast<int>(layers.size())) return nullptr;
  return &layers[static_cast<std::size_t>(index)];
}

std::shared_ptr<const ModelSnapshot> make_model_snapshot(const Checkpoint& checkpoint,
                                                         const std::string& opened_path) {
  auto snap = std::make_shared<ModelSnapshot>();
  snap->path = opened_path;
  snap->dir = checkpoint.dir.string();
  snap->config = checkpoint.config;
  for (const auto& file : checkpoint.weight_files) snap->weight_files.push_back(file.filename().string());
  if (checkpoint.tokenizer_file) snap->tokenizer_file = checkpoint.tokenizer_file->string();

  const ModelConfig& config = checkpoint.config;
  snap->layers.resize(static_cast<std::size_t>(std::max<int64_t>(config.n_layer, 0)));
  for (std::size_t i = 0; i < snap->layers.size(); ++i) snap->layers[i].index = static_cast<int>(i);

  // Points first, so tensors can be attached to them.
  const std::vector<QuantPoint> points = quant_points(config);
  const bool conv_is_point = std::any_of(points.begin(), points.end(),
                                         [](const QuantPoint& p) { return p.module == Module::Conv1d; });
  const auto add_point = [&](const QuantPoint& point, PointKind kind) {
    PointInfo info;
    info.point = point;
    info.kind = kind;
    info.canonical = point.str();
    info.label = point_label(point);
    info.op_after = op_after(config, point);
    info.keys = weight_keys(point);
    snap->layers[static_cast<std::size_t>(point.layer)].points.push_back(std::move(info));
  };
  for (const QuantPoint& point : points) {
    if (point.layer < 0 || point.layer >= static_cast<int>(snap->layers.size())) continue;
    add_point(point, kind_of(point));
    // The causal conv follows in_proj in both architectures.
    if (!conv_is_point && point.module == Module::InProj && point.site == Site::Weight)
      add_point(QuantPoint{point.layer, Module::Conv1d, Site::Weight}, PointKind::Module);
  }

  std::map<DType, std::size_t> bytes_by_dtype;
  for (const auto& [key, view] : checkpoint.tensors.tensors()) {
    snap->parameter_count += view.numel();
    snap->weight_bytes += view.nbytes;
    bytes_by_dtype[view.dtype] += view.nbytes;

    const auto split = split_layer_key(key);
    if (!split || split->first >= static_cast<int>(snap->layers.size())) {
      TensorInfo info = make_tensor_info(view, key);
      (key.rfind("embedding", 0) == 0 ? snap->before_layers : snap->after_layers).push_back(std::move(info));
      continue;
    }
    LayerInfo& layer = snap->layers[static_cast<std::size_t>(split->first)];
    layer.nbytes += view.nbytes;
    TensorInfo info = make_tensor_info(view, split->second);

    Site preferred = Site::Weight;
    const std::optional<Module> module = module_of_tensor(info.local_name, preferred);
    PointInfo* target = nullptr;
    if (module) {
      for (PointInfo& p : layer.points) {
        if (p.point.module != *module) continue;
        if (p.point.site == preferred) { target = &p; break; }
        if (!target) target = &p;  // another point of the same module, until the preferred one shows up
      }
    }
    (target ? target->tensors : layer.unassigned).push_back(std::move(info));
  }

  // Shapes last: weight points read theirs from the attached tensor.
  for (LayerInfo& layer : snap->layers) {
    for (PointInfo& p : layer.points) {
      // Weight first within a point, then bias, then the rest: the order a reader expects.
      std::stable_sort(p.tensors.begin(), p.tensors.end(), [](const TensorInfo& a, const TensorInfo& b) {
        const auto rank = [](const TensorInfo& t) {
          const auto ends = [&](std::string_view s) {
            return t.local_name.size() >= s.size() &&
                   t.local_name.compare(t.local_name.size() - s.size(), s.size(), s) == 0;
          };
          return ends(".weight") ? 0 : ends(".bias") ? 1 : 2;
        };
        return rank(a) < rank(b);
      });
      p.shape = observed_shape(config, p.point, p.tensors);
      p.shape_text = p.shape.empty() ? std::string("(not stored)") : shape_text(p.shape);
    }
  }

  // norm_f before lm_head: the order the forward pass meets them.
  std::stable_sort(snap->after_layers.begin(), snap->after_layers.end(), [](const TensorInfo& a, const TensorInfo& b) {
    const auto rank = [](const TensorInfo& t) { return t.key.rfind("norm_f", 0) == 0 ? 0 : t.key.rfind("lm_head", 0) == 0 ? 1 : 2; };
    return rank(a) < rank(b);
  });

  std::vector<std::pair<DType, std::size_t>> order(bytes_by_dtype.begin(), bytes_by_dtype.end());
  std::stable_sort(order.begin(), order.end(), [](const auto& a, const auto& b) { return a.second > b.second; });
  for (const auto& entry : order) snap->dtypes.push_back(entry.first);
  return snap;
}

}  // namespace ms
