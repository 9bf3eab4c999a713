// Error view (see error_view.h).
//
// [SECTION] Helpers
// [SECTION] Header: setting and end-to-end numbers
// [SECTION] SQNR bars (per layer, per point, per point at the selected token)
// [SECTION] Table of points and weights
// [SECTION] A/B mode: legend, metrics, bars and table of two schemes
// [SECTION] Tokens coloured by KL
// [SECTION] Entry point
#include "views/error_view.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <string>

#include <imgui.h>

#include "views/error_ab.h"
#include "views/plot.h"
#include "views/tables.h"
#include "views/text_format.h"
#include "views/theme.h"

namespace ms::views::error {
namespace {

//-------------------------------------------------------------------------------------------------
// [SECTION] Helpers
//-------------------------------------------------------------------------------------------------

constexpr uint32_t kExact = 0xFF5A6068;  // grey: exact (SQNR +inf), drawn full height
constexpr uint32_t kSelected = Palette::selection;
// SQNR above this reads as "harmless" and is drawn at the top: keeps a W16 layer's huge (but
// finite) values from squashing the interesting ones. 100 dB lies above W15's ~90 dB (about 6 dB a
// bit), so every width the sliders reach still draws a bar of its own height.
constexpr double kSqnrCap = 100.0;

std::string db_text(double v) {
  if (std::isinf(v)) return v > 0 ? "exact" : "-inf";
  return fmt("%.1f dB", v);
}

double shown_db(double v) { return std::isinf(v) ? (v > 0 ? kSqnrCap : 0.0) : std::clamp(v, -10.0, kSqnrCap); }

uint32_t point_colour(bool state) { return state ? Palette::state : Palette::activation; }

struct Bar {
  double value;       // dB (may be inf)
  uint32_t colour;    // 0xAARRGGBB
  std::string label;  // tooltip title
};

// Groups of bars side by side at x = 0..groups-1.
// `layer_of` (optional, one per group): groups of the same layer share a band, every other band
// shaded and numbered, so per-point bars read layer by layer.
void draw_bar_groups(const std::vector<std::vector<Bar>>& groups, const std::string& x_label, ImVec2 pos,
                     ImVec2 size, const std::vector<int>& layer_of = {}) {
  ImDrawList* dl = ImGui::GetWindowDrawList();
  const int n = static_cast<int>(groups.size());
  // y from the lowest value (or 0) to 10 dB above the highest finite one, at most the cap: the
  // differences that matter stay readable, and exact bars reach the top.
  double lo = 0.0, hi = 10.0;
  for (const auto& g : groups)
    for (const Bar& b : g) {
      lo = std::min(lo, shown_db(b.value));
      if (std::isfinite(b.value)) hi = std::max(hi, shown_db(b.value));
    }
  hi = std::min(kSqnrCap, std::ceil(hi / 10.0) * 10.0 + 10.0);
  plot::Axis x{-0.5, n - 0.5, plot::Scale::Linear, x_label, true};
  plot::Axis y{std::floor(lo / 10.0) * 10.0, hi, plot::Scale::Linear, "SQNR (dB, higher is better)"};
  const plot::Frame f = plot::frame(dl, pos, size, x, y);
  const float slot = (f.max.x - f.min.x) / std::max(1, n);
  if (static_cast<int>(layer_of.size()) == n) {
    ImFont* font = theme().mono;
    for (int i = 0; i < n;) {
      int j = i;
      while (j < n && layer_of[static_cast<size_t>(j)] == layer_of[static_cast<size_t>(i)]) ++j;
      const float x0 = f.min.x + slot * i, x1 = f.min.x + slot * j;
      if (layer_of[static_cast<size_t>(i)] % 2 == 1) dl->AddRectFilled(ImVec2(x0, f.min.y), ImVec2(x1, f.max.y), im_colour(Palette::grid, 0.45f));
      const std::string label = "L" + std::to_string(layer_of[static_cast<size_t>(i)]);
      dl->AddText(font, font->FontSize, ImVec2(x0 + 3.0f, f.min.y + 2.0f), im_colour(Palette::text_dim), label.c_str());
      i = j;
    }
  }
  const ImVec2 mouse = ImGui::GetIO().MousePos;
  const Bar* hovered = nullptr;
  for (int i = 0; i < n; ++i) {
    const auto& g = groups[static_cast<size_t>(i)];
    const float inner = slot * 0.8f, w = inner / std::max<size_t>(1, g.size());
    for (size_t k = 0; k < g.size(); ++k) {
      const Bar& b = g[k];
      const float x0 = f.min.x + slot * i + slot * 0.1f + w * k, x1 = x0 + std::max(1.0f, w - 1.0f);
      const bool exact = std::isinf(b.value) && b.value > 0;
      const float y0 = f.to_y(exact ? hi : std::min(hi, shown_db(b.value))), y1 = f.to_y(std::max(0.0, y.min));
      dl->AddRectFilled(ImVec2(x0, std::min(y0, y1)), ImVec2(x1, std::max(y0, y1)), im_colour(exact ? kExact : b.colour));
      if (exact) dl->AddText(theme().mono, theme().mono->FontSize, ImVec2(x0 + 2.0f, y0 + 2.0f), im_colour(Palette::text), "=");
      if (mouse.x >= x0 && mouse.x < x1 && mouse.y >= f.min.y && mouse.y < f.max.y) hovered = &b;
    }
  }
  if (hovered && ImGui::IsWindowHovered()) {
    ImGui::BeginTooltip();
    ImGui::TextUnformatted(hovered->label.c_str());
    ImGui::Text("SQNR %s", db_text(hovered->value).c_str());
    ImGui::EndTooltip();
  }
}

//-------------------------------------------------------------------------------------------------
// [SECTION] Header: setting and end-to-end numbers
//-------------------------------------------------------------------------------------------------

void draw_header(const Snapshot& s, ViewState& state) {
  const Theme t = theme();
  const float right = ImGui::GetWindowContentRegionMax().x;
  ImGui::PushFont(t.title);
  ImGui::Text("Error");
  ImGui::PopFont();
  ImGui::SameLine();
  ImGui::AlignTextToFramePadding();
  ImGui::TextUnformatted(s.setting.c_str());
  if (fits_on_row(ImGui::CalcTextSize(s.status.c_str()).x + 24.0f, right)) ImGui::SameLine(0.0f, 24.0f);
  ImGui::TextDisabled("%s", s.status.c_str());

  ImGui::PushFont(t.mono);
  const std::string kl = "KL(float ‖ quantized) per token: mean " + num(s.kl_mean) + "  p90 " + num(s.kl_p90) +
                         "  max " + num(s.kl_max) + " nats";
  const std::string top1 = "top-1 agreement " + fmt("%.2f", 100.0 * s.top1) + " %";
  const std::string ppl = "perplexity " + fmt("%.3f", s.ppl_float) + " → " + fmt("%.3f", s.ppl_quant);
  ImGui::TextUnformatted(kl.c_str());
  for (const std::string* part : {&top1, &ppl}) {
    if (fits_on_row(ImGui::CalcTextSize(part->c_str()).x + 24.0f, right)) ImGui::SameLine(0.0f, 24.0f);
    ImGui::TextUnformatted(part->c_str());
  }
  ImGui::PopFont();

  ImGui::AlignTextToFramePadding();
  ImGui::TextDisabled("Bars");
  ImGui::SameLine();
  const bool token = state.selected_token >= 0 && !s.token_sqnr.empty();
  if (token) ImGui::BeginDisabled();
  if (ImGui::RadioButton("per layer", !state.per_point)) state.per_point = false;
  ImGui::SameLine();
  if (ImGui::RadioButton("per point", state.per_point)) state.per_point = true;
  if (token) ImGui::EndDisabled();
  if (token) {
    ImGui::SameLine(0.0f, 24.0f);
    const std::string& piece = s.pieces[static_cast<size_t>(state.selected_token)];
    ImGui::TextColored(ImGui::ColorConvertU32ToFloat4(im_colour(kSelected)), "token %d «%s»: each point's SQNR at this token",
                       state.selected_token, piece.c_str());
    ImGui::SameLine();
    if (ImGui::SmallButton("Whole batch")) state.selected_token = -1;
  } else {
    ImGui::SameLine(0.0f, 24.0f);
    ImGui::TextDisabled("Click a token below to see which layers hurt it.");
  }
}

//-------------------------------------------------------------------------------------------------
// [SECTION] SQNR bars (per layer, per point, per point at the selected token)
//-------------------------------------------------------------------------------------------------

void draw_bars(const Snapshot& s, const ViewState& state, ImVec2 pos, ImVec2 size) {
  std::vector<std::vector<Bar>> groups;
  const int tokens = s.windows * s.window_length;
  const bool token = state.selected_token >= 0 && !s.token_sqnr.empty() && state.selected_token < tokens;
  if (token || state.per_point) {
    std::vector<int> layer_of;
    for (size_t p = 0; p < s.points.size(); ++p) {
      const PointRow& r = s.points[p];
      layer_of.push_back(r.layer);
      const double v = token ? s.token_sqnr[p * static_cast<size_t>(tokens) + static_cast<size_t>(state.selected_token)]
                             : r.sqnr_db;
      groups.push_back({{v, point_colour(r.state), r.name}});
    }
    draw_bar_groups(groups, token ? "point index (layer by layer, forward order; teal: Linear inputs, violet: states) at the selected token"
                                  : "point index (layer by layer, forward order; teal: Linear inputs, violet: states)",
                    pos, size, layer_of);
    return;
  }
  for (size_t i = 0; i < s.layers.size(); ++i) {
    const LayerRow& l = s.layers[i];
    groups.push_back({{l.worst_point_db, Palette::activation, "layer " + std::to_string(i) + ": worst point " + l.worst_point},
                      {l.worst_weight_db, Palette::weight,
                       "layer " + std::to_string(i) + ": worst weight " + (l.worst_weight.empty() ? "(float)" : l.worst_weight)}});
  }
  draw_bar_groups(groups, "layer (teal: its worst activation or state point, blue: its worst weight; grey: exact)", pos, size);
}

//-------------------------------------------------------------------------------------------------
// [SECTION] Table of points and weights
//-------------------------------------------------------------------------------------------------

void draw_table(const Snapshot& s, ImVec2 size) {
  // The rows File › Export Table as CSV writes (views/tables.h); columns the colours already tell
  // (layer, kind) stay out of the view.
  const Table table = error_point_table(s);
  std::vector<std::size_t> shown;
  for (std::size_t c = 0; c < table.columns.size(); ++c)
    if (table.columns[c].in_view) shown.push_back(c);
  const ImGuiTableFlags flags = ImGuiTableFlags_ScrollY | ImGuiTableFlags_RowBg | ImGuiTableFlags_BordersInnerV |
                                ImGuiTableFlags_SizingStretchProp;
  if (!ImGui::BeginTable("##points", static_cast<int>(shown.size()), flags, size)) return;
  ImGui::TableSetupScrollFreeze(0, 1);
  for (const std::size_t c : shown)
    ImGui::TableSetupColumn(table.columns[c].name.c_str(), ImGuiTableColumnFlags_WidthStretch, c == 0 ? 3.0f : 1.2f);
  ImGui::TableHeadersRow();
  ImGui::PushFont(theme().mono);
  for (const TableRow& row : table.rows) {
    const uint32_t colour = row.tag == kWeightRow ? Palette::weight : point_colour(row.tag == kStateRow);
    ImGui::TableNextRow();
    for (const std::size_t c : shown) {
      ImGui::TableNextColumn();
      if (c == 0) ImGui::TextColored(ImGui::ColorConvertU32ToFloat4(im_colour(colour)), "%s", row.cells[c].shown.c_str());
      else ImGui::TextUnformatted(row.cells[c].shown.c_str());
    }
  }
  ImGui::PopFont();
  ImGui::EndTable();
}

//-------------------------------------------------------------------------------------------------
// [SECTION] A/B mode: legend, metrics, bars and table of two schemes
//-------------------------------------------------------------------------------------------------

// Blue and amber: the pair of the palette that stays apart under every common colour-vision
// deficiency. In A/B mode colour names the scheme; weights are the same colour, half opaque.
constexpr uint32_t kColourA = Palette::selection;  // amber
constexpr uint32_t kColourB = Palette::weight;     // blue
constexpr uint32_t kHalf = 0x80FFFFFF;             // alpha mask: a weight bar

const char* kSameBatch =
    "A and B answer the same cached batch of requant-serve (the same tokens, the same float run),\n"
    "so every difference between them is the schemes' own. Δ is always B − A.";

void swatch(uint32_t colour, const char* label) {
  const float h = ImGui::GetTextLineHeight();
  const ImVec2 p = ImGui::GetCursorScreenPos();
  ImGui::GetWindowDrawList()->AddRectFilled(ImVec2(p.x, p.y + h * 0.15f), ImVec2(p.x + h * 0.7f, p.y + h * 0.85f),
                                            im_colour(colour));
  ImGui::Dummy(ImVec2(h * 0.7f, h));
  ImGui::SameLine();
  ImGui::TextUnformatted(label);
}

void draw_ab_header(const Comparison& c, ViewState& state) {
  const Theme t = theme();
  const float right = ImGui::GetWindowContentRegionMax().x;
  ImGui::PushFont(t.title);
  ImGui::Text("Error  A/B");
  ImGui::PopFont();
  ImGui::SameLine(0.0f, 16.0f);
  ImGui::BeginGroup();
  swatch(kColourA, c.a_label.c_str());
  ImGui::SameLine(0.0f, 20.0f);
  swatch(kColourB, c.b_label.c_str());
  ImGui::SameLine(0.0f, 20.0f);
  ImGui::TextDisabled("(same cached batch)");
  ImGui::EndGroup();
  if (ImGui::IsItemHovered()) {
    ImGui::BeginTooltip();
    ImGui::TextUnformatted(kSameBatch);
    ImGui::Text("A: %s", c.a->setting.c_str());
    ImGui::Text("B: %s", c.b->setting.c_str());
    ImGui::EndTooltip();
  }
  if (fits_on_row(ImGui::CalcTextSize(c.b->status.c_str()).x + 24.0f, right)) ImGui::SameLine(0.0f, 24.0f);
  ImGui::TextDisabled("%s", c.b->status.c_str());

  // One line per end-to-end metric: A, B and B − A, and which side it favours.
  ImGui::PushFont(t.mono);
  for (const AbMetric& m : c.metrics) {
    const bool better = m.higher_is_better ? m.delta > 0 : m.delta < 0;
    ImGui::Text("%-24s A %10s   B %10s   Δ ", m.name.c_str(), fmt("%.4f", m.a).c_str(), fmt("%.4f", m.b).c_str());
    ImGui::SameLine(0.0f, 0.0f);
    // Said in words, not only in colour (amber and blue already name A and B).
    const std::string d = fmt("%+.4f", m.delta);
    if (m.delta == 0.0) ImGui::TextDisabled("%s  (equal)", d.c_str());
    else ImGui::Text("%s  %s", d.c_str(), better ? "(B better)" : "(B worse)");
    if (ImGui::IsItemHovered()) ImGui::SetTooltip("%s", kSameBatch);
  }
  ImGui::PopFont();

  ImGui::AlignTextToFramePadding();
  ImGui::TextDisabled("Bars");
  ImGui::SameLine();
  const bool token = state.selected_token >= 0;  // draw() keeps it only where both sides have per-token values
  if (token) ImGui::BeginDisabled();
  if (ImGui::RadioButton("per layer", !state.per_point)) state.per_point = false;
  ImGui::SameLine();
  if (ImGui::RadioButton("per point", state.per_point)) state.per_point = true;
  if (token) ImGui::EndDisabled();
  ImGui::SameLine(0.0f, 24.0f);
  if (token) {
    const std::string& piece = c.b->pieces[static_cast<size_t>(state.selected_token)];
    ImGui::TextColored(ImGui::ColorConvertU32ToFloat4(im_colour(kSelected)),
                       "token %d «%s»: each point's SQNR at this token under A and B, Δ = B − A", state.selected_token,
                       piece.c_str());
    ImGui::SameLine();
    if (ImGui::SmallButton("Whole batch")) state.selected_token = -1;
  } else {
    ImGui::TextDisabled("Click a token below to compare A and B at it; pin, swap and clear A in the Quantization dock.");
  }
}

std::string delta_db_text(double d) {
  if (std::isnan(d)) return "—";
  if (d == 0.0) return "=";
  if (std::isinf(d)) return d > 0 ? "+inf" : "-inf";
  return fmt("%+.1f dB", d);
}

void draw_ab_bars(const Comparison& c, const ViewState& state, ImVec2 pos, ImVec2 size) {
  std::vector<std::vector<Bar>> groups;
  if (state.selected_token >= 0) {  // one token: each point under A and B, Δ in the tooltip titles
    std::vector<int> layer_of;
    for (const AbTokenPoint& p : points_at_token(c, state.selected_token)) {
      layer_of.push_back(p.layer);
      const std::string delta = "  (Δ B − A " + delta_db_text(p.delta) + ")";
      groups.push_back({{p.a_db, kColourA, "A: " + p.name + delta}, {p.b_db, kColourB, "B: " + p.name + delta}});
    }
    draw_bar_groups(groups, "point index at the selected token (layer by layer, forward order; amber: A, blue: B)", pos, size,
                    layer_of);
    return;
  }
  if (state.per_point) {
    std::vector<int> layer_of;
    for (const AbPoint& p : c.points) {
      layer_of.push_back(p.layer);
      groups.push_back({{p.a_db, kColourA, "A: " + p.name}, {p.b_db, kColourB, "B: " + p.name}});
    }
    draw_bar_groups(groups, "point index (layer by layer, forward order; amber: A, blue: B)", pos, size, layer_of);
    return;
  }
  for (size_t i = 0; i < c.layers.size(); ++i) {
    const AbLayer& l = c.layers[i];
    const std::string layer = "layer " + std::to_string(i);
    groups.push_back({{l.a_point_db, kColourA, "A, " + layer + ": worst point " + l.a_point},
                      {l.b_point_db, kColourB, "B, " + layer + ": worst point " + l.b_point},
                      {l.a_weight_db, kColourA & kHalf, "A, " + layer + ": worst weight"},
                      {l.b_weight_db, kColourB & kHalf, "B, " + layer + ": worst weight"}});
  }
  draw_bar_groups(groups, "layer (amber: A, blue: B; solid: worst activation or state point, faint: worst weight; grey: exact)",
                  pos, size);
}

// A clicked token: point, A's and B's SQNR at it, Δ = B − A.
void draw_ab_token_table(const Comparison& c, int token, ImVec2 size) {
  const ImGuiTableFlags flags = ImGuiTableFlags_ScrollY | ImGuiTableFlags_RowBg | ImGuiTableFlags_BordersInnerV |
                                ImGuiTableFlags_SizingStretchProp;
  if (!ImGui::BeginTable("##ab_token", 4, flags, size)) return;
  ImGui::TableSetupScrollFreeze(0, 1);
  const std::string at = " at token " + std::to_string(token);  // short: the column is narrow
  ImGui::TableSetupColumn(("point (SQNR" + at + ")").c_str(), ImGuiTableColumnFlags_WidthStretch, 3.0f);
  ImGui::TableSetupColumn("A", ImGuiTableColumnFlags_WidthStretch, 1.2f);
  ImGui::TableSetupColumn("B", ImGuiTableColumnFlags_WidthStretch, 1.2f);
  ImGui::TableSetupColumn("Δ = B − A", ImGuiTableColumnFlags_WidthStretch, 1.2f);
  ImGui::TableHeadersRow();
  ImGui::PushFont(theme().mono);
  for (const AbTokenPoint& p : points_at_token(c, token)) {
    ImGui::TableNextRow();
    ImGui::TableNextColumn();
    ImGui::TextColored(ImGui::ColorConvertU32ToFloat4(im_colour(point_colour(p.state))), "%s", p.name.c_str());
    ImGui::TableNextColumn();
    ImGui::TextColored(ImGui::ColorConvertU32ToFloat4(im_colour(kColourA)), "%s",
                       std::isnan(p.a_db) ? "—" : db_text(p.a_db).c_str());
    ImGui::TableNextColumn();
    ImGui::TextColored(ImGui::ColorConvertU32ToFloat4(im_colour(kColourB)), "%s", db_text(p.b_db).c_str());
    ImGui::TableNextColumn();
    ImGui::TextUnformatted(delta_db_text(p.delta).c_str());
  }
  ImGui::PopFont();
  ImGui::EndTable();
  if (ImGui::IsItemHovered()) ImGui::SetTooltip("%s", kSameBatch);
}

void draw_ab_table(const Comparison& c, ImVec2 size) {
  const Table& table = c.table;
  std::vector<std::size_t> shown;
  for (std::size_t col = 0; col < table.columns.size(); ++col)
    if (table.columns[col].in_view) shown.push_back(col);
  const ImGuiTableFlags flags = ImGuiTableFlags_ScrollY | ImGuiTableFlags_RowBg | ImGuiTableFlags_BordersInnerV |
                                ImGuiTableFlags_SizingStretchProp;
  if (!ImGui::BeginTable("##ab_points", static_cast<int>(shown.size()), flags, size)) return;
  ImGui::TableSetupScrollFreeze(0, 1);
  for (const std::size_t col : shown)
    ImGui::TableSetupColumn(table.columns[col].name.c_str(), ImGuiTableColumnFlags_WidthStretch, col == 0 ? 3.0f : 1.2f);
  ImGui::TableHeadersRow();
  ImGui::PushFont(theme().mono);
  for (const TableRow& row : table.rows) {
    const uint32_t colour = row.tag == kWeightRow ? Palette::weight : point_colour(row.tag == kStateRow);
    ImGui::TableNextRow();
    for (const std::size_t col : shown) {
      ImGui::TableNextColumn();
      const std::string& text = row.cells[col].shown;
      if (col == 0) ImGui::TextColored(ImGui::ColorConvertU32ToFloat4(im_colour(colour)), "%s", text.c_str());
      else if (col == 3) ImGui::TextColored(ImGui::ColorConvertU32ToFloat4(im_colour(kColourA)), "%s", text.c_str());
      else if (col == 4) ImGui::TextColored(ImGui::ColorConvertU32ToFloat4(im_colour(kColourB)), "%s", text.c_str());
      else ImGui::TextUnformatted(text.c_str());
    }
  }
  ImGui::PopFont();
  ImGui::EndTable();
  if (ImGui::IsItemHovered()) ImGui::SetTooltip("%s", kSameBatch);
}

//-------------------------------------------------------------------------------------------------
// [SECTION] Tokens coloured by KL
//-------------------------------------------------------------------------------------------------

void draw_tokens(const Snapshot& s, ViewState& state, ImVec2 size, bool ab) {
  const float legend_w = 110.0f;
  const ImVec2 origin = ImGui::GetCursorScreenPos();
  const plot::Axis scale{std::max(1e-6, s.kl_scale_max * 1e-3), std::max(2e-6, double(s.kl_scale_max)), plot::Scale::Log};
  plot::colour_legend(ImGui::GetWindowDrawList(), ImVec2(origin.x + size.x - legend_w + 12.0f, origin.y),
                      ImVec2(legend_w - 12.0f, size.y), "KL (nats)", scale);
  ImGui::BeginChild("##tokens", ImVec2(size.x - legend_w, size.y), true);
  ImDrawList* dl = ImGui::GetWindowDrawList();
  ImFont* font = theme().mono;
  const float line_h = font->FontSize + 6.0f, pad = 2.0f;
  const float left = ImGui::GetCursorScreenPos().x, right = left + ImGui::GetContentRegionAvail().x;
  ImVec2 p = ImGui::GetCursorScreenPos();
  const ImVec2 mouse = ImGui::GetIO().MousePos;
  const bool hover_ok = ImGui::IsWindowHovered();
  int hovered = -1;
  const int n = static_cast<int>(s.pieces.size());
  for (int k = 0; k < n; ++k) {
    if (s.window_length > 0 && k % s.window_length == 0 && k > 0) {  // a new window starts a new paragraph
      p = ImVec2(left, p.y + line_h * 1.6f);
    }
    std::string text = s.pieces[static_cast<size_t>(k)];
    const bool newline = text.find('\n') != std::string::npos;
    if (newline) text = "↵";  // the break follows; a run of blank lines stays one line
    std::replace(text.begin(), text.end(), '\t', ' ');
    if (text.empty()) text = " ";
    const float w = font->CalcTextSizeA(font->FontSize, 1e9f, 0.0f, text.c_str()).x + pad;
    if (p.x + w > right && p.x > left) p = ImVec2(left, p.y + line_h);
    const float kl = k < static_cast<int>(s.token_kl.size()) ? s.token_kl[static_cast<size_t>(k)] : NAN;
    const ImVec2 a(p.x, p.y), b(p.x + w, p.y + line_h - 2.0f);
    float t = 0.0f;
    if (std::isfinite(kl)) {
      t = static_cast<float>(std::clamp(plot::axis_fraction(scale, std::max<double>(kl, scale.min)), 0.0, 1.0));
      dl->AddRectFilled(a, b, plot::viridis(t));
    } else {
      dl->AddRect(a, b, im_colour(Palette::grid));
    }
    if (k == state.selected_token) dl->AddRect(ImVec2(a.x - 1, a.y - 1), ImVec2(b.x + 1, b.y + 1), im_colour(kSelected), 0, 0, 2.0f);
    const uint32_t ink = std::isfinite(kl) && t > 0.55f ? im_colour(0xFF101114) : im_colour(Palette::text);
    dl->AddText(font, font->FontSize, ImVec2(a.x + pad * 0.5f, a.y + 2.0f), ink, text.c_str());
    if (hover_ok && mouse.x >= a.x && mouse.x < b.x && mouse.y >= a.y && mouse.y < b.y) hovered = k;
    p.x += w + 1.0f;
    const bool next_newline = k + 1 < n && s.pieces[static_cast<size_t>(k + 1)].find('\n') != std::string::npos &&
                              (s.window_length <= 0 || (k + 1) % s.window_length != 0);
    if (newline && !next_newline) p = ImVec2(left, p.y + line_h);
  }
  ImGui::Dummy(ImVec2(right - left, p.y + line_h - ImGui::GetCursorScreenPos().y));
  if (hovered >= 0) {
    const int window = s.window_length > 0 ? hovered / s.window_length : 0;
    const int pos = s.window_length > 0 ? hovered % s.window_length : hovered;
    ImGui::BeginTooltip();
    ImGui::Text("token %d (window %d, position %d): «%s»", hovered, window, pos, s.pieces[static_cast<size_t>(hovered)].c_str());
    const float kl = s.token_kl[static_cast<size_t>(hovered)];
    if (std::isfinite(kl)) ImGui::Text("KL of predicting it: %s nats", fmt("%.6g", kl).c_str());
    else ImGui::TextDisabled("first token of its window: nothing predicts it");
    ImGui::TextDisabled("%s", ab ? "click: each point's SQNR at this token under A and B, and Δ = B − A"
                                 : "click: each point's SQNR at this token");
    ImGui::EndTooltip();
    if (ImGui::IsMouseClicked(ImGuiMouseButton_Left)) state.selected_token = hovered == state.selected_token ? -1 : hovered;
  }
  ImGui::EndChild();
}

}  // namespace

//-------------------------------------------------------------------------------------------------
// [SECTION] Entry point
//-------------------------------------------------------------------------------------------------

void draw(const Snapshot& live, ViewState& state, const Comparison* ab) {
  const Snapshot& s = ab ? *ab->b : live;
  if (state.selected_token >= static_cast<int>(s.pieces.size())) state.selected_token = -1;
  // A/B at a token needs both sides' per-token values on the same batch.
  if (ab && state.selected_token >= 0 && points_at_token(*ab, state.selected_token).empty()) state.selected_token = -1;
  if (ab) draw_ab_header(*ab, state);
  else draw_header(s, state);
  ImGui::Spacing();
  const ImVec2 avail = ImGui::GetContentRegionAvail();
  const float bars_h = std::max(160.0f, avail.y * 0.36f);
  const float table_h = std::max(110.0f, avail.y * 0.24f);
  const ImVec2 pos = ImGui::GetCursorScreenPos();
  if (ab) draw_ab_bars(*ab, state, pos, ImVec2(avail.x, bars_h));
  else draw_bars(s, state, pos, ImVec2(avail.x, bars_h));
  ImGui::Dummy(ImVec2(avail.x, bars_h));
  ImGui::Spacing();
  if (ab && state.selected_token >= 0) draw_ab_token_table(*ab, state.selected_token, ImVec2(avail.x, table_h));
  else if (ab) draw_ab_table(*ab, ImVec2(avail.x, table_h));
  else draw_table(s, ImVec2(avail.x, table_h));
  ImGui::Spacing();
  ImGui::TextDisabled(ab ? "The cached batch, each token coloured by B's KL divergence of predicting it (float vs B):"
                         : "The cached batch, each token coloured by the KL divergence of predicting it (float vs quantized):");
  const float rest = std::max(120.0f, ImGui::GetContentRegionAvail().y);
  draw_tokens(s, state, ImVec2(avail.x, rest), ab != nullptr);
}

}  // namespace ms::views::error
