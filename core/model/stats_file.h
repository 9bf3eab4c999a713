// Statistics files (`mambascope-cli calibrate`, CLI-CONTRACT.md "Statistics file") read torch-free
// into an immutable snapshot of what the channel-maxima view plots: per layer and activation point
// the channel absmax vector, the layer mean and standard deviation of those absmaxes, the outlier
// channels (METHODS.md §2: absmax > mean + 6·std over one layer's channels, one-sided), and an
// all-layers [layer × channel] matrix normalised per layer for the overview heatmap.
//
// It also reads, when the file has them, each activation point's |x| histogram and per-channel
// mean and variance (the distributions view), and the SSM state's absmax and mean |s| maps (the
// state heatmap view). It computes no statistics over tokens (calibrate did), only summaries.
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

  // From the file's other per-point tensors; empty when the file lacks them (hand-made files).
  std::vector<int64_t> hist;           // [B] counts of |x| per bin
  std::vector<double> hist_edges;      // [B + 1] bin i holds edges[i] <= |x| < edges[i + 1]
  std::vector<double> channel_mean;    // [C] sum / count
  std::vector<double> channel_var;     // [C] population variance sumsq / count - mean²
};

// The SSM state of one layer (`layers.{i}.ssm.state`): its per-element absmax and mean |s| over
// every token, flattened to [rows, N] with rows = E (Mamba-1) or H·P (Mamba-2, head-major).
struct StateMaps {
  QuantPoint point;                    // layers.{i}.ssm.state
  int64_t rows = 0;                    // E, or H·P
  int64_t states = 0;                  // N
  int64_t head_dim = 0;                // P for Mamba-2 (rows come in heads of P); 0 for Mamba-1
  std::vector<float> absmax;           // [rows, N] row-major
  std::vector<float> mean_abs;         // [rows, N]
  // DSQ's two scale vectors as the file implies them: each row's (channel's) absmax over its N
  // states, summarised with the 6σ rule, and each state's absmax over the rows.
  ChannelMaxima row_max;               // absmax [rows]
  std::vector<float> state_max;        // [N]
  // Colour range of the maps: the smallest positive and the largest value of each.
  float absmax_min_positive = 0.0f, absmax_max = 0.0f;
  float mean_abs_min_positive = 0.0f, mean_abs_max = 0.0f;
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
  std::vector<StateMaps> states;                 // [L] when the file has state statistics, else empty
  bool cancelled = false;                        // metadata says calibration stopped early

  const PointSeries* find(Module module) const;  // nullptr when the file has no such point
  // The layer with the most outlier channels summed over every point; ties go to the layer whose
  // strongest outlier is largest relative to its mean, then to the lowest layer.
  int layer_with_most_outliers() const;
  // The point of `layer` with the most outlier channels (ties as above, then forward order).
  Module point_with_most_outliers(int layer) const;
  // The layer whose state has the most outlier channels (row_max; ties as above); 0 without states.
  int state_layer_with_most_outliers() const;
};

// What symmetric round-to-nearest with one static scale per tensor (s = absmax / (2^(B-1) - 1),
// the contract's RTN applied to an activation) does to one point, estimated from its statistics:
// each |x| histogram bin is represented by its geometric centre (16 bins a decade, so within
// ±7.5 %), and a bin wider than the step contributes the uniform rounding noise s²/12.
struct RtnEstimate {
  double step = 0.0;          // s
  double mean_square = 0.0;   // E[x²] over every value of the point (exact: from sum of squares)
  double mse = 0.0;           // E[(x - q(x))²], from the histogram
  double sqnr_db = 0.0;       // 10 log10(mean_square / mse); +inf when mse is 0
  double zero_share = 0.0;    // share of values that round to 0 (|x| < s / 2)
};
// nullopt when the point has no histogram or channel sums (hand-made files); bits in [2, 16].
std::optional<RtnEstimate> estimate_rtn_per_tensor(const ChannelMaxima& m, int bits);

// Reads a statistics file. Throws InputError naming the file and tensor key on anything that is
// not a well-formed `mambascope-calib-stats/1` file.
std::shared_ptr<const StatsSnapshot> read_stats_file(const std::filesystem::path& file);

// Summarises one absmax vector (mean, std, threshold, outliers). Exposed for tests.
ChannelMaxima summarise_channel_maxima(const QuantPoint& point, std::vector<float> absmax);

// Why `stats` cannot describe a model with `config` (layer count, points, channel widths), or
// nullopt when it matches. One line giving both sides; the caller prefixes the file name.
std::optional<std::string> stats_mismatch(const StatsSnapshot& stats, const ModelConfig& config);

}  // namespace ms
