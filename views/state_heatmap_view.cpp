// State heatmap view (see state_heatmap_view.h).
//
// [SECTION] Colours and helpers
// [SECTION] Header: layer navigation, statistic, scale, summary
// [SECTION] Channel margin: each channel's absmax over its states
// [SECTION] Map: the [channel × state] heatmap, heads, hover
// [SECTION] State margin: each state's absmax over the channels
// [SECTION] Entry point
#include "views/state_heatmap_view.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <string>

#include <imgui.h>

#include "views/state_sequence_view.h"
#include "views/text_format.h"
#include "views/theme.h"

namespace ms::views::state_heatmap {
namespace {

//-------------------------------------------------------------------------------------------------
// [SECTION] Colours and helpers
//-------------------------------------------------------------------------------------------------

constexpr uint32_t kOutlier = 0xFFE8612C;  // Okabe–Ito vermillion, as in the channel-maxima view
constexpr uint32_t kMean = 0xFFDFE1E5;
// A log colour scale shows at most this many decades below the maximum: a state element that
// never moved (|s| ~ 1e-30) would otherwise stretch the scale until everything else looks alike.
constexpr double kLogDecades = 6.0;

const std::vector<float>& values_of(const StateMaps& s, Statistic statistic) {
  return statistic == Statistic::Absmax ? s.absmax : s.mean_abs;
}

// The colour scale of the shown map: [smallest positive or max / 10^6, max] on log; [0, max] linear.
plot::Axis colour_scale(const StateMaps& s, const ViewState& state) {
  const bool absmax = state.statistic == Statistic::Absmax;
  const double hi = std::max<double>(absmax ? s.absmax_max : s.mean_abs_max, 1e-30);
  if (!state.log_scale) return plot::Axis{0.0, hi, plot::Scale::Linear};
  const double lo_positive = absmax ? s.absmax_min_positive : s.mean_abs_min_positive;
  double lo = std::max(lo_positive > 0.0 ? lo_positive : hi, hi * std::pow(10.0, -kLogDecades));
  if (!(lo < hi)) lo = hi / 10.0;  // a constant map still gets a one-decade scale
  return plot::Axis{lo, hi, plot::Scale::Log};
}

std::string channel_name(const StateMaps& s, int row) {
  if (s.head_dim <= 0) return "channel " + std::to_string(row);
  return "head " + std::to_string(row / s.head_dim) + " · dim " + std::to_string(row % s.head_dim) + "  (row " +
         std::to_string(row) + ")";
}

//-------------------------------------------------------------------------------------------------
// [SECTION] Header: layer navigation, statistic, scale, summary
//-------------------------------------------------------------------------------------------------

void draw_header(const StatsSnapshot& stats, const StateMaps& s, ViewState& state) {
  const Theme t = theme();
  const int n_layers = static_cast<int>(stats.states.size());
  const ImGuiStyle& style = ImGui::GetStyle();
  const float right = ImGui::GetWindowContentRegionMax().x;
  const float button_w = ImGui::CalcTextSize("◀  Previous").x + style.FramePadding.x * 2.0f;
  const float buttons_left = right - 2.0f * button_w - style.ItemSpacing.x;

  ImGui::PushFont(t.title);
  ImGui::Text("State heatmap");
  ImGui::PopFont();
  const std::string name = s.point.str();
  ImGui::PushFont(t.mono);
  const bool name_fits = fits_on_row(ImGui::CalcTextSize(name.c_str()).x, buttons_left - 12.0f);
  if (name_fits) {
    ImGui::SameLine();
    ImGui::AlignTextToFramePadding();
    ImGui::TextUnformatted(name.c_str());
  }
  ImGui::PopFont();
  char where[128];
  if (s.head_dim > 0)
    std::snprintf(where, sizeof where, "·  %lld heads × %lld dims × %lld states  ·  layer %d of %d",
                  static_cast<long long>(s.rows / s.head_dim), static_cast<long long>(s.head_dim),
                  static_cast<long long>(s.states), state.layer, n_layers);
  else
    std::snprintf(where, sizeof where, "·  %lld channels × %lld states  ·  layer %d of %d",
                  static_cast<long long>(s.rows), static_cast<long long>(s.states), state.layer, n_layers);
  if (name_fits && fits_on_row(ImGui::CalcTextSize(where).x, buttons_left - 12.0f)) {
    ImGui::SameLine();
    ImGui::TextDisabled("%s", where);
  }
  ImGui::SameLine(buttons_left);
  layer_stepper(state.layer, state.user_changed, n_layers, button_w);

  // Second row: the mode; which statistic, the colour scale, zoom; where the numbers came from.
  const float box = ImGui::GetFrameHeight() + style.ItemInnerSpacing.x;
  ImGui::AlignTextToFramePadding();
  ImGui::Checkbox("Sequence", &state.sequence);
  if (ImGui::IsItemHovered())
    ImGui::SetTooltip("The state token by token: float vs quantized, first %d tokens of the text", state.sequence_tokens);
  if (state.sequence) {
    ImGui::SameLine(0.0f, 20.0f);
    ImGui::TextDisabled("H bits");
    ImGui::SameLine();
    // Every width the quantizers take (2..15; 16 would be the float state, the other side of the
    // comparison). Dragging asks for a run per width: the app keeps only the latest.
    ImGui::SetNextItemWidth(10.0f * ImGui::GetFontSize());
    ImGui::SliderInt("##sequence_hbits", &state.sequence_hbits, 2, 15, "H%d", ImGuiSliderFlags_AlwaysClamp);
    if (ImGui::IsItemHovered()) ImGui::SetTooltip("State bits of the quantized run (Ctrl+click to type)");
    return;
  }
  ImGui::SameLine(0.0f, 20.0f);
  ImGui::TextDisabled("Show");
  ImGui::SameLine();
  if (ImGui::RadioButton("absmax", state.statistic == Statistic::Absmax)) state.statistic = Statistic::Absmax;
  if (fits_on_row(box + ImGui::CalcTextSize("mean |s|").x, right)) ImGui::SameLine();
  if (ImGui::RadioButton("mean |s|", state.statistic == Statistic::MeanAbs)) state.statistic = Statistic::MeanAbs;
  if (fits_on_row(box + ImGui::CalcTextSize("Log colour scale").x + 28.0f, right)) ImGui::SameLine(0.0f, 28.0f);
  ImGui::Checkbox("Log colour scale", &state.log_scale);
  if (state.zoom.zoomed()) {
    if (fits_on_row(ImGui::CalcTextSize("Reset zoom").x + 40.0f, right)) ImGui::SameLine(0.0f, 20.0f);
    if (ImGui::Button("Reset zoom")) state.zoom = plot::Zoom{};
  }
  std::string source = stats.tokens > 0 ? thousands(stats.tokens) + " calibration tokens" : std::string();
  if (stats.cancelled) source += " (cancelled early)";
  if (!source.empty()) {
    const float w = ImGui::CalcTextSize(source.c_str()).x;
    if (fits_on_row(w + 24.0f, right)) {
      ImGui::SameLine(right - w);
      ImGui::TextDisabled("%s", source.c_str());
    }
  }

  // Third row: how uneven the channel scales are (what makes DSQ worth it), and the outliers.
  const ChannelMaxima& m = s.row_max;
  float state_lo = s.state_max.empty() ? 0.0f : s.state_max.front(), state_hi = 0.0f;
  for (const float v : s.state_max) {
    state_lo = std::min(state_lo, v);
    state_hi = std::max(state_hi, v);
  }
  ImGui::PushFont(t.mono);
  ImGui::TextDisabled("channel scale: mean %s  max %s (%s × mean)  CV %s     state scale: %s … %s",
                      num(m.mean).c_str(), num(m.max).c_str(), fmt("%.1f", m.mean > 0 ? m.max / m.mean : 0).c_str(),
                      fmt("%.2f", m.mean > 0 ? m.std / m.mean : 0).c_str(), num(state_lo).c_str(), num(state_hi).c_str());
  char count[64];
  std::snprintf(count, sizeof count, "%zu outlier channel%s beyond mean + 6σ", m.outliers.size(),
                m.outliers.size() == 1 ? "" : "s");
  if (fits_on_row(ImGui::CalcTextSize(count).x + 24.0f, right)) ImGui::SameLine(0.0f, 24.0f);
  ImGui::TextColored(ImGui::ColorConvertU32ToFloat4(im_colour(m.outliers.empty() ? Palette::text_dim : kOutlier)), "%s",
                     count);
  ImGui::PopFont();
}

//-------------------------------------------------------------------------------------------------
// [SECTION] Channel margin: each channel's absmax over its states
//-------------------------------------------------------------------------------------------------

plot::Axis channel_margin_y(const StateMaps& s) {
  const ChannelMaxima& m = s.row_max;
  const double top = std::max({static_cast<double>(m.max), m.threshold, 1e-12}) * 1.1;
  return plot::Axis{0.0, top, plot::Scale::Linear, "", false, theme().mono->FontSize * 1.6f};
}

plot::Axis map_y(const StateMaps& s) {
  const double n = static_cast<double>(s.states);
  return plot::Axis{n - 0.5, -0.5, plot::Scale::Linear, "state n", true, theme().mono->FontSize * 1.3f};
}

void draw_channel_margin(const StateMaps& s, const plot::Axis& x, ImVec2 pos, ImVec2 size, float left) {
  const ChannelMaxima& m = s.row_max;
  plot::Axis no_label = x;
  no_label.label.clear();
  ImDrawList* dl = ImGui::GetWindowDrawList();
  const plot::Frame f = plot::frame(dl, pos, size, no_label, channel_margin_y(s), left);
  dl->PushClipRect(f.min, f.max, true);
  plot::bars(f, m.absmax.data(), static_cast<int>(m.absmax.size()), im_colour(Palette::state, 0.9f));
  std::vector<int> outliers;
  for (const OutlierChannel& o : m.outliers) outliers.push_back(o.channel);
  plot::bars_at(f, m.absmax.data(), outliers, im_colour(kOutlier));
  plot::hline(f, m.mean, im_colour(kMean), 1.2f);
  plot::hline(f, m.threshold, im_colour(kOutlier, 0.9f), 1.2f, true);
  // The label sits at the right unless an outlier bar stands under it; then at the left.
  const std::string text = "channel scale  ·  mean + 6σ = " + num(m.threshold);
  const float label_left = f.max.x - plot::line_label_width(text);
  bool crowded = false;
  for (const OutlierChannel& o : m.outliers) crowded |= f.to_x(o.channel + 0.5) >= label_left && f.to_x(o.channel - 0.5) <= f.max.x;
  plot::line_label(f, m.threshold, im_colour(kOutlier), text, crowded);
  dl->PopClipRect();
}

//-------------------------------------------------------------------------------------------------
// [SECTION] Map: the [channel × state] heatmap, heads, hover
//-------------------------------------------------------------------------------------------------

// Returns the hovered (row, state), or (-1, -1).
std::pair<int, int> draw_map(const StateMaps& s, ViewState& state, const plot::Axis& x, const plot::Axis& scale,
                             ImVec2 pos, ImVec2 size, float left, plot::Frame& out) {
  const int rows = static_cast<int>(s.rows), n = static_cast<int>(s.states);
  // State index runs down the map (0 at the top), every state labelled that has room.
  ImDrawList* dl = ImGui::GetWindowDrawList();
  const plot::Frame f = plot::frame(dl, pos, size, x, map_y(s), left);
  out = f;
  dl->PushClipRect(f.min, f.max, true);
  // The snapshot holds [rows, N] and the map shows rows along x: drawn transposed, not copied.
  plot::heatmap_values(f, values_of(s, state.statistic).data(), n, rows, scale, /*transposed=*/true);
  // Mamba-2: head boundaries, when heads are wide enough on screen to be told apart.
  if (s.head_dim > 0 && f.to_x(static_cast<double>(s.head_dim)) - f.to_x(0.0) >= 12.0f)
    for (int64_t h = 1; h < s.rows / s.head_dim; ++h) {
      const float px = f.to_x(h * s.head_dim - 0.5);
      dl->AddLine(ImVec2(px, f.min.y), ImVec2(px, f.max.y), im_colour(Palette::background, 0.8f), 1.5f);
    }
  dl->PopClipRect();

  plot::zoom_pan_x(f, "state_map", state.zoom, std::min(1.0, 8.0 / std::max(rows, 1)));
  const ImVec2 mouse = ImGui::GetIO().MousePos;
  if (!f.contains(mouse) || !ImGui::IsWindowHovered()) return {-1, -1};
  const int row = static_cast<int>(std::floor(f.from_x(mouse.x) + 0.5));
  const int k = std::clamp(static_cast<int>((mouse.y - f.min.y) / (f.max.y - f.min.y) * n), 0, n - 1);
  if (row < 0 || row >= rows) return {-1, -1};
  const float x0 = f.to_x(row - 0.5), x1 = f.to_x(row + 0.5);
  const float row_h = (f.max.y - f.min.y) / n;
  dl->AddRect(ImVec2(std::min(x0, x1 - 3.0f), f.min.y + k * row_h), ImVec2(std::max(x1, x0 + 3.0f), f.min.y + (k + 1) * row_h),
              im_colour(Palette::selection), 0.0f, 0, 1.5f);
  return {row, k};
}

void draw_tooltip(const StateMaps& s, int row, int k) {
  const std::size_t i = static_cast<std::size_t>(row) * static_cast<std::size_t>(s.states) + static_cast<std::size_t>(k);
  const ChannelMaxima& m = s.row_max;
  const float channel = m.absmax[static_cast<std::size_t>(row)];
  ImGui::BeginTooltip();
  ImGui::Text("%s  ·  state %d", channel_name(s, row).c_str(), k);
  ImGui::PushFont(theme().mono);
  ImGui::Text("absmax    %.6g", s.absmax[i]);
  ImGui::Text("mean |s|  %.6g", s.mean_abs[i]);
  ImGui::Text("channel scale  %.6g  (%.2f × mean)", channel, m.mean > 0 ? channel / m.mean : 0.0);
  ImGui::Text("state scale    %.6g", s.state_max[static_cast<std::size_t>(k)]);
  ImGui::PopFont();
  if (channel > m.threshold)
    ImGui::TextColored(ImGui::ColorConvertU32ToFloat4(im_colour(kOutlier)), "outlier channel (beyond mean + 6σ)");
  ImGui::TextDisabled("wheel: zoom channels · drag: pan · double-click: reset");
  ImGui::EndTooltip();
}

//-------------------------------------------------------------------------------------------------
// [SECTION] State margin: each state's absmax over the channels
//-------------------------------------------------------------------------------------------------

void draw_state_margin(const StateMaps& s, const plot::Frame& map, ImVec2 pos, float width) {
  const Theme t = theme();
  ImDrawList* dl = ImGui::GetWindowDrawList();
  const ImVec2 min(pos.x, map.min.y), max(pos.x + width, map.max.y);
  dl->AddRectFilled(min, max, im_colour(Palette::panel));
  float hi = 0.0f;
  for (const float v : s.state_max) hi = std::max(hi, v);
  const int n = static_cast<int>(s.states);
  const float row_h = (max.y - min.y) / std::max(n, 1);
  for (int k = 0; k < n; ++k) {
    const float w = hi > 0.0f ? (max.x - min.x - 4.0f) * s.state_max[static_cast<std::size_t>(k)] / hi : 0.0f;
    const float gap = row_h >= 5.0f ? 1.0f : 0.0f;
    dl->AddRectFilled(ImVec2(min.x, std::floor(min.y + k * row_h) + gap * 0.5f),
                      ImVec2(min.x + w, std::floor(min.y + (k + 1) * row_h) - gap * 0.5f), im_colour(Palette::state, 0.9f));
  }
  dl->AddLine(ImVec2(min.x, min.y), ImVec2(min.x, max.y), im_colour(Palette::arrow));
  // Labels: the scale's maximum at the bottom right, the title under the margin.
  const std::string top = num(hi);
  dl->AddText(t.mono, t.mono->FontSize, ImVec2(min.x + 2.0f, max.y + 6.0f), im_colour(Palette::text_dim), "0");
  const float tw = t.mono->CalcTextSizeA(t.mono->FontSize, 1e9f, 0.0f, top.c_str()).x;
  dl->AddText(t.mono, t.mono->FontSize, ImVec2(max.x - tw, max.y + 6.0f), im_colour(Palette::text_dim), top.c_str());
  dl->AddText(t.body, t.body->FontSize, ImVec2(min.x, max.y + t.mono->FontSize * 1.5f + 2.0f), im_colour(Palette::text),
              "state scale");
}

}  // namespace

//-------------------------------------------------------------------------------------------------
// [SECTION] Entry point
//-------------------------------------------------------------------------------------------------

void draw(const StatsSnapshot& stats, ViewState& state, const Sequence& sequence) {
  if (stats.states.empty()) {
    ImGui::TextDisabled("This statistics file has no state statistics (layers.{i}.ssm.state).");
    return;
  }
  const int n_layers = static_cast<int>(stats.states.size());
  state.layer = std::clamp(state.layer, 0, n_layers - 1);
  draw_header(stats, stats.states[static_cast<std::size_t>(state.layer)], state);
  state.layer = std::clamp(state.layer, 0, n_layers - 1);  // the header's buttons may have moved it
  const StateMaps& s = stats.states[static_cast<std::size_t>(state.layer)];
  if (state.sequence) {
    ImGui::Spacing();
    draw_sequence(sequence, state);
    return;
  }

  ImGui::Spacing();
  const ImVec2 origin = ImGui::GetCursorScreenPos();
  const ImVec2 avail = ImGui::GetContentRegionAvail();
  const float legend_w = 96.0f, margin_w = 110.0f, gap = 14.0f;
  const float map_w = std::max(avail.x - legend_w - margin_w - gap, 200.0f);
  const float margin_h = std::clamp(avail.y * 0.26f, 90.0f, 200.0f);

  const plot::Axis channels{-0.5, static_cast<double>(s.rows) - 0.5, plot::Scale::Linear,
                            s.head_dim > 0 ? "head · dim (row = head × P + dim)" : "channel", true};
  const plot::Axis x = plot::zoomed(channels, state.zoom);
  const plot::Axis scale = colour_scale(s, state);

  // The channel margin and the map share their channel axis: one left margin lines them up.
  const float map_h = std::max(avail.y - margin_h - 4.0f, 120.0f);
  const float left = std::max(plot::left_margin(channel_margin_y(s), margin_h), plot::left_margin(map_y(s), map_h));
  draw_channel_margin(s, x, origin, ImVec2(map_w, margin_h), left);
  plot::Frame map;
  const auto [row, k] = draw_map(s, state, x, scale, ImVec2(origin.x, origin.y + margin_h + 4.0f), ImVec2(map_w, map_h),
                                 left, map);
  draw_state_margin(s, map, ImVec2(map.max.x + gap, origin.y), margin_w - 8.0f);
  const char* label = state.statistic == Statistic::Absmax ? "absmax" : "mean |s|";
  plot::colour_legend(ImGui::GetWindowDrawList(), ImVec2(origin.x + avail.x - legend_w + 10.0f, map.min.y - 24.0f),
                      ImVec2(legend_w - 10.0f, map.max.y - map.min.y + 24.0f), label, scale);
  if (row >= 0) draw_tooltip(s, row, k);
  ImGui::SetCursorScreenPos(origin);
  ImGui::Dummy(avail);
}

}  // namespace ms::views::state_heatmap
