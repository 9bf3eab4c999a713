// The report's SVG figures. See svg_plot.h.
#include "core/export/svg_plot.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>

#include "core/export/report_html.h"

namespace ms::svg {

namespace {

std::string num(double v, int digits = 1) {
  char b[64];
  std::snprintf(b, sizeof b, "%.*f", digits, v);
  return b;
}
std::string short_num(double v) {
  char b[64];
  std::snprintf(b, sizeof b, "%.3g", v);
  return b;
}

// Opening tag without xmlns: inline SVG in HTML needs none, and the page then holds no URL at all.
std::string open(int width, int height, const std::string& label) {
  return "<svg width='" + std::to_string(width) + "' height='" + std::to_string(height) + "' viewBox='0 0 " +
         std::to_string(width) + " " + std::to_string(height) + "' role='img' aria-label='" + html_escape(label) +
         "' font-family='sans-serif'>\n";
}
std::string text(double x, double y, const std::string& s, const char* anchor = "middle", int size = 11,
                 const std::string& extra = "") {
  return "<text x='" + num(x) + "' y='" + num(y) + "' text-anchor='" + anchor + "' font-size='" +
         std::to_string(size) + "'" + extra + ">" + html_escape(s) + "</text>\n";
}
std::string hline(double x1, double x2, double y, const std::string& style) {
  return "<line x1='" + num(x1) + "' x2='" + num(x2) + "' y1='" + num(y) + "' y2='" + num(y) + "' " + style + "/>\n";
}
std::string y_axis_title(double x, double y, const std::string& s) {
  return text(x, y, s, "middle", 11, " transform='rotate(-90 " + num(x) + " " + num(y) + ")'");
}

// A step that gives 3..6 grid lines over [0, span]: 1, 2 or 5 times a power of ten.
double nice_step(double span) {
  if (!(span > 0)) return 1;
  const double raw = span / 4, p = std::pow(10.0, std::floor(std::log10(raw)));
  for (double m : {1.0, 2.0, 5.0, 10.0})
    if (raw <= m * p) return m * p;
  return 10 * p;
}

}  // namespace

std::string sequential_colour(double t) {
  // Five stops close to viridis: perceptually ordered and readable by colour-blind readers.
  static const double stops[5][3] = {{68, 1, 84}, {59, 82, 139}, {33, 145, 140}, {94, 201, 98}, {253, 231, 37}};
  t = std::clamp(std::isfinite(t) ? t : 0.0, 0.0, 1.0) * 4;
  const int i = std::min(3, int(t));
  const double f = t - i;
  char b[8];
  std::snprintf(b, sizeof b, "#%02x%02x%02x", int(std::lround(stops[i][0] + f * (stops[i + 1][0] - stops[i][0]))),
                int(std::lround(stops[i][1] + f * (stops[i + 1][1] - stops[i][1]))),
                int(std::lround(stops[i][2] + f * (stops[i + 1][2] - stops[i][2]))));
  return b;
}

std::string bar_chart(const BarChart& c) {
  const int W = c.width, H = c.height, left = 52, right = 10, top = 16, bottom = 36;
  const double plot_h = H - top - bottom;
  double hi = c.y_min + 1;
  for (const BarSeries& s : c.series)
    for (double v : s.values)
      if (std::isfinite(v)) hi = std::max(hi, v);
  const double step = c.y_step > 0 ? c.y_step : std::max(5.0, std::ceil(nice_step(hi - c.y_min) / 5) * 5);
  const double y_max = c.y_min + std::ceil((hi - c.y_min) / step) * step;
  const auto y_of = [&](double v) { return top + plot_h * (1 - (v - c.y_min) / (y_max - c.y_min)); };
  const int legend_h = c.series.size() > 1 ? 22 : 0;
  std::string s = open(W, H + legend_h, c.label);
  for (double v = c.y_min; v <= y_max + step / 2; v += step)
    s += hline(left, W - right, y_of(v), "stroke='#ddd'") + text(left - 6, y_of(v) + 4, short_num(v), "end");
  s += y_axis_title(14, top + plot_h / 2, c.y_label);
  const int n = std::max<int>(1, int(c.categories.size())), per = std::max<int>(1, int(c.series.size()));
  const double slot = double(W - left - right) / n, bar = std::max(1.5, (slot - 4) / per);
  const int label_every = std::max(1, n / 24);
  for (int i = 0; i < int(c.categories.size()); ++i) {
    const double x0 = left + i * slot + 2;
    for (int k = 0; k < int(c.series.size()); ++k) {
      const BarSeries& ser = c.series[std::size_t(k)];
      if (std::size_t(i) >= ser.values.size() || std::isnan(ser.values[std::size_t(i)])) continue;
      const double v = ser.values[std::size_t(i)];
      const bool capped = std::isinf(v) && v > 0;
      const double y = y_of(capped ? y_max : std::clamp(v, c.y_min, y_max)), x = x0 + k * bar;
      s += "<rect x='" + num(x) + "' y='" + num(y) + "' width='" + num(std::max(1.0, bar - 1)) + "' height='" +
           num(top + plot_h - y) + "' fill='" + ser.colour + "'><title>" +
           html_escape(c.categories[std::size_t(i)] + " " + ser.name + ": " +
                       (capped ? std::string("exact") : short_num(v) + c.unit)) +
           "</title></rect>\n";
      if (capped) s += text(x + bar / 2, top - 3, "\u221e", "middle", 10);
    }
    if (i % label_every == 0) s += text(x0 + slot / 2 - 2, H - bottom + 14, c.categories[std::size_t(i)]);
  }
  s += text(left + (W - left) / 2.0, H - 6, c.x_label);
  if (legend_h) {
    double lx = left;
    for (const BarSeries& ser : c.series) {
      s += "<rect x='" + num(lx) + "' y='" + std::to_string(H + 6) + "' width='10' height='10' fill='" + ser.colour +
           "'/>" + text(lx + 14, H + 15, ser.name, "start");
      lx += 26 + 7.0 * double(ser.name.size());
    }
  }
  return s + "</svg>\n";
}

std::string channel_profile(const ChannelProfile& p) {
  const int W = p.width, H = p.height, left = 52, right = 10, top = 14, bottom = 34;
  const double plot_w = W - left - right, plot_h = H - top - bottom;
  const double threshold = p.mean + p.sigmas * p.std;
  double hi = threshold;
  for (double v : p.values) hi = std::max(hi, v);
  const double step = nice_step(hi);
  const double y_max = std::max(step, std::ceil(hi * 1.08 / step) * step);
  const auto y_of = [&](double v) { return top + plot_h * (1 - std::clamp(v, 0.0, y_max) / y_max); };
  const std::size_t n = std::max<std::size_t>(1, p.values.size());
  const auto x_of = [&](double c) { return left + plot_w * (c + 0.5) / double(n); };
  std::string s = open(W, H, p.label);
  // The band: mean ± sigmas·std, cut at zero (absmaxes are never negative).
  const double band_lo = std::max(0.0, p.mean - p.sigmas * p.std);
  s += "<rect x='" + num(left) + "' y='" + num(y_of(threshold)) + "' width='" + num(plot_w) + "' height='" +
       num(y_of(band_lo) - y_of(threshold)) + "' fill='#e8eef8'><title>mean \u00b1 " + num(p.sigmas, 0) +
       "\u03c3: " + short_num(band_lo) + " .. " + short_num(threshold) + "</title></rect>\n";
  for (double v = 0; v <= y_max + step / 2; v += step)
    s += hline(left, W - right, y_of(v), "stroke='#e4e4e4'") + text(left - 6, y_of(v) + 4, short_num(v), "end");
  s += y_axis_title(14, top + plot_h / 2, p.y_label);
  // Every channel as one vertical stroke of a single path: small however wide the layer is.
  std::string path;
  for (std::size_t c = 0; c < p.values.size(); ++c)
    path += "M" + num(x_of(double(c))) + " " + num(y_of(0)) + "V" + num(y_of(p.values[c]));
  const double stroke = std::clamp(plot_w / double(n) * 0.8, 0.6, 6.0);
  s += "<path d='" + path + "' stroke='#4477aa' stroke-width='" + num(stroke, 2) + "'/>\n";
  s += hline(left, W - right, y_of(p.mean), "stroke='#333' stroke-dasharray='4 3'") +
       text(W - right - 2, y_of(p.mean) - 3, "mean " + short_num(p.mean), "end", 10);
  s += hline(left, W - right, y_of(threshold), "stroke='#cc3311' stroke-dasharray='6 3'") +
       text(W - right - 2, y_of(threshold) - 3, "mean + " + num(p.sigmas, 0) + "\u03c3 = " + short_num(threshold),
            "end", 10);
  for (std::size_t k = 0; k < p.marked.size(); ++k) {
    const int64_t c = p.marked[k];
    if (c < 0 || std::size_t(c) >= p.values.size()) continue;
    const double x = x_of(double(c)), y = y_of(p.values[std::size_t(c)]);
    s += "<line x1='" + num(x) + "' x2='" + num(x) + "' y1='" + num(y_of(0)) + "' y2='" + num(y) +
         "' stroke='#cc3311' stroke-width='" + num(std::max(stroke, 2.0), 2) + "'><title>channel " +
         std::to_string(c) + ": " + short_num(p.values[std::size_t(c)]) + "</title></line>\n";
    if (k < 8) s += text(x + 3, y + 10 + 11.0 * double(k % 2), std::to_string(c), "start", 10, " fill='#cc3311'");
  }
  const int ticks = 8;  // n·t/8 (0, 64, ... for 512 channels), the last one the last channel
  for (int t = 0; t <= ticks; ++t) {
    const int64_t c = t == ticks ? int64_t(n) - 1 : int64_t(std::llround(double(n) * t / ticks));
    s += text(x_of(double(c)), H - bottom + 14, std::to_string(c));
  }
  s += text(left + plot_w / 2, H - 5, "channel");
  return s + "</svg>\n";
}

std::string heatmap(const Heatmap& m) {
  const int left = 52, right = 90, top = m.marked.empty() ? 8 : 16, bottom = 34;
  const double plot_w = m.width - left - right, cell_w = plot_w / double(std::max<int64_t>(1, m.cols));
  const int H = top + bottom + int(m.rows) * m.cell_height;
  double lo = std::numeric_limits<double>::infinity(), hi = 0;
  for (double v : m.values)
    if (v > 0) lo = std::min(lo, v), hi = std::max(hi, v);
  if (!(hi > 0)) lo = hi = 1;
  const double span = std::max(1e-12, std::log(hi) - std::log(lo));
  constexpr int kLevels = 32;  // colours quantised so that neighbouring equal cells merge into one rect
  const auto level = [&](double v) {
    if (!(v > 0)) return 0;
    return std::clamp(int(std::lround((std::log(v) - std::log(lo)) / span * (kLevels - 1))), 0, kLevels - 1);
  };
  std::string s = open(m.width, H, m.label);
  for (int64_t r = 0; r < m.rows; ++r) {
    const double y = top + double(r) * m.cell_height;
    for (int64_t c = 0; c < m.cols;) {
      const int lv = level(m.values[std::size_t(r * m.cols + c)]);
      int64_t e = c + 1;
      while (e < m.cols && level(m.values[std::size_t(r * m.cols + e)]) == lv) ++e;
      s += "<rect x='" + num(left + double(c) * cell_w, 2) + "' y='" + num(y) + "' width='" +
           num(double(e - c) * cell_w + 0.3, 2) + "' height='" + std::to_string(m.cell_height) + "' fill='" +
           sequential_colour(double(lv) / (kLevels - 1)) + "'/>";
      c = e;
    }
    s += "\n";
    if (m.rows <= 32 || r % (m.rows / 16) == 0)
      s += text(left - 6, y + m.cell_height - 2, std::to_string(r), "end", 10);
  }
  for (int64_t c : m.marked) {
    const double x = left + (double(c / std::max<int64_t>(1, m.col_step)) + 0.5) * cell_w;
    s += "<path d='M" + num(x - 4) + " " + num(top - 9) + "L" + num(x + 4) + " " + num(top - 9) + "L" + num(x) + " " +
         num(top - 2) + "Z' fill='#cc3311'><title>channel " + std::to_string(c) + "</title></path>\n";
  }
  s += y_axis_title(14, top + m.rows * m.cell_height / 2.0, m.y_label);
  const int ticks = 8;
  const int64_t source_cols = m.cols * m.col_step;
  for (int t = 0; t <= ticks; ++t) {
    const double c = double(m.cols) * t / ticks;
    s += text(left + c * cell_w, top + m.rows * m.cell_height + 14,
              std::to_string(int64_t(std::lround(double(source_cols) * t / ticks))));
  }
  s += text(left + plot_w / 2, H - 5, m.x_label);
  // Colour scale on the right, log spaced, with its ends labelled.
  const double sx = m.width - right + 14, sh = m.rows * m.cell_height;
  for (int i = 0; i < kLevels; ++i)
    s += "<rect x='" + num(sx) + "' y='" + num(top + sh * (1 - double(i + 1) / kLevels)) + "' width='12' height='" +
         num(sh / kLevels + 0.3, 2) + "' fill='" + sequential_colour(double(i) / (kLevels - 1)) + "'/>";
  s += "\n" + text(sx + 16, top + 9, short_num(hi), "start", 10) + text(sx + 16, top + sh, short_num(lo), "start", 10);
  return s + "</svg>\n";
}

}  // namespace ms::svg
