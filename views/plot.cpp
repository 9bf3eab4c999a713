// Plotting layer (see plot.h).
//
// [SECTION] Scale mapping and ticks
// [SECTION] Frame: panel, grid, axes
// [SECTION] Series: bars, lines, bands, hover
// [SECTION] Heatmap and colour legend
#include "views/plot.h"

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <cstdio>

#include "views/theme.h"

namespace ms::views::plot {
namespace {

// The index whose cell [i - 0.5, i + 0.5) holds the data x at pixel px. The small bias makes a
// pixel edge that falls exactly on a cell edge (in exact arithmetic) belong to the right-hand cell
// whatever the rounding of from_x, so pixel columns split the data the same way every frame.
int index_at(const Frame& f, float px) { return static_cast<int>(std::floor(f.from_x(px) + 0.5 + 1e-7)); }

double forward(const Axis& a, double v) {
  if (a.scale == Scale::Log) return std::log10(std::max(v, 1e-30));
  return v;
}

ImVec2 text_size(ImFont* font, const std::string& text) {
  return font->CalcTextSizeA(font->FontSize, FLT_MAX, 0.0f, text.c_str());
}

}  // namespace

//-------------------------------------------------------------------------------------------------
// [SECTION] Scale mapping and ticks
//-------------------------------------------------------------------------------------------------

float Frame::to_x(double v) const {
  const double a = forward(x, x.min), b = forward(x, x.max);
  const double t = b != a ? (forward(x, v) - a) / (b - a) : 0.5;
  return static_cast<float>(min.x + t * (max.x - min.x));
}

float Frame::to_y(double v) const {
  const double a = forward(y, y.min), b = forward(y, y.max);
  double t = b != a ? (forward(y, v) - a) / (b - a) : 0.5;
  if (y.scale == Scale::Log) t = std::max(t, 0.0);
  return static_cast<float>(max.y - t * (max.y - min.y));
}

double Frame::from_x(float px) const {
  const double a = forward(x, x.min), b = forward(x, x.max);
  const double t = (static_cast<double>(px) - min.x) / std::max(static_cast<double>(max.x) - min.x, 1.0);
  const double v = a + t * (b - a);
  return x.scale == Scale::Log ? std::pow(10.0, v) : v;
}

std::vector<double> ticks(const Axis& axis, int target_count) {
  std::vector<double> out;
  const double lo = std::min(axis.min, axis.max), hi = std::max(axis.min, axis.max);
  if (!(hi > lo)) return {lo};
  if (axis.scale == Scale::Log) {
    const int d0 = static_cast<int>(std::floor(std::log10(lo))), d1 = static_cast<int>(std::ceil(std::log10(hi)));
    const bool fine = d1 - d0 <= 2;  // one or two decades: 1, 2, 5 per decade
    // Many decades in little room: every k-th decade, on multiples of k so labels stay round.
    const int stride = std::max(1, static_cast<int>(std::ceil((d1 - d0) / static_cast<double>(std::max(target_count, 1)))));
    for (int d = d0; d <= d1; ++d) {
      if (((d % stride) + stride) % stride != 0) continue;
      for (const double m : {1.0, 2.0, 5.0}) {
        if (m != 1.0 && !fine) continue;
        const double v = m * std::pow(10.0, d);
        if (v >= lo * (1 - 1e-9) && v <= hi * (1 + 1e-9)) out.push_back(v);
      }
    }
    return out;
  }
  const double raw = (hi - lo) / std::max(target_count, 1);
  const double mag = std::pow(10.0, std::floor(std::log10(raw)));
  double step = mag;
  for (const double m : {1.0, 2.0, 5.0, 10.0})
    if (m * mag >= raw) {
      step = m * mag;
      break;
    }
  if (axis.integer_ticks) step = std::max(step, 1.0);
  for (double v = std::ceil(lo / step - 1e-9) * step; v <= hi + step * 1e-9; v += step)
    out.push_back(std::abs(v) < step * 1e-9 ? 0.0 : v);
  return out;
}

std::string tick_text(double v, bool integer) {
  char buffer[32];
  if (integer) std::snprintf(buffer, sizeof buffer, "%.0f", v);
  else if (v != 0.0 && (std::abs(v) >= 1e4 || std::abs(v) < 1e-3)) std::snprintf(buffer, sizeof buffer, "%.0e", v);
  else std::snprintf(buffer, sizeof buffer, "%g", v);
  return buffer;
}

//-------------------------------------------------------------------------------------------------
// [SECTION] Frame: panel, grid, axes
//-------------------------------------------------------------------------------------------------

namespace {
std::vector<double> y_ticks_for(const Axis& y, float height) {
  const float spacing = y.tick_spacing > 0.0f ? y.tick_spacing : theme().mono->FontSize * 3.0f;
  return ticks(y, std::max(2, static_cast<int>(height / spacing)));
}
}  // namespace

float left_margin(const Axis& y, float height) {
  ImFont* font = theme().mono;
  float label_w = 0.0f;
  for (const double v : y_ticks_for(y, height)) label_w = std::max(label_w, text_size(font, tick_text(v, y.integer_ticks)).x);
  return (y.label.empty() ? 0.0f : font->FontSize * 1.6f) + label_w + 10.0f;
}

Frame frame(ImDrawList* dl, ImVec2 pos, ImVec2 size, const Axis& x, const Axis& y, float min_left) {
  const Theme t = theme();
  ImFont* font = t.mono;
  const float line = font->FontSize;
  const std::vector<double> y_ticks = y_ticks_for(y, size.y);

  Frame f;
  f.dl = dl;
  f.x = x;
  f.y = y;
  const float left = std::max(left_margin(y, size.y), min_left);
  const float bottom = line * 1.5f + (x.label.empty() ? 0.0f : line * 1.5f);
  f.min = ImVec2(pos.x + left, pos.y + line * 0.6f);
  f.max = ImVec2(pos.x + size.x - 8.0f, pos.y + size.y - bottom);
  if (f.max.x <= f.min.x + 10.0f || f.max.y <= f.min.y + 10.0f) return f;

  dl->AddRectFilled(f.min, f.max, im_colour(Palette::panel));
  const uint32_t tick_colour = im_colour(Palette::text_dim);
  for (const double v : y_ticks) {
    const float py = f.to_y(v);
    dl->AddLine(ImVec2(f.min.x, py), ImVec2(f.max.x, py), im_colour(Palette::grid), 1.0f);
    const std::string s = tick_text(v, y.integer_ticks);
    const ImVec2 ts = text_size(font, s);
    dl->AddText(font, font->FontSize, ImVec2(f.min.x - 6.0f - ts.x, py - ts.y * 0.5f), tick_colour, s.c_str());
  }
  const float x_spacing = x.tick_spacing > 0.0f ? x.tick_spacing : line * 6.0f;
  const std::vector<double> x_ticks = ticks(x, std::max(2, static_cast<int>((f.max.x - f.min.x) / x_spacing)));
  for (const double v : x_ticks) {
    const float px = f.to_x(v);
    dl->AddLine(ImVec2(px, f.max.y), ImVec2(px, f.max.y + 4.0f), tick_colour, 1.0f);
    const std::string s = tick_text(v, x.integer_ticks);
    const ImVec2 ts = text_size(font, s);
    const float tx = std::clamp(px - ts.x * 0.5f, f.min.x - ts.x * 0.5f, f.max.x - ts.x * 0.5f);
    dl->AddText(font, font->FontSize, ImVec2(tx, f.max.y + 6.0f), tick_colour, s.c_str());
  }
  dl->AddLine(ImVec2(f.min.x, f.max.y), ImVec2(f.max.x, f.max.y), im_colour(Palette::arrow), 1.0f);
  dl->AddLine(ImVec2(f.min.x, f.min.y), ImVec2(f.min.x, f.max.y), im_colour(Palette::arrow), 1.0f);

  ImFont* body = t.body;
  if (!x.label.empty()) {
    const ImVec2 ts = text_size(body, x.label);
    dl->AddText(body, body->FontSize, ImVec2((f.min.x + f.max.x - ts.x) * 0.5f, f.max.y + line * 1.5f + 2.0f),
                im_colour(Palette::text), x.label.c_str());
  }
  if (!y.label.empty() && text_size(body, y.label).x > size.y) {
    // Too long for the plot's height (short plots, large presentation fonts): turned, it would run
    // into the plots above and below, so it reads horizontally in the frame's top-left corner.
    const ImVec2 ts = text_size(body, y.label);
    const ImVec2 p(f.min.x + 4.0f, f.min.y + 2.0f);
    dl->AddRectFilled(ImVec2(p.x - 3.0f, p.y), ImVec2(p.x + ts.x + 3.0f, p.y + ts.y), im_colour(Palette::panel, 0.85f));
    dl->AddText(body, body->FontSize, p, im_colour(Palette::text), y.label.c_str());
  } else if (!y.label.empty()) {
    // ImGui 1.86 has no rotated text: draw the label horizontally, then turn the vertices it
    // added by 90° about its centre (reads bottom to top, as plot y labels do).
    const ImVec2 ts = text_size(body, y.label);
    // The window's clip rect would cull glyphs of the unrotated text left of the window.
    dl->PushClipRect(ImVec2(-1e5f, -1e5f), ImVec2(1e5f, 1e5f), false);
    const int start = dl->VtxBuffer.Size;
    const ImVec2 centre(pos.x + line * 0.7f, (f.min.y + f.max.y) * 0.5f);
    dl->AddText(body, body->FontSize, ImVec2(centre.x - ts.x * 0.5f, centre.y - ts.y * 0.5f),
                im_colour(Palette::text), y.label.c_str());
    for (int i = start; i < dl->VtxBuffer.Size; ++i) {  // rotate 90° counter-clockwise about centre
      ImVec2& p = dl->VtxBuffer[i].pos;
      const float dx = p.x - centre.x, dy = p.y - centre.y;
      p = ImVec2(centre.x + dy, centre.y - dx);
    }
    dl->PopClipRect();
  }
  return f;
}

//-------------------------------------------------------------------------------------------------
// [SECTION] Series: bars, lines, bands, hover
//-------------------------------------------------------------------------------------------------

void bars(const Frame& f, const float* values, int count, uint32_t colour) {
  if (count <= 0) return;
  // Pixels per index from the axis, not the frame width: a zoomed axis shows part of the values.
  const float per = f.to_x(1.0) - f.to_x(0.0);
  if (per >= 2.0f) {
    const float gap = per >= 5.0f ? 1.0f : 0.0f;
    const int first = std::max(0, static_cast<int>(std::floor(f.from_x(f.min.x) + 0.5)));
    // Bar i spans [i - 0.5, i + 0.5]: the last one that reaches into the frame.
    const int last = std::min(count - 1, static_cast<int>(std::ceil(f.from_x(f.max.x) - 0.5)));
    for (int i = first; i <= last; ++i) {
      const float x0 = f.to_x(i - 0.5), x1 = f.to_x(i + 0.5);
      f.dl->AddRectFilled(ImVec2(x0 + gap * 0.5f, f.to_y(values[i])), ImVec2(x1 - gap * 0.5f, f.max.y), colour);
    }
    return;
  }
  // More values than pixels: one column per pixel, the largest value in it (a peak never vanishes).
  const int columns = static_cast<int>(f.max.x - f.min.x);
  for (int px = 0; px < columns; ++px) {
    const int i0 = index_at(f, f.min.x + px);
    const int i1 = index_at(f, f.min.x + px + 1);
    float v = 0.0f;
    bool any = false;
    for (int i = std::max(i0, 0); i < std::min(std::max(i1, i0 + 1), count); ++i) {
      v = any ? std::max(v, values[i]) : values[i];
      any = true;
    }
    if (any) f.dl->AddRectFilled(ImVec2(f.min.x + px, f.to_y(v)), ImVec2(f.min.x + px + 1, f.max.y), colour);
  }
}

void bars_at(const Frame& f, const float* values, const std::vector<int>& indices, uint32_t colour) {
  for (const int i : indices) {
    float x0 = f.to_x(i - 0.5), x1 = f.to_x(i + 0.5);
    if (x1 - x0 < 3.0f) {
      const float c = (x0 + x1) * 0.5f;
      x0 = c - 1.5f;
      x1 = c + 1.5f;
    }
    f.dl->AddRectFilled(ImVec2(x0, f.to_y(values[i])), ImVec2(x1, f.max.y), colour);
  }
}

void hline(const Frame& f, double y, uint32_t colour, float thickness, bool dashed) {
  const float py = f.to_y(y);
  if (py < f.min.y || py > f.max.y) return;
  if (!dashed) {
    f.dl->AddLine(ImVec2(f.min.x, py), ImVec2(f.max.x, py), colour, thickness);
    return;
  }
  for (float x = f.min.x; x < f.max.x; x += 10.0f)
    f.dl->AddLine(ImVec2(x, py), ImVec2(std::min(x + 6.0f, f.max.x), py), colour, thickness);
}

void band(const Frame& f, double y0, double y1, uint32_t colour) {
  const float a = std::clamp(f.to_y(y0), f.min.y, f.max.y), b = std::clamp(f.to_y(y1), f.min.y, f.max.y);
  f.dl->AddRectFilled(ImVec2(f.min.x, std::min(a, b)), ImVec2(f.max.x, std::max(a, b)), colour);
}

float line_label_width(const std::string& text) { return text_size(theme().body, text).x + 16.0f; }

void line_label(const Frame& f, double y, uint32_t colour, const std::string& text, bool left) {
  ImFont* font = theme().body;
  const ImVec2 ts = text_size(font, text);
  const float py = std::clamp(f.to_y(y) - ts.y - 2.0f, f.min.y + 2.0f, f.max.y - ts.y - 2.0f);
  const ImVec2 p(left ? f.min.x + 8.0f : f.max.x - ts.x - 8.0f, py);
  f.dl->AddRectFilled(ImVec2(p.x - 4.0f, p.y - 1.0f), ImVec2(p.x + ts.x + 4.0f, p.y + ts.y + 1.0f),
                      im_colour(Palette::panel, 0.85f), 3.0f);
  f.dl->AddText(font, font->FontSize, p, colour, text.c_str());
}

int hover_index(const Frame& f, int count) {
  const ImVec2 mouse = ImGui::GetIO().MousePos;
  if (!f.contains(mouse) || !ImGui::IsWindowHovered()) return -1;
  const int i = static_cast<int>(std::floor(f.from_x(mouse.x) + 0.5));
  return i >= 0 && i < count ? i : -1;
}

//-------------------------------------------------------------------------------------------------
// [SECTION] Heatmap and colour legend
//-------------------------------------------------------------------------------------------------

uint32_t viridis(float t) {
  // Viridis sampled at 9 points (matplotlib's table), linearly interpolated between them.
  static constexpr float kStops[9][3] = {
      {0.267f, 0.005f, 0.329f}, {0.279f, 0.175f, 0.483f}, {0.230f, 0.322f, 0.546f},
      {0.173f, 0.449f, 0.558f}, {0.128f, 0.567f, 0.551f}, {0.157f, 0.684f, 0.502f},
      {0.369f, 0.789f, 0.383f}, {0.678f, 0.864f, 0.190f}, {0.993f, 0.906f, 0.144f}};
  t = std::clamp(std::isfinite(t) ? t : 0.0f, 0.0f, 1.0f) * 8.0f;
  const int i = std::min(static_cast<int>(t), 7);
  const float u = t - static_cast<float>(i);
  const auto mix = [&](int c) { return kStops[i][c] + (kStops[i + 1][c] - kStops[i][c]) * u; };
  return ImGui::ColorConvertFloat4ToU32(ImVec4(mix(0), mix(1), mix(2), 1.0f));
}

void heatmap(const Frame& f, const float* values, int rows, int cols) {
  if (rows <= 0 || cols <= 0) return;
  const float w = (f.max.x - f.min.x) / static_cast<float>(cols), h = (f.max.y - f.min.y) / static_cast<float>(rows);
  for (int r = 0; r < rows; ++r)
    for (int c = 0; c < cols; ++c) {
      // Cells snap to whole pixels so neighbours neither overlap nor leave seams.
      const ImVec2 a(std::floor(f.min.x + c * w), std::floor(f.min.y + r * h));
      const ImVec2 b(std::floor(f.min.x + (c + 1) * w), std::floor(f.min.y + (r + 1) * h));
      if (b.x > a.x) f.dl->AddRectFilled(a, b, viridis(values[static_cast<std::size_t>(r) * cols + c]));
    }
}

double axis_fraction(const Axis& a, double v) {
  const double lo = forward(a, a.min), hi = forward(a, a.max);
  return hi != lo ? (forward(a, v) - lo) / (hi - lo) : 0.5;
}

void heatmap_values(const Frame& f, const float* values, int rows, int cols, const Axis& scale, bool transposed) {
  if (rows <= 0 || cols <= 0) return;
  const auto at = [&](int r, int c) {
    return transposed ? values[static_cast<std::size_t>(c) * rows + r] : values[static_cast<std::size_t>(r) * cols + c];
  };
  const float row_h = (f.max.y - f.min.y) / static_cast<float>(rows);
  const auto colour = [&](float v) {
    return viridis(v > 0.0f || scale.scale == Scale::Linear ? static_cast<float>(axis_fraction(scale, v)) : 0.0f);
  };
  const float per = f.to_x(1.0) - f.to_x(0.0);
  if (per >= 1.0f) {
    const int first = std::max(0, static_cast<int>(std::floor(f.from_x(f.min.x) + 0.5)));
    const int last = std::min(cols - 1, static_cast<int>(std::floor(f.from_x(f.max.x) + 0.5)));
    for (int c = first; c <= last; ++c) {
      // Cells snap to whole pixels so neighbours neither overlap nor leave seams.
      const float x0 = std::floor(std::max(f.to_x(c - 0.5), f.min.x)), x1 = std::floor(std::min(f.to_x(c + 0.5), f.max.x));
      if (x1 <= x0) continue;
      for (int r = 0; r < rows; ++r)
        f.dl->AddRectFilled(ImVec2(x0, std::floor(f.min.y + r * row_h)), ImVec2(x1, std::floor(f.min.y + (r + 1) * row_h)),
                            colour(at(r, c)));
    }
    return;
  }
  const int columns = static_cast<int>(f.max.x - f.min.x);
  for (int px = 0; px < columns; ++px) {
    const int c0 = std::max(0, index_at(f, f.min.x + px));
    const int c1 = std::min(cols, std::max(index_at(f, f.min.x + px + 1), c0 + 1));
    if (c0 >= c1) continue;
    for (int r = 0; r < rows; ++r) {
      float v = at(r, c0);
      for (int c = c0 + 1; c < c1; ++c) v = std::max(v, at(r, c));
      f.dl->AddRectFilled(ImVec2(f.min.x + px, std::floor(f.min.y + r * row_h)),
                          ImVec2(f.min.x + px + 1, std::floor(f.min.y + (r + 1) * row_h)), colour(v));
    }
  }
}

Axis zoomed(Axis axis, const Zoom& zoom) {
  const double span = axis.max - axis.min, lo = axis.min;
  axis.min = lo + zoom.lo * span;
  axis.max = lo + zoom.hi * span;
  return axis;
}

bool zoom_pan_x(const Frame& f, const char* id, Zoom& zoom, double max_zoom) {
  const float width = f.max.x - f.min.x;
  if (width < 10.0f || f.max.y - f.min.y < 2.0f) return false;
  const ImVec2 cursor = ImGui::GetCursorScreenPos();
  ImGui::SetCursorScreenPos(f.min);
  ImGui::InvisibleButton(id, ImVec2(width, f.max.y - f.min.y));
  ImGui::SetCursorScreenPos(cursor);
  const Zoom before = zoom;
  const ImGuiIO& io = ImGui::GetIO();
  double span = zoom.hi - zoom.lo;
  if (ImGui::IsItemHovered() && io.MouseWheel != 0.0f) {
    // One wheel notch: 20 % in or out, keeping the data under the mouse where it is.
    const double at = zoom.lo + span * std::clamp((io.MousePos.x - f.min.x) / width, 0.0f, 1.0f);
    const double next = std::clamp(span * std::pow(0.8, io.MouseWheel), max_zoom, 1.0);
    zoom.lo = at - (at - zoom.lo) * next / span;
    zoom.hi = zoom.lo + next;
    span = next;
  }
  if (ImGui::IsItemActive() && ImGui::IsMouseDragging(ImGuiMouseButton_Left, 0.0f)) {
    const double shift = -io.MouseDelta.x / width * span;
    zoom.lo += shift;
    zoom.hi += shift;
  }
  if (ImGui::IsItemHovered() && ImGui::IsMouseDoubleClicked(ImGuiMouseButton_Left)) zoom = Zoom{};
  // Keep the window inside the data.
  if (zoom.lo < 0.0) {
    zoom.hi -= zoom.lo;
    zoom.lo = 0.0;
  }
  if (zoom.hi > 1.0) {
    zoom.lo = std::max(0.0, zoom.lo - (zoom.hi - 1.0));
    zoom.hi = 1.0;
  }
  return zoom.lo != before.lo || zoom.hi != before.hi;
}

void colour_legend(ImDrawList* dl, ImVec2 pos, ImVec2 size, const std::string& label, const Axis& scale) {
  const Theme t = theme();
  ImFont* font = t.mono;
  const ImVec2 ls = text_size(t.body, label);
  dl->AddText(t.body, t.body->FontSize, pos, im_colour(Palette::text_dim), label.c_str());
  const float top = pos.y + ls.y + 8.0f, bottom = pos.y + size.y - font->FontSize * 0.5f;
  const float bar_w = 16.0f;
  const int steps = 64;
  for (int i = 0; i < steps; ++i) {
    const float y0 = bottom - (bottom - top) * (i + 1) / steps, y1 = bottom - (bottom - top) * i / steps;
    dl->AddRectFilled(ImVec2(pos.x, std::floor(y0)), ImVec2(pos.x + bar_w, std::ceil(y1)), viridis((i + 0.5f) / steps));
  }
  dl->AddRect(ImVec2(pos.x, top), ImVec2(pos.x + bar_w, bottom), im_colour(Palette::grid));
  const int target = std::max(2, static_cast<int>((bottom - top) / (font->FontSize * 2.5f)));
  for (const double v : ticks(scale, target)) {
    const float py = bottom - static_cast<float>(axis_fraction(scale, v)) * (bottom - top);
    dl->AddLine(ImVec2(pos.x + bar_w, py), ImVec2(pos.x + bar_w + 4.0f, py), im_colour(Palette::text_dim));
    const std::string s = tick_text(v, false);
    dl->AddText(font, font->FontSize, ImVec2(pos.x + bar_w + 7.0f, py - font->FontSize * 0.5f),
                im_colour(Palette::text_dim), s.c_str());
  }
}

void colour_legend(ImDrawList* dl, ImVec2 pos, ImVec2 size, const std::string& label) {
  const Theme t = theme();
  ImFont* font = t.mono;
  const ImVec2 ls = text_size(t.body, label);
  dl->AddText(t.body, t.body->FontSize, pos, im_colour(Palette::text_dim), label.c_str());
  const float top = pos.y + ls.y + 8.0f, bottom = pos.y + size.y - font->FontSize * 0.5f;
  const float bar_w = 16.0f;
  const int steps = 64;
  for (int i = 0; i < steps; ++i) {
    const float y0 = bottom - (bottom - top) * (i + 1) / steps, y1 = bottom - (bottom - top) * i / steps;
    dl->AddRectFilled(ImVec2(pos.x, std::floor(y0)), ImVec2(pos.x + bar_w, std::ceil(y1)),
                      viridis((i + 0.5f) / steps));
  }
  dl->AddRect(ImVec2(pos.x, top), ImVec2(pos.x + bar_w, bottom), im_colour(Palette::grid));
  for (const double v : {0.0, 0.25, 0.5, 0.75, 1.0}) {
    const float py = bottom - static_cast<float>(v) * (bottom - top);
    dl->AddLine(ImVec2(pos.x + bar_w, py), ImVec2(pos.x + bar_w + 4.0f, py), im_colour(Palette::text_dim));
    char s[8];
    std::snprintf(s, sizeof s, "%.2g", v);
    dl->AddText(font, font->FontSize, ImVec2(pos.x + bar_w + 7.0f, py - font->FontSize * 0.5f),
                im_colour(Palette::text_dim), s);
  }
}

}  // namespace ms::views::plot
