// A tiny SVG writer for the export report (core/export/report_html.h): grouped bars, a per-channel
// profile with the 6σ band, and a heatmap on a log colour scale, each returned as one inline
// <svg> element. The output is plain text meant to sit inside an HTML page: no xmlns or other
// URL, no scripts, no fonts or images fetched from anywhere, so the page stays self-contained.
//
// Not here: choosing what to plot or computing it (the report's producers give the numbers;
// heatmaps arrive already downsampled), and no Qt: core draws these without a GUI.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace ms::svg {

// Grouped bars: one group per category (x), one bar per series within it. A value of +inf is
// drawn to the top of the axis with an ∞ mark (e.g. an exact weight's SQNR); NaN draws nothing.
// Values below the axis minimum (0 unless y_min says otherwise) are drawn at the minimum.
struct BarSeries {
  std::string name;
  std::string colour;            // CSS colour, e.g. "#4477aa"
  std::vector<double> values;    // one per category
};
struct BarChart {
  std::string label;             // aria-label of the figure
  std::string x_label, y_label;
  std::vector<std::string> categories;
  std::vector<BarSeries> series;
  double y_min = 0;
  double y_step = 0;             // grid step; 0: chosen from the data (whole multiples of 5)
  std::string unit;              // appended to hover values
  int width = 880, height = 280;
};
std::string bar_chart(const BarChart& chart);

// One value per channel as thin bars, the band mean ± sigmas·std shaded, the mean and the
// threshold mean + sigmas·std as lines, and the marked channels in red with their index.
struct ChannelProfile {
  std::string label;
  std::string y_label;
  std::vector<double> values;    // [C]
  double mean = 0, std = 0, sigmas = 6;
  std::vector<int64_t> marked;   // channels to highlight and label (outliers)
  int width = 880, height = 260;
};
std::string channel_profile(const ChannelProfile& profile);

// A [rows × cols] map, row-major, rows drawn top to bottom, on a log colour scale from the
// smallest positive value to the largest (zeros in the lowest colour). `col_step` source columns
// were folded into each column (axis labels count source columns).
struct Heatmap {
  std::string label;
  std::string x_label, y_label;
  int64_t rows = 0, cols = 0;
  std::vector<double> values;    // [rows, cols]
  int64_t col_step = 1;
  std::vector<int64_t> marked;   // source columns to flag with a red tick above the map (outliers)
  int width = 880, cell_height = 12;
};
std::string heatmap(const Heatmap& map);

// The colour of t in [0, 1] on the report's sequential scale (dark blue -> yellow), "#rrggbb".
std::string sequential_colour(double t);

}  // namespace ms::svg
