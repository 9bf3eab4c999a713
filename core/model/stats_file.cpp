// Statistics file reading (see stats_file.h).
#include "core/model/stats_file.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "core/io/safetensors.h"
#include "core/io/tensor_store.h"
#include "core/util/error.h"

namespace ms {
namespace {

constexpr const char* kFormat = "mambascope-calib-stats/1";
constexpr Module kSites[] = {Module::InProj, Module::XProj, Module::DtProj, Module::OutProj};

std::vector<float> read_absmax(const TensorView& view, const std::string& where) {
  if (view.dtype != DType::F32)
    throw InputError(where, view.name + ": expected dtype F32, got " + std::string(dtype_name(view.dtype)));
  if (view.shape.size() != 1 || view.shape[0] < 1)
    throw InputError(where, view.name + ": expected shape [C], got " + view.shape_str());
  std::vector<float> out(static_cast<std::size_t>(view.shape[0]));
  std::memcpy(out.data(), view.data, out.size() * sizeof(float));  // mapped data may be unaligned
  for (const float v : out)
    if (!std::isfinite(v) || v < 0.0f) throw InputError(where, view.name + ": absmax holds a negative or non-finite value");
  return out;
}

int64_t width_of(Module module, const ModelConfig& c) {
  switch (module) {
    case Module::InProj: return c.d_model;
    case Module::XProj: return c.d_inner;
    case Module::DtProj: return c.dt_rank;
    case Module::OutProj: return c.d_inner;
    default: return 0;
  }
}

void build_heatmap(PointSeries& s) {
  const int64_t L = static_cast<int64_t>(s.layers.size());
  s.channels_per_column = (s.channels + kMaxHeatmapColumns - 1) / kMaxHeatmapColumns;
  s.columns = (s.channels + s.channels_per_column - 1) / s.channels_per_column;
  s.heatmap.assign(static_cast<std::size_t>(L * s.columns), 0.0f);
  for (int64_t l = 0; l < L; ++l) {
    const ChannelMaxima& m = s.layers[static_cast<std::size_t>(l)];
    const float scale = m.max > 0.0f ? 1.0f / m.max : 0.0f;
    for (int64_t c = 0; c < s.channels; ++c) {
      float& cell = s.heatmap[static_cast<std::size_t>(l * s.columns + c / s.channels_per_column)];
      cell = std::max(cell, m.absmax[static_cast<std::size_t>(c)] * scale);
    }
  }
}

}  // namespace

ChannelMaxima summarise_channel_maxima(const QuantPoint& point, std::vector<float> absmax) {
  ChannelMaxima m;
  m.point = point;
  m.absmax = std::move(absmax);
  // Two passes in fp64: the mean first, then squared deviations (no cancellation for wide layers).
  double sum = 0.0;
  for (const float v : m.absmax) sum += v;
  const double n = static_cast<double>(std::max<std::size_t>(m.absmax.size(), 1));
  m.mean = sum / n;
  double sq = 0.0;
  for (const float v : m.absmax) sq += (v - m.mean) * (v - m.mean);
  m.std = std::sqrt(sq / n);
  m.threshold = m.mean + kOutlierSigmas * m.std;
  for (std::size_t c = 0; c < m.absmax.size(); ++c) {
    m.max = std::max(m.max, m.absmax[c]);
    if (m.absmax[c] > m.threshold)
      m.outliers.push_back({static_cast<int>(c), m.absmax[c], m.mean > 0.0 ? m.absmax[c] / m.mean : 0.0});
  }
  std::sort(m.outliers.begin(), m.outliers.end(), [](const OutlierChannel& a, const OutlierChannel& b) {
    return a.absmax != b.absmax ? a.absmax > b.absmax : a.channel < b.channel;
  });
  return m;
}

const PointSeries* StatsSnapshot::find(Module module) const {
  for (const PointSeries& s : series)
    if (s.module == module) return &s;
  return nullptr;
}

namespace {
// How many outliers, then how far the strongest one stands out (× mean): ties in count are common
// (one outlier each), and the stronger outlier is the one worth looking at first.
struct OutlierScore {
  std::size_t count = 0;
  double strongest = 0.0;
  void add(const ChannelMaxima& m) {
    count += m.outliers.size();
    if (!m.outliers.empty()) strongest = std::max(strongest, m.outliers.front().times_mean);
  }
  bool operator>(const OutlierScore& o) const { return count != o.count ? count > o.count : strongest > o.strongest; }
};
}  // namespace

Module StatsSnapshot::point_with_most_outliers(int layer) const {
  Module best = series.empty() ? Module::InProj : series.front().module;
  if (layer < 0 || layer >= n_layers) return best;
  OutlierScore best_score;
  for (const PointSeries& s : series) {
    OutlierScore score;
    score.add(s.layers[static_cast<std::size_t>(layer)]);
    if (score > best_score) {
      best_score = score;
      best = s.module;
    }
  }
  return best;
}

int StatsSnapshot::layer_with_most_outliers() const {
  int best = 0;
  OutlierScore best_score;
  for (int64_t l = 0; l < n_layers; ++l) {
    OutlierScore score;
    for (const PointSeries& s : series) score.add(s.layers[static_cast<std::size_t>(l)]);
    if (score > best_score) {
      best_score = score;
      best = static_cast<int>(l);
    }
  }
  return best;
}

std::shared_ptr<const StatsSnapshot> read_stats_file(const std::filesystem::path& file) {
  const std::string where = file.string();
  TensorStore store;
  auto snap = std::make_shared<StatsSnapshot>();
  snap->path = where;
  snap->metadata = read_safetensors(file, store);
  const auto format = snap->metadata.find("format");
  if (format == snap->metadata.end() || format->second != kFormat)
    throw InputError(where, std::string("not a MambaScope statistics file (metadata format is '") +
                                (format == snap->metadata.end() ? "" : format->second) + "', expected '" + kFormat +
                                "'; make one with mambascope-cli calibrate)");
  if (const auto tokens = snap->metadata.find("tokens"); tokens != snap->metadata.end()) {
    try {
      snap->tokens = std::stoll(tokens->second);
    } catch (const std::exception&) {
      throw InputError(where, "metadata 'tokens' is not a number: '" + tokens->second + "'");
    }
  }

  // Layers are counted from the keys: layers.{i}.{module}.input.absmax.
  std::map<Module, std::map<int, const TensorView*>> found;
  const std::string suffix = ".absmax";
  for (const auto& [name, view] : store.tensors()) {
    if (name.size() <= suffix.size() || name.compare(name.size() - suffix.size(), suffix.size(), suffix) != 0) continue;
    const auto point = QuantPoint::parse(std::string_view(name).substr(0, name.size() - suffix.size()));
    if (!point || point->site != Site::Input) continue;  // the state's absmax is for another view
    found[point->module][point->layer] = &view;
  }
  if (found.empty()) throw InputError(where, "no activation statistics (no layers.{i}.{module}.input.absmax tensor)");
  for (const auto& [module, layers] : found) snap->n_layers = std::max<int64_t>(snap->n_layers, layers.rbegin()->first + 1);

  for (const Module module : kSites) {
    const auto it = found.find(module);
    if (it == found.end()) continue;
    PointSeries s;
    s.module = module;
    for (int l = 0; l < snap->n_layers; ++l) {
      const QuantPoint point{l, module, Site::Input};
      const auto layer = it->second.find(l);
      if (layer == it->second.end()) throw InputError(where, "missing tensor " + point.str() + ".absmax");
      std::vector<float> absmax = read_absmax(*layer->second, where);
      if (l == 0) s.channels = static_cast<int64_t>(absmax.size());
      else if (static_cast<int64_t>(absmax.size()) != s.channels)
        throw InputError(where, layer->second->name + ": expected shape [" + std::to_string(s.channels) +
                                    "] like layer 0, got " + layer->second->shape_str());
      s.layers.push_back(summarise_channel_maxima(point, std::move(absmax)));
    }
    build_heatmap(s);
    snap->series.push_back(std::move(s));
  }
  return snap;
}

std::optional<std::string> stats_mismatch(const StatsSnapshot& stats, const ModelConfig& config) {
  if (stats.n_layers != config.n_layer)
    return "statistics for " + std::to_string(stats.n_layers) + " layers, but the model has " +
           std::to_string(config.n_layer);
  for (const QuantPoint& p : activation_points(config)) {
    if (p.site != Site::Input || p.layer != 0) continue;
    const PointSeries* s = stats.find(p.module);
    const std::string site = std::string(module_name(p.module)) + ".input";
    if (!s) return "no statistics for " + site + ", which the model has";
    if (s->channels != width_of(p.module, config))
      return std::to_string(s->channels) + " channels at " + site + ", but the model has " +
             std::to_string(width_of(p.module, config));
  }
  for (const PointSeries& s : stats.series)
    if (config.is_mamba2() && (s.module == Module::XProj || s.module == Module::DtProj))
      return "statistics for " + std::string(module_name(s.module)) + ".input, a Mamba-1 point, but the model is a Mamba-2";
  return std::nullopt;
}

}  // namespace ms
