// Outliers and statistics figures for the export report. See report_statistics.h.
#include "core/export/report_statistics.h"

#include <algorithm>
#include <cmath>

namespace ms {

using nlohmann::json;

namespace {

json point_outliers(const ChannelMaxima& m) {
  json top = json::array();
  for (std::size_t k = 0; k < m.outliers.size() && k < std::size_t(kReportTopOutliers); ++k) {
    const OutlierChannel& o = m.outliers[k];
    top.push_back({{"channel", o.channel},
                   {"absmax", o.absmax},
                   {"sigmas", m.std > 0 ? (double(o.absmax) - m.mean) / m.std : 0.0},
                   {"times_mean", o.times_mean}});
  }
  return {{"point", m.point.str()},   {"channels", m.absmax.size()}, {"mean", m.mean},
          {"std", m.std},             {"threshold", m.threshold},    {"max", m.max},
          {"count", m.outliers.size()}, {"top", top}};
}

json channel_view(const ChannelMaxima& m) {
  json outliers = json::array();
  for (const OutlierChannel& o : m.outliers) outliers.push_back(o.channel);
  return {{"point", m.point.str()}, {"absmax", m.absmax}, {"mean", m.mean},
          {"std", m.std},           {"threshold", m.threshold}, {"sigmas", kOutlierSigmas},
          {"outliers", outliers}};
}

// [rows, N] -> [N, columns]: states down, channels across, each column the max of its channels.
json state_view(const StateMaps& s) {
  const int64_t per = std::max<int64_t>(1, (s.rows + kReportHeatmapColumns - 1) / kReportHeatmapColumns);
  const int64_t columns = (s.rows + per - 1) / per;
  std::vector<float> map(std::size_t(s.states * columns), 0.0f);
  for (int64_t r = 0; r < s.rows; ++r)
    for (int64_t n = 0; n < s.states; ++n) {
      float& cell = map[std::size_t(n * columns + r / per)];
      cell = std::max(cell, s.absmax[std::size_t(r * s.states + n)]);
    }
  json outliers = json::array();
  for (const OutlierChannel& o : s.row_max.outliers) outliers.push_back(o.channel);
  return {{"point", s.point.str()},
          {"channels", s.rows},
          {"states", s.states},
          {"head_dim", s.head_dim},
          {"columns", columns},
          {"channels_per_column", per},
          {"absmax", map},
          {"outlier_channels", outliers}};
}

}  // namespace

json report_statistics_json(const StatsSnapshot& stats) {
  json points = json::array();
  std::size_t total = 0;
  for (int64_t l = 0; l < stats.n_layers; ++l) {
    for (const PointSeries& s : stats.series) {
      if (std::size_t(l) >= s.layers.size()) continue;
      points.push_back(point_outliers(s.layers[std::size_t(l)]));
      total += s.layers[std::size_t(l)].outliers.size();
    }
    if (std::size_t(l) < stats.states.size()) {  // the state's channels: DSQ's channel scale vector
      points.push_back(point_outliers(stats.states[std::size_t(l)].row_max));
      total += stats.states[std::size_t(l)].row_max.outliers.size();
    }
  }
  json out{{"outliers",
            {{"rule", "channel absmax > mean + 6 std of the layer's channel absmaxes (one-sided; Mamba-PTQ); "
                      "for a state, each channel's absmax over its states"},
             {"sigmas", kOutlierSigmas},
             {"total", total},
             {"points", points}}},
           {"views", json::object()}};
  if (!stats.series.empty() && stats.n_layers > 0) {
    const int layer = stats.layer_with_most_outliers();
    if (const PointSeries* s = stats.find(stats.point_with_most_outliers(layer)))
      out["views"]["channel_maxima"] = channel_view(s->layers[std::size_t(layer)]);
  }
  if (!stats.states.empty()) out["views"]["state_heatmap"] = state_view(stats.states[std::size_t(stats.state_layer_with_most_outliers())]);
  return out;
}

}  // namespace ms
