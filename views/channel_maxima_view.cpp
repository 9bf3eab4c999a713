// Channel-maxima view (see channel_maxima_view.h).
//
// [SECTION] Colours and text helpers
// [SECTION] Header: point, layer navigation, scale, summary
// [SECTION] Channel plot: bars, mean, threshold band, outliers, hover
// [SECTION] Outlier list
// [SECTION] All-layers heatmap
// [SECTION] Entry point
#include "views/channel_maxima_view.h"

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

#include <imgui.h>

#include "views/plot.h"
#include "views/tables.h"
#include "views/text_format.h"
#include "views/theme.h"

namespace ms::views::channel_maxima {
namespace {

//-------------------------------------------------------------------------------------------------
// [SECTION] Colours and text helpers
//-------------------------------------------------------------------------------------------------

// Okabe–Ito vermillion against the activation teal: apart for every common colour-vision deficiency.
constexpr uint32_t kOutlier = 0xFFE8612C;
constexpr uint32_t kMean = 0xFFDFE1E5;

std::string point_label(Module m) { return std::string(module_name(m)) + ".input"; }

//-------------------------------------------------------------------------------------------------
// [SECTION] Header: point, layer navigation, scale, summary
//-------------------------------------------------------------------------------------------------

void draw_header(const StatsSnapshot& stats, const PointSeries& series, ViewState& state) {
  const Theme t = theme();
  const int n_layers = static_cast<int>(stats.n_layers);
  const ChannelMaxima& m = series.layers[static_cast<std::size_t>(state.layer)];

  const ImGuiStyle& style = ImGui::GetStyle();
  const float right = ImGui::GetWindowContentRegionMax().x;
  const float button_w = ImGui::CalcTextSize("◀  Previous").x + style.FramePadding.x * 2.0f;
  const float buttons_left = right - 2.0f * button_w - style.ItemSpacing.x;

  // First row: title, the point and layer (each only when it fits before the buttons), navigation.
  ImGui::PushFont(t.title);
  ImGui::Text("Channel maxima");
  ImGui::PopFont();
  const std::string name = m.point.str();
  ImGui::PushFont(t.mono);
  const bool name_fits = fits_on_row(ImGui::CalcTextSize(name.c_str()).x, buttons_left - 12.0f);
  if (name_fits) {
    ImGui::SameLine();
    ImGui::AlignTextToFramePadding();
    ImGui::TextUnformatted(name.c_str());
  }
  ImGui::PopFont();
  char where[96];
  std::snprintf(where, sizeof where, "·  %lld channels  ·  layer %d of %d", static_cast<long long>(series.channels),
                state.layer, n_layers);
  if (name_fits && fits_on_row(ImGui::CalcTextSize(where).x, buttons_left - 12.0f)) {
    ImGui::SameLine();
    ImGui::TextDisabled("%s", where);
  }
  ImGui::SameLine(buttons_left);
  layer_stepper(state.layer, state.user_changed, n_layers, button_w);

  // Second row: which point and the y scale (wrapping on narrow canvases), then where the numbers
  // came from when there is room.
  const float box = ImGui::GetFrameHeight() + style.ItemInnerSpacing.x;
  ImGui::AlignTextToFramePadding();
  ImGui::TextDisabled("Point");
  for (const PointSeries& s : stats.series) {
    const std::string label = point_label(s.module);
    if (fits_on_row(box + ImGui::CalcTextSize(label.c_str()).x, right)) ImGui::SameLine();
    if (ImGui::RadioButton(label.c_str(), state.module == s.module) && state.module != s.module) {
      state.module = s.module;
      state.user_changed = true;
    }
  }
  if (fits_on_row(box + ImGui::CalcTextSize("Log scale").x + 28.0f, right)) ImGui::SameLine(0.0f, 28.0f);
  ImGui::Checkbox("Log scale", &state.log_scale);
  if (stats.tokens > 0) {
    const std::string source = thousands(stats.tokens) + " calibration tokens";
    const float w = ImGui::CalcTextSize(source.c_str()).x;
    if (fits_on_row(w + 24.0f, right)) {
      ImGui::SameLine(right - w);
      ImGui::TextDisabled("%s", source.c_str());
    }
  }

  // Third row: the numbers the plot draws; the outlier count wraps below when it does not fit.
  const double share = 100.0 * static_cast<double>(m.outliers.size()) / static_cast<double>(series.channels);
  ImGui::PushFont(t.mono);
  ImGui::TextDisabled("mean %s   σ %s   mean + 6σ = %s   max %s (%s × mean)", num(m.mean).c_str(), num(m.std).c_str(),
                      num(m.threshold).c_str(), num(m.max).c_str(), fmt("%.1f", m.mean > 0 ? m.max / m.mean : 0).c_str());
  char count[64];
  std::snprintf(count, sizeof count, "%zu outlier channel%s (%.2g %%)", m.outliers.size(),
                m.outliers.size() == 1 ? "" : "s", share);
  if (fits_on_row(ImGui::CalcTextSize(count).x + 24.0f, right)) ImGui::SameLine(0.0f, 24.0f);
  const ImVec4 colour = ImGui::ColorConvertU32ToFloat4(im_colour(m.outliers.empty() ? Palette::text_dim : kOutlier));
  ImGui::TextColored(colour, "%s", count);
  ImGui::PopFont();
}

//-------------------------------------------------------------------------------------------------
// [SECTION] Channel plot: bars, mean, threshold band, outliers, hover
//-------------------------------------------------------------------------------------------------

void draw_channel_plot(const ChannelMaxima& m, const ViewState& state, ImVec2 pos, ImVec2 size) {
  const int n = static_cast<int>(m.absmax.size());
  plot::Axis x{-0.5, n - 0.5, plot::Scale::Linear, "channel", true};
  // The threshold always shows (how far below it the channels stay is the point of the band), with
  // headroom above the tallest bar for its channel label.
  const double top = std::max({static_cast<double>(m.max), m.threshold, 1e-12});
  plot::Axis y{0.0, top * 1.12, plot::Scale::Linear, "absmax", false};
  if (state.log_scale) {
    float lo = m.max;
    for (const float v : m.absmax)
      if (v > 0.0f) lo = std::min(lo, v);
    y.scale = plot::Scale::Log;
    y.min = std::pow(10.0, std::floor(std::log10(std::max(lo, 1e-12f))));
    y.max = top * 1.8;
  }
  ImDrawList* dl = ImGui::GetWindowDrawList();
  const plot::Frame f = plot::frame(dl, pos, size, x, y);

  dl->PushClipRect(f.min, f.max, true);
  plot::band(f, m.mean, m.threshold, im_colour(Palette::text_dim, 0.10f));
  plot::bars(f, m.absmax.data(), n, im_colour(Palette::activation, 0.85f));
  std::vector<int> outliers;
  for (const OutlierChannel& o : m.outliers) outliers.push_back(o.channel);
  plot::bars_at(f, m.absmax.data(), outliers, im_colour(kOutlier));
  plot::hline(f, m.mean, im_colour(kMean), 1.5f);
  plot::hline(f, m.threshold, im_colour(kOutlier, 0.9f), 1.5f, true);
  // Name the largest outliers above their bars (the list has them all); skip a label that
  // would overlap one already placed.
  std::vector<std::pair<float, float>> placed;
  ImFont* mono = theme().mono;
  for (std::size_t i = 0; i < m.outliers.size() && i < 8; ++i) {
    const OutlierChannel& o = m.outliers[i];
    const std::string text = std::to_string(o.channel);
    const ImVec2 ts = mono->CalcTextSizeA(mono->FontSize, FLT_MAX, 0.0f, text.c_str());
    const float cx = (f.to_x(o.channel - 0.5) + f.to_x(o.channel + 0.5)) * 0.5f;
    const float x0 = std::clamp(cx - ts.x * 0.5f, f.min.x + 2.0f, f.max.x - ts.x - 2.0f);
    const float y0 = std::max(f.to_y(o.absmax) - ts.y - 3.0f, f.min.y + 1.0f);
    bool overlaps = false;
    for (const auto& [px, pw] : placed) overlaps |= x0 < px + pw + 6.0f && px < x0 + ts.x + 6.0f;
    if (overlaps) continue;
    placed.emplace_back(x0, ts.x);
    dl->AddText(mono, mono->FontSize, ImVec2(x0, y0), im_colour(kOutlier), text.c_str());
  }
  // Line labels sit at the right unless an outlier bar stands there; then at the left.
  const std::string threshold_text = "mean + 6σ = " + num(m.threshold), mean_text = "mean = " + num(m.mean);
  const float label_left = f.max.x - std::max(plot::line_label_width(threshold_text), plot::line_label_width(mean_text));
  bool crowded = false;
  for (const OutlierChannel& o : m.outliers) crowded |= f.to_x(o.channel + 0.5) >= label_left;
  plot::line_label(f, m.threshold, im_colour(kOutlier), threshold_text, crowded);
  plot::line_label(f, m.mean, im_colour(kMean), mean_text, crowded);

  const int hovered = plot::hover_index(f, n);
  if (hovered >= 0) {
    const float cx = (f.to_x(hovered - 0.5) + f.to_x(hovered + 0.5)) * 0.5f;
    dl->AddLine(ImVec2(cx, f.min.y), ImVec2(cx, f.max.y), im_colour(Palette::selection, 0.7f), 1.0f);
  }
  dl->PopClipRect();

  if (hovered >= 0) {
    const float v = m.absmax[static_cast<std::size_t>(hovered)];
    const bool outlier = v > m.threshold;
    ImGui::BeginTooltip();
    ImGui::Text("channel %d", hovered);
    ImGui::Text("absmax  %s", num(v).c_str());
    ImGui::Text("%.2f × layer mean   %+.1f σ", m.mean > 0 ? v / m.mean : 0.0, m.std > 0 ? (v - m.mean) / m.std : 0.0);
    if (outlier)
      ImGui::TextColored(ImGui::ColorConvertU32ToFloat4(im_colour(kOutlier)), "outlier (beyond mean + 6σ)");
    ImGui::EndTooltip();
  }
  // The plot takes its room in the layout so the next widgets flow below it.
  ImGui::SetCursorScreenPos(pos);
  ImGui::Dummy(size);
}

//-------------------------------------------------------------------------------------------------
// [SECTION] Outlier list
//-------------------------------------------------------------------------------------------------

void draw_outlier_list(const ChannelMaxima& m, ImVec2 size) {
  const Theme t = theme();
  ImGui::PushStyleVar(ImGuiStyleVar_ChildRounding, 6.0f);
  ImGui::PushStyleVar(ImGuiStyleVar_WindowPadding, ImVec2(12.0f, 10.0f));
  ImGui::BeginChild("outliers", size, false, ImGuiWindowFlags_AlwaysUseWindowPadding);
  ImGui::TextUnformatted("Outlier channels");
  ImGui::PushTextWrapPos(0.0f);
  ImGui::TextDisabled("absmax beyond mean + 6σ of layer %d, largest first", m.point.layer);
  ImGui::PopTextWrapPos();
  ImGui::Spacing();
  if (m.outliers.empty()) {
    ImGui::PushTextWrapPos(0.0f);
    ImGui::TextDisabled("None: no channel lies beyond six standard deviations of the layer mean.");
    ImGui::PopTextWrapPos();
  } else {
    // The rows File › Export Table as CSV writes (views/tables.h); the point is in the header.
    const Table table = outlier_table(m);
    const ImGuiTableFlags flags = ImGuiTableFlags_RowBg | ImGuiTableFlags_BordersInnerH |
                                  ImGuiTableFlags_SizingStretchProp | ImGuiTableFlags_ScrollY;
    if (ImGui::BeginTable("outlier_table", 3, flags)) {
      ImGui::TableSetupScrollFreeze(0, 1);
      ImGui::TableSetupColumn(table.columns[1].name.c_str(), ImGuiTableColumnFlags_WidthStretch, 1.0f);
      ImGui::TableSetupColumn(table.columns[2].name.c_str(), ImGuiTableColumnFlags_WidthStretch, 1.1f);
      ImGui::TableSetupColumn(table.columns[3].name.c_str(), ImGuiTableColumnFlags_WidthStretch, 0.9f);
      ImGui::TableHeadersRow();
      ImGui::PushFont(t.mono);
      for (const TableRow& row : table.rows) {
        ImGui::PushID(row.cells[1].exact.c_str());  // the channel is the row's identity, not its rank
        ImGui::TableNextRow();
        ImGui::TableNextColumn();
        ImGui::TextColored(ImGui::ColorConvertU32ToFloat4(im_colour(kOutlier)), "%s", row.cells[1].shown.c_str());
        ImGui::TableNextColumn();
        ImGui::TextUnformatted(row.cells[2].shown.c_str());
        ImGui::TableNextColumn();
        ImGui::TextUnformatted(row.cells[3].shown.c_str());
        ImGui::PopID();
      }
      ImGui::PopFont();
      ImGui::EndTable();
    }
  }
  ImGui::EndChild();
  ImGui::PopStyleVar(2);
}

//-------------------------------------------------------------------------------------------------
// [SECTION] All-layers heatmap
//-------------------------------------------------------------------------------------------------

void draw_heatmap(const StatsSnapshot& stats, const PointSeries& series, ViewState& state, ImVec2 pos, ImVec2 size) {
  const Theme t = theme();
  ImDrawList* dl = ImGui::GetWindowDrawList();
  const int rows = static_cast<int>(stats.n_layers), cols = static_cast<int>(series.columns);
  const std::string title = "All layers: channel absmax ÷ layer max  (" + point_label(series.module) + ")";
  dl->AddText(t.body, t.body->FontSize, pos, im_colour(Palette::text), title.c_str());
  const float title_h = t.body->FontSize + 6.0f;
  const float legend_w = 76.0f;

  const double per = static_cast<double>(series.channels_per_column);
  plot::Axis x{-0.5, static_cast<double>(series.channels) - 0.5, plot::Scale::Linear, "channel", true};
  // Rows top to bottom: the axis runs from the last layer (bottom) to layer 0 (top).
  // Rows are few and each is a target: label every one that has room.
  plot::Axis y{rows - 0.5, -0.5, plot::Scale::Linear, "layer", true, t.mono->FontSize * 1.3f};
  const ImVec2 plot_pos(pos.x, pos.y + title_h);
  const ImVec2 plot_size(size.x - legend_w, size.y - title_h);
  const plot::Frame f = plot::frame(dl, plot_pos, plot_size, x, y);
  plot::heatmap(f, series.heatmap.data(), rows, cols);
  plot::colour_legend(dl, ImVec2(pos.x + size.x - legend_w + 14.0f, plot_pos.y), ImVec2(legend_w - 14.0f, f.max.y - plot_pos.y),
                      "÷ max");

  const float row_h = (f.max.y - f.min.y) / std::max(rows, 1);
  const ImVec2 a(f.min.x - 1.0f, std::floor(f.min.y + state.layer * row_h) - 1.0f);
  dl->AddRect(a, ImVec2(f.max.x + 1.0f, std::floor(f.min.y + (state.layer + 1) * row_h) + 1.0f),
              im_colour(Palette::selection), 0.0f, 0, 2.0f);

  const ImVec2 mouse = ImGui::GetIO().MousePos;
  if (f.contains(mouse) && ImGui::IsWindowHovered()) {
    const int row = std::clamp(static_cast<int>((mouse.y - f.min.y) / row_h), 0, rows - 1);
    const int col = std::clamp(static_cast<int>((mouse.x - f.min.x) / (f.max.x - f.min.x) * cols), 0, cols - 1);
    const float v = series.heatmap[static_cast<std::size_t>(row) * cols + col];
    if (row != state.layer)
      dl->AddRect(ImVec2(f.min.x, std::floor(f.min.y + row * row_h)), ImVec2(f.max.x, std::floor(f.min.y + (row + 1) * row_h)),
                  im_colour(Palette::text, 0.6f), 0.0f, 0, 1.0f);
    ImGui::BeginTooltip();
    const long long c0 = static_cast<long long>(col * per);
    const long long c1 = std::min<long long>(static_cast<long long>((col + 1) * per), series.channels) - 1;
    if (c0 == c1) ImGui::Text("layer %d  ·  channel %lld", row, c0);
    else ImGui::Text("layer %d  ·  channels %lld–%lld (max)", row, c0, c1);
    ImGui::Text("%.3f of the layer max", v);
    ImGui::TextDisabled("click to show this layer");
    ImGui::EndTooltip();
    if (ImGui::IsMouseClicked(ImGuiMouseButton_Left) && row != state.layer) {
      state.layer = row;
      state.user_changed = true;
    }
  }
  ImGui::SetCursorScreenPos(pos);
  ImGui::Dummy(size);
}

}  // namespace

//-------------------------------------------------------------------------------------------------
// [SECTION] Entry point
//-------------------------------------------------------------------------------------------------

void draw(const StatsSnapshot& stats, ViewState& state) {
  if (stats.series.empty() || stats.n_layers < 1) {
    ImGui::TextDisabled("This statistics file has no activation points.");
    return;
  }
  state.layer = std::clamp(state.layer, 0, static_cast<int>(stats.n_layers) - 1);
  if (!stats.find(state.module)) state.module = stats.series.front().module;
  draw_header(stats, *stats.find(state.module), state);
  // The header's buttons may have changed layer or point: draw what they chose.
  state.layer = std::clamp(state.layer, 0, static_cast<int>(stats.n_layers) - 1);
  const PointSeries& series = *stats.find(state.module);
  const ChannelMaxima& m = series.layers[static_cast<std::size_t>(state.layer)];

  ImGui::Spacing();
  const ImVec2 origin = ImGui::GetCursorScreenPos();
  const ImVec2 avail = ImGui::GetContentRegionAvail();
  const float gap = 18.0f;
  const float list_w = std::clamp(avail.x * 0.22f, 220.0f, 300.0f);
  const float top_h = std::max(avail.y * 0.56f, 160.0f);
  draw_channel_plot(m, state, origin, ImVec2(avail.x - list_w - gap, top_h));
  ImGui::SetCursorScreenPos(ImVec2(origin.x + avail.x - list_w, origin.y));
  draw_outlier_list(m, ImVec2(list_w, top_h));
  const ImVec2 heat_pos(origin.x, origin.y + top_h + gap);
  draw_heatmap(stats, series, state, heat_pos, ImVec2(avail.x, std::max(avail.y - top_h - gap, 120.0f)));
}

}  // namespace ms::views::channel_maxima
