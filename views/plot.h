// A small plotting layer on ImDrawList (Debian has no implot for ImGui 1.86): a rectangular plot
// with labelled axes and ticks, linear or log y, bars, horizontal lines, filled bands, a heatmap
// with its colour legend, and the data index under the mouse. Drawing only: callers pass values
// their snapshot already holds; nothing here keeps state between frames.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <imgui.h>

namespace ms::views::plot {

enum class Scale { Linear, Log };

struct Axis {
  double min = 0.0, max = 1.0;   // data range (for Log: both > 0)
  Scale scale = Scale::Linear;
  std::string label;             // drawn beside the axis
  bool integer_ticks = false;    // channel indices: no fractional tick labels
  float tick_spacing = 0.0f;     // least pixels between ticks; 0: three text lines (y), six (x)
};

// The plot's data rectangle and its mapping; made by frame(), used by the drawing calls.
struct Frame {
  ImDrawList* dl = nullptr;
  ImVec2 min, max;               // data area in screen pixels
  Axis x, y;

  float to_x(double v) const;
  float to_y(double v) const;    // clamps log values below the axis minimum to the bottom
  double from_x(float px) const;
  bool contains(ImVec2 p) const { return p.x >= min.x && p.x < max.x && p.y >= min.y && p.y < max.y; }
};

// Ticks at "nice" steps (1, 2, 5 · 10^k) for Linear, decades (and 2, 5 when few) for Log.
std::vector<double> ticks(const Axis& axis, int target_count);
// "0.012", "3.4", "1.2e+04": short tick text.
std::string tick_text(double v, bool integer);

// Draws the panel, grid, ticks, tick labels and axis labels inside [pos, pos + size] and returns
// the data area's frame. Margins are sized from the fonts so labels never overlap the data.
// `min_left`: the least left margin, so that stacked plots line their data areas up.
Frame frame(ImDrawList* dl, ImVec2 pos, ImVec2 size, const Axis& x, const Axis& y, float min_left = 0.0f);
// The left margin (y tick labels and label) frame() would give a plot `height` pixels high.
float left_margin(const Axis& y, float height);

// One bar per value, x = first_index + i, from the bottom of the frame to the value. When there
// are more values than pixels, each pixel column shows the largest value that falls in it.
void bars(const Frame& f, const float* values, int count, uint32_t colour);
// Bars for selected indices only (highlighting): drawn at least 2 px wide so they stay visible.
void bars_at(const Frame& f, const float* values, const std::vector<int>& indices, uint32_t colour);
void hline(const Frame& f, double y, uint32_t colour, float thickness, bool dashed = false);
void band(const Frame& f, double y0, double y1, uint32_t colour);
// Text just above y, right-aligned at the frame's right edge (or left-aligned at its left edge).
void line_label(const Frame& f, double y, uint32_t colour, const std::string& text, bool left = false);
// Width in pixels of a line label's text.
float line_label_width(const std::string& text);

// Index of the value under the mouse (x axis = index), or -1 when the mouse is outside.
int hover_index(const Frame& f, int count);

// Heatmap of `rows × cols` values in [0, 1] (row-major), row 0 at the top, over the frame's data
// area; x maps column centres to [x.min, x.max]. Colour: viridis (colour-blind safe).
void heatmap(const Frame& f, const float* values, int rows, int cols);
// Heatmap of raw values (`rows × cols`, row-major, row 0 at the top) coloured by where each value
// falls on `scale` (viridis; below scale.min the darkest colour). The frame's x axis picks the
// visible columns (column c centred at x = c), so a zoomed axis shows part of the map; where a
// column is narrower than a pixel, each pixel column shows the largest value it covers.
// `transposed`: the values are stored [cols, rows] instead (a [channel, state] map drawn with
// channels along x).
void heatmap_values(const Frame& f, const float* values, int rows, int cols, const Axis& scale, bool transposed = false);
// Position of v on an axis as a fraction of its range (log axes: of its decades), unclamped.
double axis_fraction(const Axis& axis, double v);

// A visible window [lo, hi] of a data range, as fractions of it; the state of a zoomable axis.
struct Zoom {
  double lo = 0.0, hi = 1.0;
  bool zoomed() const { return lo > 0.0 || hi < 1.0; }
};
// The part of [min, max] a zoom shows.
Axis zoomed(Axis axis, const Zoom& zoom);
// Makes the frame's data area an interaction target (id `id`): the wheel zooms x about the mouse,
// a left drag pans, a double click resets. Returns true when the zoom changed. `max_zoom`: the
// smallest window as a fraction of the range.
bool zoom_pan_x(const Frame& f, const char* id, Zoom& zoom, double max_zoom);

// A vertical colour bar for [0, 1] with ticks, `label` above it.
void colour_legend(ImDrawList* dl, ImVec2 pos, ImVec2 size, const std::string& label);
// The same bar labelled with the values of `scale` (linear or log ticks) instead of [0, 1].
void colour_legend(ImDrawList* dl, ImVec2 pos, ImVec2 size, const std::string& label, const Axis& scale);
// Viridis at t in [0, 1], as an ImGui colour (ABGR).
uint32_t viridis(float t);

}  // namespace ms::views::plot
