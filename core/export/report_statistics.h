// The statistics half of the export report: from a calibration snapshot (core/model/stats_file.h),
// the outlier channels of every activation point and every layer's SSM state (METHODS.md §2, the
// 6σ rule as the channel-maxima view applies it), and the data of the report's two statistics
// figures, both as JSON for report.json (which report.html then draws):
//   "outliers": {"rule", "sigmas", "total", "points": [{"point", "channels", "mean", "std",
//                "threshold", "count", "top": [{"channel", "absmax", "sigmas", "times_mean"}]}]}
//   "views": {"channel_maxima": {"point", "absmax": [C], "mean", "std", "threshold", "outliers"},
//             "state_heatmap": {"point", "channels", "states", "head_dim", "columns",
//                               "channels_per_column", "absmax": [states × columns]}}
// The channel-maxima figure shows the point of the layer with most outliers; the heatmap the layer
// whose state has most outlier channels (the app opens its views on the same choices). A heatmap
// wider than kReportHeatmapColumns keeps each column's max over its channels, so a lone outlier
// channel stays visible.
//
// Not here: collecting statistics (calibrate) or drawing (report_html, svg_plot). No torch.
#pragma once

#include <cstdint>

#include <nlohmann/json.hpp>

#include "core/model/stats_file.h"

namespace ms {

inline constexpr int64_t kReportHeatmapColumns = 256;
inline constexpr int kReportTopOutliers = 8;  // per point, largest first

// {"outliers": ..., "views": ...} as above.
nlohmann::json report_statistics_json(const StatsSnapshot& stats);

}  // namespace ms
