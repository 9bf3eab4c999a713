// Statistics files (`mambascope-cli calibrate`, CLI-CONTRACT.md "Statistics file") read torch-free
// into an immutable snapshot of what the channel-maxima view plots: per layer and activation point
// the channel absmax vector, the layer mean and standard deviation of those absmaxes, the outlier
// channels (METHODS.md §2: absmax > mean + 6·std over one layer's channels, one-sided), and an
// all-layers [layer × channel] matrix normalised per layer for the overview heatmap.
//
// It reads only the `absmax` tensors and the metadata; histograms, sums and state statistics are
// for later views. It computes no statistics over tokens (calibrate did), only summaries of them.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/model/config.h"
#include "core/model/quant_point.h"

namespace ms {

// Outlier rule of Mamba-PTQ as METHODS.md reads it.
inline constexpr double kOutlierSigmas = 6.0;

struct OutlierChannel {
  int channel = 0;
  float absmax = 0.0f;
  double times_mean = 0.0;   // absmax / layer mean
};

// One activation point of one layer.
struct ChannelMaxima {
  QuantPoint point;                    // layers.{i}.{module}.input
  std::vector<float> absmax;           // [C]
  float max = 0.0f;                    // largest channel absmax
  double mean = 0.0;                   // mean of absmax over channels
  double std = 0.0;                    // population std of absmax over channels
  double threshold = 0.0;              // mean + kOutlierSigmas · std
  std::vector<OutlierChannel> outliers;  // absmax > threshold, largest first
};

// One activation site (e.g. out_proj.input) over every layer.
struct PointSeries {
  Module module = Module::InProj;
  int64_t channels = 0;                // C
  std::vector<ChannelMaxima> layers;   // [L], index = layer
  // Heatmap: [L, columns] row-major, each value absmax / that layer's max in [0, 1]. When C is
  // wider than kMaxHeatmapColumns, each column is the max over `channels_per_column` channels
  // (max keeps a lone outlier visible where a mean would dilute it).
  int64_t columns = 0;
  int64_t channels_per_column = 1;
  std::vector<float> heatmap;
};

inline constexpr int64_t kMaxHeatmapColumns = 1024;

struct StatsSnapshot {
  std::string path;
  std::map<std::string, std::string> metadata;   // as stored (model, texts, tokens, seq_len, ...)
  int64_t tokens = 0;                            // 0 when absent
  int64_t n_layers = 0;
  std::vector<PointSeries> series;               // forward order: in_proj, x_proj, dt_proj, out_proj

  const PointSeries* find(Module module) const;  // nullptr when the file has no such point
  // The layer with the most outlier channels summed over every point; ties go to the layer whose
  // strongest outlier is largest relative to its mean, then to the lowest layer.
  int layer_with_most_outliers() const;
  // The point of `layer` with the most outlier channels (ties as above, then forward order).
  Module point_with_most_outliers(int layer) const;
};

// Reads a statistics file. Throws InputError naming the file and tensor key on anything that is
// not a well-formed `mambascope-calib-stats/1` file.
std::shared_ptr<const StatsSnapshot> read_stats_file(const std::filesystem::path& file);

// Summarises one absmax vector (mean, std, threshold, outliers). Exposed for tests.
ChannelMaxima summarise_channel_maxima(const QuantPoint& point, std::vector<float> absmax);

// Why `stats` cannot describe a model with `config` (layer count, points, channel widths), or
// nullopt when it matches. One line giving both sides; the caller prefixes the file name.
std::optional<std::string> stats_mismatch(const StatsSnapshot& stats, const ModelConfig& config);

}  // namespace ms
