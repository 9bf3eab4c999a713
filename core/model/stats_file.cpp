// Statistics file reading (see stats_file.h).
#include "core/model/stats_file.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

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

// A tensor's values as T, checked for dtype and element count. Copies (mapped data may be unaligned).
template <typename T>
std::vector<T> read_vector(const TensorView& view, DType dtype, int64_t count, const std::string& where) {
  if (view.dtype != dtype)
    throw InputError(where, view.name + ": expected dtype " + std::string(dtype_name(dtype)) + ", got " +
                                std::string(dtype_name(view.dtype)));
  if (view.numel() != count)
    throw InputError(where, view.name + ": expected " + std::to_string(count) + " values, got shape " + view.shape_str());
  std::vector<T> out(static_cast<std::size_t>(count));
  std::memcpy(out.data(), view.data, out.size() * sizeof(T));
  return out;
}

const TensorView* find_tensor(const TensorStore& store, const std::string& name) {
  const auto it = store.tensors().find(name);
  return it == store.tensors().end() ? nullptr : &it->second;
}

// Histogram, channel mean and variance of one point, when the file has them all.
void read_distribution(const TensorStore& store, ChannelMaxima& m, const std::string& where) {
  const std::string key = m.point.str();
  const TensorView* hist = find_tensor(store, key + ".hist");
  const TensorView* edges = find_tensor(store, key + ".hist_edges");
  if (hist && edges) {
    m.hist = read_vector<int64_t>(*hist, DType::I64, hist->numel(), where);
    m.hist_edges = read_vector<double>(*edges, DType::F64, hist->numel() + 1, where);
    for (std::size_t i = 1; i < m.hist_edges.size(); ++i)
      if (!(m.hist_edges[i] > m.hist_edges[i - 1])) throw InputError(where, edges->name + ": edges do not increase");
  }
  const TensorView* count = find_tensor(store, key + ".count");
  const TensorView* sum = find_tensor(store, key + ".sum");
  const TensorView* sumsq = find_tensor(store, key + ".sumsq");
  if (!count || !sum || !sumsq) return;
  const int64_t c = static_cast<int64_t>(m.absmax.size());
  const std::vector<int64_t> n = read_vector<int64_t>(*count, DType::I64, c, where);
  const std::vector<double> s1 = read_vector<double>(*sum, DType::F64, c, where);
  const std::vector<double> s2 = read_vector<double>(*sumsq, DType::F64, c, where);
  m.channel_mean.resize(static_cast<std::size_t>(c));
  m.channel_var.resize(static_cast<std::size_t>(c));
  for (std::size_t i = 0; i < n.size(); ++i) {
    const double k = static_cast<double>(std::max<int64_t>(n[i], 1));
    m.channel_mean[i] = s1[i] / k;
    // Population variance; rounding can leave a tiny negative for a constant channel.
    m.channel_var[i] = std::max(s2[i] / k - m.channel_mean[i] * m.channel_mean[i], 0.0);
  }
}

void colour_range(const std::vector<float>& v, float& min_positive, float& max) {
  min_positive = 0.0f;
  max = 0.0f;
  for (const float x : v) {
    max = std::max(max, x);
    if (x > 0.0f && (min_positive == 0.0f || x < min_positive)) min_positive = x;
  }
}

// layers.{layer}.ssm.state: absmax and mean_abs of shape [E, N] or [H, P, N].
StateMaps read_state(const TensorStore& store, int layer, const std::string& where) {
  StateMaps s;
  s.point = QuantPoint{layer, Module::Ssm, Site::State};
  const std::string key = s.point.str();
  const TensorView* absmax = find_tensor(store, key + ".absmax");
  const TensorView* mean_abs = find_tensor(store, key + ".mean_abs");
  if (!absmax) throw InputError(where, "missing tensor " + key + ".absmax");
  if (!mean_abs) throw InputError(where, "missing tensor " + key + ".mean_abs");
  const std::vector<int64_t>& shape = absmax->shape;
  if ((shape.size() != 2 && shape.size() != 3) || absmax->numel() < 1)
    throw InputError(where, absmax->name + ": expected shape [E, N] or [H, P, N], got " + absmax->shape_str());
  if (mean_abs->shape != shape)
    throw InputError(where, mean_abs->name + ": expected shape " + absmax->shape_str() + " like absmax, got " +
                                mean_abs->shape_str());
  s.states = shape.back();
  s.rows = absmax->numel() / s.states;
  s.head_dim = shape.size() == 3 ? shape[1] : 0;
  s.absmax = read_vector<float>(*absmax, DType::F32, absmax->numel(), where);
  s.mean_abs = read_vector<float>(*mean_abs, DType::F32, mean_abs->numel(), where);
  for (std::size_t i = 0; i < s.absmax.size(); ++i)
    if (!std::isfinite(s.absmax[i]) || s.absmax[i] < 0.0f || !std::isfinite(s.mean_abs[i]) || s.mean_abs[i] < 0.0f)
      throw InputError(where, key + ": absmax or mean_abs holds a negative or non-finite value");
  std::vector<float> row_max(static_cast<std::size_t>(s.rows), 0.0f);
  s.state_max.assign(static_cast<std::size_t>(s.states), 0.0f);
  for (int64_t r = 0; r < s.rows; ++r)
    for (int64_t n = 0; n < s.states; ++n) {
      const float v = s.absmax[static_cast<std::size_t>(r * s.states + n)];
      row_max[static_cast<std::size_t>(r)] = std::max(row_max[static_cast<std::size_t>(r)], v);
      s.state_max[static_cast<std::size_t>(n)] = std::max(s.state_max[static_cast<std::size_t>(n)], v);
    }
  s.row_max = summarise_channel_maxima(s.point, std::move(row_max));
  colour_range(s.absmax, s.absmax_min_positive, s.absmax_max);
  colour_range(s.mean_abs, s.mean_abs_min_positive, s.mean_abs_max);
  return s;
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

int StatsSnapshot::state_layer_with_most_outliers() const {
  int best = 0;
  OutlierScore best_score;
  for (std::size_t l = 0; l < states.size(); ++l) {
    OutlierScore score;
    score.add(states[l].row_max);
    if (score > best_score) {
      best_score = score;
      best = static_cast<int>(l);
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
      read_distribution(store, s.layers.back(), where);
    }
    build_heatmap(s);
    snap->series.push_back(std::move(s));
  }
  // State maps: all layers or none (a file from before state statistics, or a hand-made one).
  if (find_tensor(store, QuantPoint{0, Module::Ssm, Site::State}.str() + ".absmax"))
    for (int l = 0; l < snap->n_layers; ++l) snap->states.push_back(read_state(store, l, where));
  if (const auto c = snap->metadata.find("cancelled"); c != snap->metadata.end()) snap->cancelled = c->second == "true";
  return snap;
}

std::optional<RtnEstimate> estimate_rtn_per_tensor(const ChannelMaxima& m, int bits) {
  if (m.hist.empty() || m.channel_mean.empty() || bits < 2 || bits > 16) return std::nullopt;
  RtnEstimate e;
  const double qmax = std::ldexp(1.0, bits - 1) - 1.0;
  e.step = m.max > 0.0f ? m.max / qmax : 1.0;  // a zero tensor gets s = 1, as a zero row does
  for (std::size_t c = 0; c < m.channel_mean.size(); ++c) e.mean_square += m.channel_var[c] + m.channel_mean[c] * m.channel_mean[c];
  e.mean_square /= static_cast<double>(m.channel_mean.size());  // every channel sees the same tokens
  double total = 0.0, err = 0.0, zero = 0.0;
  for (std::size_t i = 0; i < m.hist.size(); ++i) {
    const double n = static_cast<double>(m.hist[i]);
    if (n == 0.0) continue;
    const double lo = m.hist_edges[i], hi = m.hist_edges[i + 1];
    const double v = lo > 0.0 ? std::sqrt(lo * hi) : 0.0;  // bin 0 is [0, 1e-8): as good as zero
    total += n;
    if (hi - lo > e.step) err += n * e.step * e.step / 12.0;
    else {
      // The centre of the top bin may pass absmax: it clamps to the largest level, as x would not.
      const double d = std::min(v, static_cast<double>(m.max)) - e.step * std::min(std::nearbyint(v / e.step), qmax);
      err += n * d * d;
    }
    if (v < e.step / 2.0) zero += n;
  }
  if (total == 0.0) return std::nullopt;
  e.mse = err / total;
  e.zero_share = zero / total;
  e.sqnr_db = e.mse > 0.0 ? 10.0 * std::log10(e.mean_square / e.mse) : std::numeric_limits<double>::infinity();
  return e;
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
  if (!stats.states.empty()) {
    const StateMaps& s = stats.states.front();
    const int64_t rows = config.is_mamba2() ? config.n_heads * config.head_dim : config.d_inner;
    const int64_t head_dim = config.is_mamba2() ? config.head_dim : 0;
    if (s.rows != rows || s.states != config.d_state || s.head_dim != head_dim)
      return "state statistics of " + std::to_string(s.rows) + " x " + std::to_string(s.states) +
             ", but the model's state is " + std::to_string(rows) + " x " + std::to_string(config.d_state);
  }
  for (const PointSeries& s : stats.series)
    if (config.is_mamba2() && (s.module == Module::XProj || s.module == Module::DtProj))
      return "statistics for " + std::string(module_name(s.module)) + ".input, a Mamba-1 point, but the model is a Mamba-2";
  return std::nullopt;
}

}  // namespace ms
