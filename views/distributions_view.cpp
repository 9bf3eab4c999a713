// Distributions view (see distributions_view.h).
//
// [SECTION] Helpers
// [SECTION] Header: point, layer, method, bits, numbers
// [SECTION] Histogram of |x|
// [SECTION] Per-channel absmax and variance
// [SECTION] Before / after of a method (PreviewSnapshot)
// [SECTION] Entry point
#include "views/distributions_view.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <string>

#include <imgui.h>

#include "views/plot.h"
#include "views/text_format.h"
#include "views/theme.h"

namespace ms::views::distributions {
namespace {

//-------------------------------------------------------------------------------------------------
// [SECTION] Helpers
//-------------------------------------------------------------------------------------------------

constexpr uint32_t kOutlier = 0xFFE8612C;  // Okabe–Ito vermillion
constexpr uint32_t kZero = 0xFF56B4E9;     // Okabe–Ito sky blue: the values that round to zero
constexpr uint32_t kMean = 0xFFDFE1E5;

// Coefficient of variation of a vector (population std / mean); 0 for a zero mean.
template <typename T>
double cv(const std::vector<T>& v) {
  if (v.empty()) return 0.0;
  double sum = 0.0;
  for (const T x : v) sum += static_cast<double>(x);
  const double mean = sum / static_cast<double>(v.size());
  double sq = 0.0;
  for (const T x : v) sq += (static_cast<double>(x) - mean) * (static_cast<double>(x) - mean);
  return mean > 0.0 ? std::sqrt(sq / static_cast<double>(v.size())) / mean : 0.0;
}

struct MethodItem {
  const char* key;
  const char* label;
};
constexpr MethodItem kMethods[] = {{"", "None (before only)"}, {"hadamard", "Hadamard"}, {"klt", "KLT"},
                                   {"smoothquant", "SmoothQuant"}, {"dsq", "DSQ (ssm.state)"}};

const char* method_label(const std::string& key) {
  for (const MethodItem& m : kMethods)
    if (key == m.key) return m.label;
  return kMethods[0].label;
}

// Method, and its parameter: SmoothQuant's α, DSQ's baseline.
void draw_method_selector(ViewState& state, float right) {
  const ImGuiStyle& style = ImGui::GetStyle();
  const float method_w = ImGui::CalcTextSize("None (before only)").x + ImGui::GetFrameHeight() + style.FramePadding.x * 2;
  if (fits_on_row(method_w + ImGui::CalcTextSize("Method").x + 40.0f, right)) ImGui::SameLine(0.0f, 28.0f);
  ImGui::AlignTextToFramePadding();
  ImGui::TextDisabled("Method");
  ImGui::SameLine();
  ImGui::SetNextItemWidth(method_w);
  if (ImGui::BeginCombo("##method", method_label(state.method))) {
    for (const MethodItem& m : kMethods)
      if (ImGui::Selectable(m.label, state.method == m.key)) state.method = m.key;
    ImGui::EndCombo();
  }
  if (state.method == "smoothquant") {
    ImGui::SameLine();
    ImGui::SetNextItemWidth(110.0f);
    float alpha = static_cast<float>(state.alpha);
    if (ImGui::SliderFloat("##alpha", &alpha, 0.0f, 1.0f, "α %.2f", ImGuiSliderFlags_AlwaysClamp))
      state.alpha = std::round(alpha * 20.0f) / 20.0;  // steps of 0.05: each step is one CLI run
  } else if (state.method == "dsq") {
    const float baseline_w = ImGui::CalcTextSize("vs channel").x + ImGui::GetFrameHeight() + style.FramePadding.x * 2 + 12.0f;
    if (fits_on_row(baseline_w, right)) ImGui::SameLine();
    ImGui::AlignTextToFramePadding();
    ImGui::TextDisabled("vs");
    ImGui::SameLine();
    ImGui::SetNextItemWidth(ImGui::CalcTextSize("channel").x + ImGui::GetFrameHeight() + style.FramePadding.x * 2);
    if (ImGui::BeginCombo("##baseline", state.baseline.c_str())) {
      for (const char* b : {"tensor", "channel", "state"})
        if (ImGui::Selectable(b, state.baseline == b)) state.baseline = b;
      ImGui::EndCombo();
    }
  }
}

//-------------------------------------------------------------------------------------------------
// [SECTION] Header: point, layer, method, bits, numbers
//-------------------------------------------------------------------------------------------------

void draw_header(const StatsSnapshot& stats, const ChannelMaxima& m, ViewState& state) {
  const Theme t = theme();
  const int n_layers = static_cast<int>(stats.n_layers);
  const ImGuiStyle& style = ImGui::GetStyle();
  const float right = ImGui::GetWindowContentRegionMax().x;
  const float button_w = ImGui::CalcTextSize("◀  Previous").x + style.FramePadding.x * 2.0f;
  const float buttons_left = right - 2.0f * button_w - style.ItemSpacing.x;

  ImGui::PushFont(t.title);
  ImGui::Text("Distributions");
  ImGui::PopFont();
  const std::string name = state.method == "dsq" ? QuantPoint{state.layer, Module::Ssm, Site::State}.str() : m.point.str();
  ImGui::PushFont(t.mono);
  const bool name_fits = fits_on_row(ImGui::CalcTextSize(name.c_str()).x, buttons_left - 12.0f);
  if (name_fits) {
    ImGui::SameLine();
    ImGui::AlignTextToFramePadding();
    ImGui::TextUnformatted(name.c_str());
  }
  ImGui::PopFont();
  char where[96];
  std::snprintf(where, sizeof where, "·  %zu channels  ·  layer %d of %d", m.absmax.size(), state.layer, n_layers);
  if (name_fits && fits_on_row(ImGui::CalcTextSize(where).x, buttons_left - 12.0f)) {
    ImGui::SameLine();
    ImGui::TextDisabled("%s", where);
  }
  ImGui::SameLine(buttons_left);
  layer_stepper(state.layer, state.user_changed, n_layers, button_w);

  // Second row: point, method, bits, count scale.
  const float box = ImGui::GetFrameHeight() + style.ItemInnerSpacing.x;
  ImGui::AlignTextToFramePadding();
  ImGui::TextDisabled("Point");
  for (const PointSeries& s : stats.series) {
    const std::string label = std::string(module_name(s.module)) + ".input";
    if (fits_on_row(box + ImGui::CalcTextSize(label.c_str()).x, right)) ImGui::SameLine();
    if (ImGui::RadioButton(label.c_str(), state.module == s.module) && state.module != s.module) {
      state.module = s.module;
      state.user_changed = true;
    }
  }
  draw_method_selector(state, right);
  const float slider_w = 150.0f;
  if (fits_on_row(slider_w + ImGui::CalcTextSize("A bits").x + 40.0f, right)) ImGui::SameLine(0.0f, 28.0f);
  ImGui::AlignTextToFramePadding();
  ImGui::TextDisabled("%s", state.method == "dsq" ? "H bits" : "A bits");
  ImGui::SameLine();
  ImGui::SetNextItemWidth(slider_w);
  // 2..15: the view shows an integer grid's error, and the quantizers' codes stop at int16 (the
  // Quantization dock's 16 means float, which has no error to show here).
  ImGui::SliderInt("##bits", &state.bits, 2, 15, "%d", ImGuiSliderFlags_AlwaysClamp);
  if (fits_on_row(box + ImGui::CalcTextSize("Log counts").x + 28.0f, right)) ImGui::SameLine(0.0f, 28.0f);
  ImGui::Checkbox("Log counts", &state.log_counts);

  // Third row: the numbers (with a method, the preview's before → after replace them).
  if (!state.method.empty()) return;
  ImGui::PushFont(t.mono);
  ImGui::TextDisabled("channel absmax CV %s   channel variance CV %s   absmax %s",
                      fmt("%.2f", m.mean > 0 ? m.std / m.mean : 0).c_str(), fmt("%.2f", cv(m.channel_var)).c_str(),
                      num(m.max).c_str());
  if (const auto e = estimate_rtn_per_tensor(m, state.bits)) {
    char text[192];
    std::snprintf(text, sizeof text, "A%d per-tensor RTN: step %s   MSE %s   SQNR %s dB   %s %% of values round to 0",
                  state.bits, num(e->step).c_str(), num(e->mse).c_str(),
                  std::isfinite(e->sqnr_db) ? fmt("%.1f", e->sqnr_db).c_str() : "∞", fmt("%.1f", 100.0 * e->zero_share).c_str());
    if (fits_on_row(ImGui::CalcTextSize(text).x + 24.0f, right)) ImGui::SameLine(0.0f, 24.0f);
    ImGui::TextColored(ImGui::ColorConvertU32ToFloat4(im_colour(kZero)), "%s", text);
  }
  ImGui::PopFont();
}

//-------------------------------------------------------------------------------------------------
// [SECTION] Histogram of |x|
//-------------------------------------------------------------------------------------------------

void draw_histogram(const ChannelMaxima& m, const ViewState& state, ImVec2 pos, ImVec2 size) {
  ImDrawList* dl = ImGui::GetWindowDrawList();
  // x: the decades the values occupy (bin 0, |x| < 1e-8, is reported in the tooltip, not drawn).
  std::size_t first = m.hist.size(), last = 0;
  double total = 0.0, peak = 0.0;
  for (std::size_t i = 1; i < m.hist.size(); ++i)
    if (m.hist[i] > 0) {
      first = std::min(first, i);
      last = i;
    }
  for (const int64_t c : m.hist) {
    total += static_cast<double>(c);
    peak = std::max(peak, static_cast<double>(c));
  }
  if (first > last || total == 0.0) {
    ImGui::TextDisabled("Every value of this point is zero.");
    return;
  }
  const double lo = std::pow(10.0, std::floor(std::log10(m.hist_edges[first])));
  const double hi = std::pow(10.0, std::ceil(std::log10(m.hist_edges[last + 1])));
  const double share_peak = peak / total;
  plot::Axis x{lo, hi, plot::Scale::Log, "|x|"};
  plot::Axis y{0.0, share_peak * 1.1, plot::Scale::Linear, "share of values"};
  if (state.log_counts) y = plot::Axis{std::max(0.5 / total, share_peak * 1e-7), share_peak * 2.0, plot::Scale::Log, "share of values"};
  const plot::Frame f = plot::frame(dl, pos, size, x, y);
  const auto e = estimate_rtn_per_tensor(m, state.bits);
  dl->PushClipRect(f.min, f.max, true);
  for (std::size_t i = first; i <= last; ++i) {
    if (m.hist[i] == 0) continue;
    const double share = static_cast<double>(m.hist[i]) / total;
    const float x0 = f.to_x(m.hist_edges[i]), x1 = f.to_x(m.hist_edges[i + 1]);
    const bool zero = e && std::sqrt(m.hist_edges[i] * m.hist_edges[i + 1]) < e->step / 2.0;
    dl->AddRectFilled(ImVec2(x0, f.to_y(share)), ImVec2(std::max(x1 - 1.0f, x0 + 1.0f), f.max.y),
                      im_colour(zero ? kZero : Palette::activation, 0.85f));
  }
  // Labels on separate text lines: the two lines can stand close together.
  const auto vline = [&](double v, uint32_t colour, const std::string& text, int line) {
    const float px = f.to_x(v);
    dl->AddLine(ImVec2(px, f.min.y), ImVec2(px, f.max.y), colour, 1.5f);
    ImFont* font = theme().body;
    const float w = font->CalcTextSizeA(font->FontSize, 1e9f, 0.0f, text.c_str()).x;
    const float tx = px + 6.0f + w < f.max.x ? px + 6.0f : px - 6.0f - w;
    const ImVec2 p(tx, f.min.y + 4.0f + line * (font->FontSize + 4.0f));
    dl->AddRectFilled(ImVec2(p.x - 3.0f, p.y), ImVec2(p.x + w + 3.0f, p.y + font->FontSize + 2.0f), im_colour(Palette::panel, 0.85f));
    dl->AddText(font, font->FontSize, p, colour, text.c_str());
  };
  vline(m.max, im_colour(kOutlier), "absmax " + num(m.max), 0);
  if (e) vline(e->step / 2.0, im_colour(kZero), "step/2 at A" + std::to_string(state.bits) + " = " + num(e->step / 2.0), 1);
  dl->PopClipRect();

  const ImVec2 mouse = ImGui::GetIO().MousePos;
  if (f.contains(mouse) && ImGui::IsWindowHovered()) {
    const double v = f.from_x(mouse.x);
    const auto it = std::upper_bound(m.hist_edges.begin(), m.hist_edges.end(), v);
    const std::size_t bin = static_cast<std::size_t>(std::max<std::ptrdiff_t>(it - m.hist_edges.begin() - 1, 0));
    if (bin < m.hist.size()) {
      ImGui::BeginTooltip();
      ImGui::Text("%s ≤ |x| < %s", num(m.hist_edges[bin]).c_str(), num(m.hist_edges[bin + 1]).c_str());
      ImGui::Text("%lld values (%.4g %%)", static_cast<long long>(m.hist[bin]), 100.0 * m.hist[bin] / total);
      ImGui::TextDisabled("|x| < 1e-8: %lld values", static_cast<long long>(m.hist[0]));
      ImGui::EndTooltip();
    }
  }
}

//-------------------------------------------------------------------------------------------------
// [SECTION] Per-channel absmax and variance
//-------------------------------------------------------------------------------------------------

void draw_channel_bars(const std::vector<float>& values, const char* label, double mean, uint32_t colour, ImVec2 pos,
                       ImVec2 size, float top = 0.0f) {
  const int n = static_cast<int>(values.size());
  for (const float v : values) top = std::max(top, v);
  ImDrawList* dl = ImGui::GetWindowDrawList();
  // A short row (large presentation fonts) gives its "channel" caption's line to the bars: the
  // ticks still say channel numbers, and the tooltip names the channel.
  const char* x_label = size.y < 7.0f * ImGui::GetFontSize() ? "" : "channel";
  const plot::Frame f = plot::frame(dl, pos, size, plot::Axis{-0.5, n - 0.5, plot::Scale::Linear, x_label, true},
                                    plot::Axis{0.0, std::max(top, 1e-12f) * 1.1, plot::Scale::Linear, label});
  dl->PushClipRect(f.min, f.max, true);
  plot::bars(f, values.data(), n, colour);
  plot::hline(f, mean, im_colour(kMean), 1.2f);
  plot::line_label(f, mean, im_colour(kMean), "mean " + num(mean));
  const int hovered = plot::hover_index(f, n);
  dl->PopClipRect();
  if (hovered >= 0) {
    ImGui::BeginTooltip();
    ImGui::Text("channel %d", hovered);
    ImGui::Text("%s  %.6g  (%.2f × mean)", label, values[static_cast<std::size_t>(hovered)],
                mean > 0 ? values[static_cast<std::size_t>(hovered)] / mean : 0.0);
    ImGui::EndTooltip();
  }
}

//-------------------------------------------------------------------------------------------------
// [SECTION] Before / after of a method (PreviewSnapshot)
//-------------------------------------------------------------------------------------------------

std::string db(double v) { return std::isfinite(v) ? fmt("%.1f", v) + " dB" : std::string("∞ dB"); }

// Bins [first, last] holding values on either side (bin 0, |x| < 1e-8, is not drawn).
bool hist_range(const PreviewSnapshot& p, std::size_t& first, std::size_t& last, double& peak_share) {
  first = p.before.hist.size();
  last = 0;
  peak_share = 0.0;
  for (const DistributionSide* side : {&p.before, &p.after}) {
    double total = 0.0;
    for (const int64_t c : side->hist) total += static_cast<double>(c);
    if (total == 0.0) continue;
    for (std::size_t i = 1; i < side->hist.size(); ++i)
      if (side->hist[i] > 0) {
        first = std::min(first, i);
        last = std::max(last, i);
        peak_share = std::max(peak_share, static_cast<double>(side->hist[i]) / total);
      }
  }
  return first <= last && last + 1 < p.hist_edges.size();
}

void draw_side_histogram(const PreviewSnapshot& p, const DistributionSide& side, const ViewState& state, const char* title,
                         ImVec2 pos, ImVec2 size) {
  ImDrawList* dl = ImGui::GetWindowDrawList();
  std::size_t first = 0, last = 0;
  double peak = 0.0;
  if (!hist_range(p, first, last, peak)) return;
  double total = 0.0;
  for (const int64_t c : side.hist) total += static_cast<double>(c);
  const double lo = std::pow(10.0, std::floor(std::log10(p.hist_edges[first])));
  const double hi = std::pow(10.0, std::ceil(std::log10(p.hist_edges[last + 1])));
  plot::Axis x{lo, hi, plot::Scale::Log, std::string("|x|  ·  ") + title};
  plot::Axis y{0.0, peak * 1.1, plot::Scale::Linear, "share of values"};
  if (state.log_counts) y = plot::Axis{std::max(0.5 / std::max(total, 1.0), peak * 1e-7), peak * 2.0, plot::Scale::Log, "share of values"};
  const plot::Frame f = plot::frame(dl, pos, size, x, y);
  if (total == 0.0) return;
  dl->PushClipRect(f.min, f.max, true);
  for (std::size_t i = first; i <= last; ++i) {
    if (side.hist[i] == 0) continue;
    const float x0 = f.to_x(p.hist_edges[i]), x1 = f.to_x(p.hist_edges[i + 1]);
    dl->AddRectFilled(ImVec2(x0, f.to_y(static_cast<double>(side.hist[i]) / total)),
                      ImVec2(std::max(x1 - 1.0f, x0 + 1.0f), f.max.y), im_colour(Palette::activation, 0.85f));
  }
  const float px = f.to_x(side.absmax);
  dl->AddLine(ImVec2(px, f.min.y), ImVec2(px, f.max.y), im_colour(kOutlier), 1.5f);
  const std::string label = "absmax " + num(side.absmax);
  const float w = plot::line_label_width(label);
  const float tx = px + 6.0f + w < f.max.x ? px + 6.0f : px - 6.0f - w;
  // On a panel patch, as the before-only view's label: the bars under it stay out of the text.
  const float text_h = ImGui::GetFontSize();
  dl->AddRectFilled(ImVec2(tx - 3.0f, f.min.y + 3.0f), ImVec2(tx + w + 3.0f, f.min.y + 5.0f + text_h),
                    im_colour(Palette::panel, 0.85f));
  dl->AddText(ImVec2(tx, f.min.y + 4.0f), im_colour(kOutlier), label.c_str());
  dl->PopClipRect();
}

double mean_of(const std::vector<double>& v) {
  double sum = 0.0;
  for (const double x : v) sum += x;
  return v.empty() ? 0.0 : sum / static_cast<double>(v.size());
}

void draw_preview(const Preview& preview, const ViewState& state) {
  const Theme t = theme();
  const PreviewRequest wanted = preview_request(state);
  const PreviewSnapshot* p = preview.snapshot.get();
  const bool current = p && p->point.str() == wanted.point && p->method == wanted.method && p->bits == wanted.bits &&
                       (wanted.method != "smoothquant" || p->alpha == wanted.alpha);
  ImGui::PushFont(t.mono);
  if (!preview.status.empty()) ImGui::TextColored(ImGui::ColorConvertU32ToFloat4(im_colour(kZero)), "%s", preview.status.c_str());
  if (!p) {
    ImGui::PopFont();
    return;
  }
  if (!current) ImGui::TextDisabled("(showing %s %s until the new preview arrives)", p->point.str().c_str(), p->method.c_str());
  ImGui::TextUnformatted((p->point.str() + "  ·  " + p->transform + "  ·  " + std::to_string(p->tokens) + " tokens").c_str());
  ImGui::Text("channel absmax CV %s → %s    channel variance CV %s → %s    absmax %s → %s",
              fmt("%.2f", p->before.absmax_cv).c_str(), fmt("%.2f", p->after.absmax_cv).c_str(),
              fmt("%.2f", p->before.var_cv).c_str(), fmt("%.2f", p->after.var_cv).c_str(), num(p->before.absmax).c_str(),
              num(p->after.absmax).c_str());
  std::string error;
  if (p->is_state())
    error = p->before.error.quantizer + " SQNR " + db(p->before.error.sqnr_db) + " → " + p->after.error.quantizer + " " +
            db(p->after.error.sqnr_db);
  else
    error = "A" + std::to_string(p->bits) + " per-tensor SQNR " + db(p->before.error.sqnr_db) + " → " + db(p->after.error.sqnr_db);
  ImGui::TextColored(ImGui::ColorConvertU32ToFloat4(im_colour(kZero)), "%s", error.c_str());
  if (!p->state_errors.empty()) {
    std::string all = "at H" + std::to_string(p->bits) + ":";
    for (const QuantError& e : p->state_errors) all += "   " + e.quantizer.substr(e.quantizer.find(' ') + 1) + " " + db(e.sqnr_db);
    ImGui::SameLine(0.0f, 24.0f);
    ImGui::TextDisabled("%s", all.c_str());
  }
  ImGui::PopFont();
  ImGui::Spacing();

  // Two columns (before | after), three rows (histogram, absmax, variance), shared y per row.
  const ImVec2 origin = ImGui::GetCursorScreenPos();
  const ImVec2 avail = ImGui::GetContentRegionAvail();
  const float gap = 18.0f;
  const float col_w = std::floor((avail.x - gap) * 0.5f);
  const float hist_h = std::floor((avail.y - 2 * gap) * 0.44f);
  const float bar_h = std::floor((avail.y - 2 * gap - hist_h) * 0.5f);
  const ImVec2 right(origin.x + col_w + gap, origin.y);
  const std::string after_title = p->is_state() ? "AFTER: S / DSQ scales" : "AFTER";
  draw_side_histogram(*p, p->before, state, "BEFORE", origin, ImVec2(col_w, hist_h));
  draw_side_histogram(*p, p->after, state, after_title.c_str(), right, ImVec2(col_w, hist_h));
  float absmax_top = 0.0f;
  for (const DistributionSide* side : {&p->before, &p->after})
    for (const float v : side->channel_absmax) absmax_top = std::max(absmax_top, v);
  const auto mean_f = [](const std::vector<float>& v) { return mean_of(std::vector<double>(v.begin(), v.end())); };
  const float row2 = origin.y + hist_h + gap, row3 = row2 + bar_h + gap;
  draw_channel_bars(p->before.channel_absmax, "absmax before", mean_f(p->before.channel_absmax),
                    im_colour(Palette::activation, 0.85f), ImVec2(origin.x, row2), ImVec2(col_w, bar_h), absmax_top);
  draw_channel_bars(p->after.channel_absmax, "absmax after", mean_f(p->after.channel_absmax),
                    im_colour(Palette::activation, 0.85f), ImVec2(right.x, row2), ImVec2(col_w, bar_h), absmax_top);
  double var_top = 0.0;
  for (const DistributionSide* side : {&p->before, &p->after})
    for (const double v : side->channel_var) var_top = std::max(var_top, v);
  const std::vector<float> var_before(p->before.channel_var.begin(), p->before.channel_var.end());
  const std::vector<float> var_after(p->after.channel_var.begin(), p->after.channel_var.end());
  draw_channel_bars(var_before, "variance before", mean_of(p->before.channel_var), im_colour(Palette::weight, 0.85f),
                    ImVec2(origin.x, row3), ImVec2(col_w, avail.y - (row3 - origin.y)), static_cast<float>(var_top));
  draw_channel_bars(var_after, "variance after", mean_of(p->after.channel_var), im_colour(Palette::weight, 0.85f),
                    ImVec2(right.x, row3), ImVec2(col_w, avail.y - (row3 - origin.y)), static_cast<float>(var_top));
  ImGui::SetCursorScreenPos(origin);
  ImGui::Dummy(avail);
}

}  // namespace

PreviewRequest preview_request(const ViewState& state) {
  PreviewRequest r;
  if (state.method.empty()) return r;
  r.method = state.method;
  r.point = state.method == "dsq" ? QuantPoint{state.layer, Module::Ssm, Site::State}.str()
                                  : QuantPoint{state.layer, state.module, Site::Input}.str();
  r.bits = std::clamp(state.bits, 2, 15);
  r.alpha = state.alpha;
  r.baseline = state.baseline;
  return r;
}

//-------------------------------------------------------------------------------------------------
// [SECTION] Entry point
//-------------------------------------------------------------------------------------------------

void draw(const StatsSnapshot& stats, ViewState& state, const Preview& preview) {
  if (stats.series.empty() || stats.n_layers < 1) {
    ImGui::TextDisabled("This statistics file has no activation points.");
    return;
  }
  state.layer = std::clamp(state.layer, 0, static_cast<int>(stats.n_layers) - 1);
  if (!stats.find(state.module)) state.module = stats.series.front().module;
  draw_header(stats, stats.find(state.module)->layers[static_cast<std::size_t>(state.layer)], state);
  state.layer = std::clamp(state.layer, 0, static_cast<int>(stats.n_layers) - 1);
  const ChannelMaxima& m = stats.find(state.module)->layers[static_cast<std::size_t>(state.layer)];
  if (!state.method.empty()) {
    draw_preview(preview, state);
    return;
  }
  if (m.hist.empty() || m.channel_var.empty()) {
    ImGui::TextDisabled("This statistics file has no histograms or channel sums for %s.", m.point.str().c_str());
    return;
  }
  ImGui::Spacing();
  const ImVec2 origin = ImGui::GetCursorScreenPos();
  const ImVec2 avail = ImGui::GetContentRegionAvail();
  const float gap = 18.0f;
  const float left_w = std::floor((avail.x - gap) * 0.5f);
  draw_histogram(m, state, origin, ImVec2(left_w, avail.y));
  std::vector<float> variance(m.channel_var.begin(), m.channel_var.end());
  double var_mean = 0.0;
  for (const double v : m.channel_var) var_mean += v;
  var_mean /= static_cast<double>(std::max<std::size_t>(m.channel_var.size(), 1));
  const float half = std::floor((avail.y - gap) * 0.5f);
  const ImVec2 right(origin.x + left_w + gap, origin.y);
  draw_channel_bars(m.absmax, "absmax", m.mean, im_colour(Palette::activation, 0.85f), right, ImVec2(avail.x - left_w - gap, half));
  draw_channel_bars(variance, "variance", var_mean, im_colour(Palette::weight, 0.85f), ImVec2(right.x, right.y + half + gap),
                    ImVec2(avail.x - left_w - gap, avail.y - half - gap));
  ImGui::SetCursorScreenPos(origin);
  ImGui::Dummy(avail);
}

}  // namespace ms::views::distributions
