// Structure view (see structure_view.h).
//
// [SECTION] Text and size helpers
// [SECTION] Header: layer title, navigation, legend
// [SECTION] Diagram layout: boxes in columns, forward order top to bottom
// [SECTION] Diagram drawing: arrows with op labels, boxes, hover and click
// [SECTION] Details panel: the selected point, or the layer's tensors
// [SECTION] Entry point
#include "views/structure_view.h"

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

#include <imgui.h>

#include "views/theme.h"

namespace ms::views::structure {
namespace {

//-------------------------------------------------------------------------------------------------
// [SECTION] Text and size helpers
//-------------------------------------------------------------------------------------------------

ImVec2 text_size(ImFont* font, const std::string& text) {
  return font->CalcTextSizeA(font->FontSize, FLT_MAX, 0.0f, text.c_str());
}

void draw_text(ImDrawList* dl, ImFont* font, ImVec2 pos, uint32_t argb, const std::string& text) {
  dl->AddText(font, font->FontSize, pos, im_colour(argb), text.c_str());
}

std::string format_bytes(std::size_t bytes) {
  char buffer[32];
  const double b = static_cast<double>(bytes);
  if (b >= 1024.0 * 1024.0 * 1024.0) std::snprintf(buffer, sizeof buffer, "%.2f GiB", b / (1024.0 * 1024.0 * 1024.0));
  else if (b >= 1024.0 * 1024.0) std::snprintf(buffer, sizeof buffer, "%.2f MiB", b / (1024.0 * 1024.0));
  else if (b >= 1024.0) std::snprintf(buffer, sizeof buffer, "%.1f KiB", b / 1024.0);
  else std::snprintf(buffer, sizeof buffer, "%zu B", bytes);
  return buffer;
}

// Weight points and Module steps show a stored tensor; activations and the state are observed.
bool has_weights(const PointInfo& p) { return p.kind == PointKind::Weight || p.kind == PointKind::Module; }

// The dtype of a point's main tensor ("F32"), or empty for activations.
std::string main_dtype(const PointInfo& p) {
  if (!has_weights(p) || p.tensors.empty()) return {};
  return std::string(dtype_name(p.tensors.front().dtype));
}

bool same_point(const std::optional<QuantPoint>& a, const QuantPoint& b) { return a && *a == b; }

//-------------------------------------------------------------------------------------------------
// [SECTION] Header: layer title, navigation, legend
//-------------------------------------------------------------------------------------------------

void draw_legend_item(PointKind kind) {
  const Theme t = theme();
  ImDrawList* dl = ImGui::GetWindowDrawList();
  const float h = ImGui::GetTextLineHeight();
  const ImVec2 p = ImGui::GetCursorScreenPos();
  const float s = h * 0.7f;
  const ImVec2 a(p.x, p.y + (h - s) * 0.5f);
  dl->AddRectFilled(a, ImVec2(a.x + s, a.y + s), im_colour(kind_colour(kind), 0.35f), 3.0f);
  dl->AddRect(a, ImVec2(a.x + s, a.y + s), im_colour(kind_colour(kind)), 3.0f, 0, 1.5f);
  ImGui::Dummy(ImVec2(s + 6.0f, h));
  ImGui::SameLine(0.0f, 0.0f);
  ImGui::TextColored(ImGui::ColorConvertU32ToFloat4(im_colour(Palette::text_dim)), "%s", kind_name(kind));
  (void)t;
}

void draw_header(const ModelSnapshot& snap, ViewState& state) {
  const Theme t = theme();
  const ModelConfig& c = snap.config;
  const int n_layers = static_cast<int>(snap.layers.size());

  ImGui::PushFont(t.title);
  ImGui::Text("Layer %d", state.layer);
  ImGui::PopFont();
  ImGui::SameLine();
  ImGui::AlignTextToFramePadding();
  ImGui::TextDisabled("of %d  ·  %s block", n_layers, std::string(arch_name(c.arch)).c_str());

  // Navigation, right-aligned on the title row.
  const float button_w = ImGui::CalcTextSize("◀  Previous").x + ImGui::GetStyle().FramePadding.x * 2.0f;
  const float right = ImGui::GetWindowContentRegionMax().x;
  ImGui::SameLine(right - 2.0f * button_w - ImGui::GetStyle().ItemSpacing.x);
  ImGui::BeginDisabled(state.layer <= 0);
  if (ImGui::Button("◀  Previous", ImVec2(button_w, 0))) {
    --state.layer;
    state.user_changed = true;
  }
  ImGui::EndDisabled();
  ImGui::SameLine();
  ImGui::BeginDisabled(state.layer >= n_layers - 1);
  if (ImGui::Button("Next  ▶", ImVec2(button_w, 0))) {
    ++state.layer;
    state.user_changed = true;
  }
  ImGui::EndDisabled();

  // Second row: the sizes that explain the shapes below, then the legend on the right.
  char dims[256];
  if (c.is_mamba2())
    std::snprintf(dims, sizeof dims, "d = %lld   E = %lld   N = %lld   H = %lld   P = %lld   G = %lld   K = %lld",
                  (long long)c.d_model, (long long)c.d_inner, (long long)c.d_state, (long long)c.n_heads,
                  (long long)c.head_dim, (long long)c.n_groups, (long long)c.d_conv);
  else
    std::snprintf(dims, sizeof dims, "d = %lld   E = %lld   N = %lld   R = %lld   K = %lld   T = tokens",
                  (long long)c.d_model, (long long)c.d_inner, (long long)c.d_state, (long long)c.dt_rank,
                  (long long)c.d_conv);
  ImGui::PushFont(t.mono);
  ImGui::TextDisabled("%s", dims);
  ImGui::PopFont();

  const float legend_w = ImGui::CalcTextSize("activationweightstatenot quantized").x + 4.0f * 22.0f + 3.0f * 16.0f;
  ImGui::SameLine(std::max(ImGui::GetCursorPosX(), right - legend_w));
  draw_legend_item(PointKind::Activation);
  ImGui::SameLine(0.0f, 16.0f);
  draw_legend_item(PointKind::Weight);
  ImGui::SameLine(0.0f, 16.0f);
  draw_legend_item(PointKind::State);
  ImGui::SameLine(0.0f, 16.0f);
  draw_legend_item(PointKind::Module);
  ImGui::Spacing();
  ImGui::Separator();
  ImGui::Spacing();

  // Keyboard: Page Up / Page Down step through layers while the canvas has focus.
  if (ImGui::IsWindowFocused() && !ImGui::IsAnyItemActive()) {
    if (ImGui::IsKeyPressed(ImGui::GetKeyIndex(ImGuiKey_PageUp)) && state.layer > 0) {
      --state.layer;
      state.user_changed = true;
    }
    if (ImGui::IsKeyPressed(ImGui::GetKeyIndex(ImGuiKey_PageDown)) && state.layer < n_layers - 1) {
      ++state.layer;
      state.user_changed = true;
    }
  }
}

//-------------------------------------------------------------------------------------------------
// [SECTION] Diagram layout: boxes in columns, forward order top to bottom
//-------------------------------------------------------------------------------------------------

struct Layout {
  ImVec2 origin;        // top-left of the first column's first box
  float box_w = 0, box_h = 0, row_gap = 0, col_gap = 0;
  int rows = 1, cols = 1;

  ImVec2 box_min(int i) const {
    const int col = i / rows, row = i % rows;
    return ImVec2(origin.x + col * (box_w + col_gap), origin.y + row * (box_h + row_gap));
  }
  ImVec2 box_max(int i) const {
    const ImVec2 a = box_min(i);
    return ImVec2(a.x + box_w, a.y + box_h);
  }
};

// Fits `n` boxes into `area`: as many rows as the height allows (one column reads best), then
// more columns; boxes shrink only when the width runs out.
Layout layout_boxes(int n, ImVec2 area_min, ImVec2 area_size, float lead) {
  Layout l;
  const float line = ImGui::GetTextLineHeight();
  l.box_h = std::round(line * 2.0f + 22.0f);
  const float min_gap = std::round(line * 2.1f), max_gap = std::round(line * 3.4f);  // op labels live in the gap
  l.col_gap = 100.0f;
  const float usable_h = area_size.y - lead;
  // Rows fit when every gap (including the exit arrow below the last box) is at least min_gap.
  l.rows = std::max(1, static_cast<int>(usable_h / (l.box_h + min_gap)));
  l.rows = std::min(l.rows, std::max(n, 1));
  l.cols = (n + l.rows - 1) / l.rows;
  l.rows = (n + l.cols - 1) / l.cols;  // balance the columns
  // Spare height goes into the gaps (up to max_gap), so short blocks do not huddle at the top.
  l.row_gap = std::clamp(std::floor((usable_h - l.rows * l.box_h) / static_cast<float>(l.rows)), min_gap, max_gap);
  const float max_w = 290.0f;
  l.box_w = std::min(max_w, (area_size.x - (l.cols - 1) * l.col_gap - 40.0f) / static_cast<float>(l.cols));
  l.box_w = std::max(l.box_w, 150.0f);
  const float total_w = l.cols * l.box_w + (l.cols - 1) * l.col_gap;
  l.origin = ImVec2(std::round(area_min.x + std::max(20.0f, (area_size.x - total_w) * 0.5f)),
                    std::round(area_min.y + lead));
  return l;
}

//-------------------------------------------------------------------------------------------------
// [SECTION] Diagram drawing: arrows with op labels, boxes, hover and click
//-------------------------------------------------------------------------------------------------

void arrow_head(ImDrawList* dl, ImVec2 tip, uint32_t col) {
  dl->AddTriangleFilled(ImVec2(tip.x - 5.5f, tip.y - 9.0f), ImVec2(tip.x + 5.5f, tip.y - 9.0f), tip, col);
}

// The op label sits right of a vertical arrow, centred on it.
void op_label(ImDrawList* dl, ImVec2 at, const std::string& text) {
  if (text.empty()) return;
  const Theme t = theme();
  const ImVec2 size = text_size(t.body, text);
  draw_text(dl, t.body, ImVec2(at.x + 12.0f, std::round(at.y - size.y * 0.5f)), Palette::text_dim, text);
}

void draw_arrows(ImDrawList* dl, const LayerInfo& layer, const Layout& l) {
  const uint32_t col = im_colour(Palette::arrow);
  const int n = static_cast<int>(layer.points.size());
  const float thick = 1.6f;
  // Lead-in: the normalised residual stream enters the block.
  {
    const ImVec2 top = l.box_min(0);
    const float cx = top.x + l.box_w * 0.5f;
    dl->AddLine(ImVec2(cx, top.y - l.row_gap), ImVec2(cx, top.y - 1.0f), col, thick);
    arrow_head(dl, ImVec2(cx, top.y - 1.0f), col);
    op_label(dl, ImVec2(cx, top.y - l.row_gap * 0.5f), "RMSNorm");
  }
  for (int i = 0; i < n; ++i) {
    const ImVec2 a = l.box_min(i), b = l.box_max(i);
    const float cx = a.x + l.box_w * 0.5f;
    const std::string& op = layer.points[static_cast<std::size_t>(i)].op_after;
    if (i == n - 1) {  // exit: back into the residual stream
      dl->AddLine(ImVec2(cx, b.y + 1.0f), ImVec2(cx, b.y + l.row_gap - 1.0f), col, thick);
      arrow_head(dl, ImVec2(cx, b.y + l.row_gap - 1.0f), col);
      op_label(dl, ImVec2(cx, b.y + l.row_gap * 0.5f), op);
      continue;
    }
    const ImVec2 next = l.box_min(i + 1);
    const float ncx = next.x + l.box_w * 0.5f;
    if (next.x == a.x) {  // same column: straight down
      dl->AddLine(ImVec2(cx, b.y + 1.0f), ImVec2(cx, next.y - 1.0f), col, thick);
      arrow_head(dl, ImVec2(cx, next.y - 1.0f), col);
      op_label(dl, ImVec2(cx, (b.y + next.y) * 0.5f), op);
    } else {  // to the next column: down, across the gap, up, over, and down into its top box
      const float y_low = b.y + l.row_gap * 0.5f;
      const float x_mid = b.x + l.col_gap * 0.5f;
      const float y_high = next.y - l.row_gap * 0.5f;
      const ImVec2 path[] = {ImVec2(cx, b.y + 1.0f), ImVec2(cx, y_low), ImVec2(x_mid, y_low),
                             ImVec2(x_mid, y_high), ImVec2(ncx, y_high), ImVec2(ncx, next.y - 1.0f)};
      dl->AddPolyline(path, 6, col, 0, thick);
      arrow_head(dl, ImVec2(ncx, next.y - 1.0f), col);
      op_label(dl, ImVec2(ncx, (y_high + next.y) * 0.5f), op);
    }
  }
}

void draw_tooltip(const PointInfo& p) {
  const Theme t = theme();
  ImGui::BeginTooltip();
  ImGui::PushFont(t.mono);
  ImGui::TextUnformatted(p.canonical.c_str());
  ImGui::PopFont();
  ImGui::TextDisabled("%s  %s", kind_name(p.kind), p.shape_text.c_str());
  for (const TensorInfo& tensor : p.tensors)
    ImGui::Text("%s  %s  %s", tensor.local_name.c_str(), tensor.shape_text().c_str(),
                std::string(dtype_name(tensor.dtype)).c_str());
  ImGui::TextDisabled("Click to select");
  ImGui::EndTooltip();
}

void draw_box(ImDrawList* dl, const PointInfo& p, ImVec2 a, ImVec2 b, ViewState& state) {
  const Theme t = theme();
  // The box is a button whose ID is the quant point's canonical name, not its index: IDs stay
  // stable when the point list changes between models.
  ImGui::SetCursorScreenPos(a);
  ImGui::PushID(p.canonical.c_str());
  const bool clicked = ImGui::InvisibleButton("box", ImVec2(b.x - a.x, b.y - a.y));
  const bool hovered = ImGui::IsItemHovered();
  ImGui::PopID();
  if (clicked) {
    state.selected = p.point;
    state.user_changed = true;
  }
  const bool selected = same_point(state.selected, p.point);
  const uint32_t kind = kind_colour(p.kind);
  const float rounding = 6.0f;
  dl->AddRectFilled(a, b, im_colour(Palette::panel), rounding);
  dl->AddRectFilled(a, b, im_colour(kind, selected ? 0.34f : hovered ? 0.26f : 0.16f), rounding);
  dl->AddRectFilled(a, ImVec2(a.x + 5.0f, b.y), im_colour(kind), rounding, ImDrawFlags_RoundCornersLeft);
  if (selected) {
    dl->AddRect(ImVec2(a.x - 2.0f, a.y - 2.0f), ImVec2(b.x + 2.0f, b.y + 2.0f), im_colour(Palette::selection),
                rounding + 2.0f, 0, 2.5f);
  } else {
    dl->AddRect(a, b, im_colour(kind, hovered ? 1.0f : 0.7f), rounding, 0, 1.2f);
  }

  const float pad_x = 16.0f;
  const float line1 = a.y + 9.0f;
  const float line2 = line1 + t.body->FontSize + 5.0f;
  // Name and dtype on the first line, the shape on the second; the colour says the kind (legend).
  draw_text(dl, t.body, ImVec2(a.x + pad_x, line1), p.kind == PointKind::Module ? Palette::text_dim : Palette::text,
            p.label);
  const std::string dtype = main_dtype(p);
  if (!dtype.empty())
    draw_text(dl, t.mono, ImVec2(b.x - 12.0f - text_size(t.mono, dtype).x, line1 + 1.0f), Palette::text_dim, dtype);
  draw_text(dl, t.mono, ImVec2(a.x + pad_x, line2), Palette::text_dim, p.shape_text);

  if (hovered) draw_tooltip(p);
}

void draw_diagram(const LayerInfo& layer, ViewState& state, ImVec2 area_min, ImVec2 area_size) {
  ImDrawList* dl = ImGui::GetWindowDrawList();
  const int n = static_cast<int>(layer.points.size());
  if (n == 0) {
    ImGui::SetCursorScreenPos(area_min);
    ImGui::TextDisabled("This architecture has no quant points in layer %d.", layer.index);
    return;
  }
  const Layout l = layout_boxes(n, area_min, area_size, std::round(ImGui::GetTextLineHeight() * 2.6f));
  draw_arrows(dl, layer, l);
  for (int i = 0; i < n; ++i) draw_box(dl, layer.points[static_cast<std::size_t>(i)], l.box_min(i), l.box_max(i), state);
}

//-------------------------------------------------------------------------------------------------
// [SECTION] Details panel: the selected point, or the layer's tensors
//-------------------------------------------------------------------------------------------------

// Key in a narrow dim column, value wrapped to the panel (HF keys of deep layers are long).
void key_value(const char* key, const std::string& value, ImFont* value_font) {
  const float key_w = 84.0f;
  ImGui::TextDisabled("%s", key);
  ImGui::SameLine(key_w);
  ImGui::PushFont(value_font);
  ImGui::PushTextWrapPos(0.0f);
  ImGui::TextUnformatted(value.c_str());
  ImGui::PopTextWrapPos();
  ImGui::PopFont();
}

void tensor_table(const char* id, const std::vector<const TensorInfo*>& tensors) {
  const Theme t = theme();
  const ImGuiTableFlags flags = ImGuiTableFlags_RowBg | ImGuiTableFlags_BordersInnerH | ImGuiTableFlags_SizingStretchProp;
  if (!ImGui::BeginTable(id, 3, flags)) return;
  ImGui::TableSetupColumn("tensor", ImGuiTableColumnFlags_WidthStretch, 1.6f);
  ImGui::TableSetupColumn("shape", ImGuiTableColumnFlags_WidthStretch, 1.2f);
  ImGui::TableSetupColumn("dtype", ImGuiTableColumnFlags_WidthStretch, 0.5f);
  ImGui::TableHeadersRow();
  ImGui::PushFont(t.mono);
  for (const TensorInfo* tensor : tensors) {
    ImGui::TableNextRow();
    ImGui::TableNextColumn();
    ImGui::TextUnformatted(tensor->local_name.c_str());
    if (ImGui::IsItemHovered()) ImGui::SetTooltip("%s\n%s", tensor->key.c_str(), format_bytes(tensor->nbytes).c_str());
    ImGui::TableNextColumn();
    ImGui::TextUnformatted(tensor->shape_text().c_str());
    ImGui::TableNextColumn();
    ImGui::TextUnformatted(std::string(dtype_name(tensor->dtype)).c_str());
  }
  ImGui::PopFont();
  ImGui::EndTable();
}

void draw_point_details(const PointInfo& p) {
  const Theme t = theme();
  ImGui::PushFont(t.title);
  ImGui::TextUnformatted(p.label.c_str());
  ImGui::PopFont();
  ImGui::SameLine();
  ImGui::AlignTextToFramePadding();
  ImGui::TextColored(ImGui::ColorConvertU32ToFloat4(im_colour(kind_colour(p.kind))), "%s", kind_name(p.kind));
  ImGui::Spacing();
  if (p.kind == PointKind::Module) ImGui::TextDisabled("No quant point: this step stays in full precision.");
  else key_value("point", p.canonical, t.mono);
  key_value(has_weights(p) ? "shape" : "observes", p.shape_text, t.mono);
  if (p.keys) {
    key_value("HF", p.keys->hf, t.mono);
    key_value("GGUF", p.keys->gguf, t.mono);
  }
  if (!p.op_after.empty()) key_value("then", p.op_after, t.body);
  ImGui::Spacing();
  if (p.tensors.empty()) {
    ImGui::TextDisabled(p.kind == PointKind::Activation ? "Observed during a forward pass; no stored tensor."
                                                        : "No stored tensor.");
    return;
  }
  std::vector<const TensorInfo*> rows;
  for (const TensorInfo& tensor : p.tensors) rows.push_back(&tensor);
  tensor_table("point_tensors", rows);
}

void draw_layer_details(const LayerInfo& layer) {
  const Theme t = theme();
  ImGui::PushFont(t.title);
  ImGui::Text("layers.%d", layer.index);
  ImGui::PopFont();
  ImGui::TextDisabled("%zu quant points  ·  %s stored", layer.quant_point_count(), format_bytes(layer.nbytes).c_str());
  ImGui::Spacing();
  std::vector<const TensorInfo*> rows;
  for (const PointInfo& p : layer.points)
    for (const TensorInfo& tensor : p.tensors) rows.push_back(&tensor);
  for (const TensorInfo& tensor : layer.unassigned) rows.push_back(&tensor);
  tensor_table("layer_tensors", rows);
  ImGui::Spacing();
  ImGui::TextDisabled("Select a box, or a quant point in the tree.");
}

void draw_details(const LayerInfo& layer, const ViewState& state, ImVec2 size) {
  ImGui::PushStyleVar(ImGuiStyleVar_ChildRounding, 6.0f);
  ImGui::PushStyleVar(ImGuiStyleVar_WindowPadding, ImVec2(16.0f, 14.0f));
  ImGui::BeginChild("details", size, false, ImGuiWindowFlags_AlwaysUseWindowPadding);
  const PointInfo* selected = nullptr;
  for (const PointInfo& p : layer.points)
    if (same_point(state.selected, p.point)) selected = &p;
  if (selected) draw_point_details(*selected);
  else draw_layer_details(layer);
  ImGui::EndChild();
  ImGui::PopStyleVar(2);
}

}  // namespace

//-------------------------------------------------------------------------------------------------
// [SECTION] Entry point
//-------------------------------------------------------------------------------------------------

void draw(const ModelSnapshot& snapshot, ViewState& state) {
  if (snapshot.layers.empty()) {
    ImGui::TextDisabled("This model has no layers.");
    return;
  }
  state.layer = std::clamp(state.layer, 0, static_cast<int>(snapshot.layers.size()) - 1);
  const int layer_before = state.layer;
  draw_header(snapshot, state);
  if (state.layer != layer_before && state.selected) {
    // Keep the same module and site when stepping through layers: comparing a point across
    // layers is the usual reason to step.
    state.selected->layer = state.layer;
  }
  const LayerInfo& layer = snapshot.layers[static_cast<std::size_t>(state.layer)];

  const ImVec2 origin = ImGui::GetCursorScreenPos();
  const ImVec2 avail = ImGui::GetContentRegionAvail();
  const float details_w = std::clamp(avail.x * 0.36f, 300.0f, 460.0f);
  const float gap = 20.0f;
  const ImVec2 diagram_size(std::max(avail.x - details_w - gap, 200.0f), avail.y);

  draw_diagram(layer, state, origin, diagram_size);
  ImGui::SetCursorScreenPos(ImVec2(origin.x + diagram_size.x + gap, origin.y));
  draw_details(layer, state, ImVec2(details_w, avail.y));

  // A click on empty canvas clears the selection, as in any diagram editor.
  if (ImGui::IsMouseClicked(ImGuiMouseButton_Left) && ImGui::IsWindowHovered() && !ImGui::IsAnyItemHovered() &&
      ImGui::GetIO().MousePos.x < origin.x + diagram_size.x && ImGui::GetIO().MousePos.y > origin.y && state.selected) {
    state.selected.reset();
    state.user_changed = true;
  }
}

}  // namespace ms::views::structure
