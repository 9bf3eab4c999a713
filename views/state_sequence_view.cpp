// State heatmap, sequence mode (see state_sequence_view.h).
//
// [SECTION] Colours
// [SECTION] Controls: play, token slider, side, keys
// [SECTION] Text strip
// [SECTION] Map, margins, legend, hover
// [SECTION] Entry point
#include "views/state_sequence_view.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <string>

#include <imgui.h>

#include "views/text_format.h"
#include "views/theme.h"

namespace ms::views::state_heatmap {

//-------------------------------------------------------------------------------------------------
// [SECTION] Colours
//-------------------------------------------------------------------------------------------------

uint32_t diverging_colour(float v, float range) {
  const float t = range > 0.0f ? std::clamp(v / range, -1.0f, 1.0f) : 0.0f;
  const float a = std::sqrt(std::abs(t));
  // Ends: Okabe–Ito blue (0, 114, 178) and orange (230, 159, 0); middle: the panel grey.
  const float mid[3] = {38, 40, 44};
  const float neg[3] = {40, 140, 230}, pos[3] = {240, 150, 20};
  const float* end = t < 0.0f ? neg : pos;
  auto mix = [&](int i) { return static_cast<int>(std::lround(mid[i] + (end[i] - mid[i]) * a)); };
  return IM_COL32(mix(0), mix(1), mix(2), 255);
}

namespace {

const char* side_name(SequenceSide s) {
  return s == SequenceSide::Float ? "Float" : s == SequenceSide::Quantized ? "Quantized" : "Difference";
}

float side_range(const StateSequenceSnapshot& s, SequenceSide side) {
  const float r = side == SequenceSide::Difference ? s.difference_absmax : s.value_absmax;
  return r > 0.0f ? r : 1.0f;
}

std::string row_name(const StateSequenceSnapshot& s, int64_t row) {
  if (s.head_dim <= 0) return "channel " + std::to_string(row);
  return "head " + std::to_string(row / s.head_dim) + " · dim " + std::to_string(row % s.head_dim);
}

// A token's text as one visible line: newlines and tabs shown, not obeyed.
std::string visible(const std::string& piece) {
  std::string out;
  for (const char c : piece) {
    if (c == '\n') out += "\\n";
    else if (c == '\t') out += "\\t";
    else out += c;
  }
  return out.empty() ? std::string("∅") : out;
}

//-------------------------------------------------------------------------------------------------
// [SECTION] Controls: play, token slider, side, keys
//-------------------------------------------------------------------------------------------------

void step_playback(const StateSequenceSnapshot& s, ViewState& state) {
  const int last = static_cast<int>(s.tokens) - 1;
  if (!ImGui::GetIO().WantTextInput) {
    if (ImGui::IsKeyPressed(ImGui::GetKeyIndex(ImGuiKey_Space), false)) {
      state.playing = !state.playing;
      if (state.playing && state.token >= last) state.token = 0;
      state.last_step_time = ImGui::GetTime();
    }
    if (ImGui::IsKeyPressed(ImGui::GetKeyIndex(ImGuiKey_LeftArrow))) {
      state.playing = false;
      state.token = std::max(state.token - 1, 0);
    }
    if (ImGui::IsKeyPressed(ImGui::GetKeyIndex(ImGuiKey_RightArrow))) {
      state.playing = false;
      state.token = std::min(state.token + 1, last);
    }
  }
  if (state.playing && ImGui::GetTime() - state.last_step_time >= kPlaySeconds) {
    state.last_step_time = ImGui::GetTime();
    if (state.token >= last) state.playing = false;
    else ++state.token;
  }
  state.token = std::clamp(state.token, 0, last);
}

void draw_controls(const StateSequenceSnapshot& s, ViewState& state) {
  const int last = static_cast<int>(s.tokens) - 1;
  if (ImGui::Button(state.playing ? "Pause" : "Play", ImVec2(ImGui::CalcTextSize("Pause").x + 24.0f, 0.0f))) {
    state.playing = !state.playing;
    if (state.playing && state.token >= last) state.token = 0;
    state.last_step_time = ImGui::GetTime();
  }
  ImGui::SameLine();
  ImGui::SetNextItemWidth(std::min(360.0f, ImGui::GetContentRegionAvail().x * 0.35f));
  if (ImGui::SliderInt("##token", &state.token, 0, last, "token %d")) state.playing = false;
  ImGui::SameLine();
  ImGui::TextDisabled("of %lld", static_cast<long long>(s.tokens));
  ImGui::SameLine(0.0f, 28.0f);
  for (const SequenceSide side : {SequenceSide::Float, SequenceSide::Quantized, SequenceSide::Difference}) {
    if (ImGui::RadioButton(side_name(side), state.side == side)) state.side = side;
    ImGui::SameLine();
  }
  ImGui::TextDisabled("   H%d %s%s   ·   Space: play/pause  ←/→: step", s.hbits, s.state_method.c_str(),
                      s.state_method == "dsq" ? (" " + s.dsq_variant).c_str() : "");
}

//-------------------------------------------------------------------------------------------------
// [SECTION] Text strip
//-------------------------------------------------------------------------------------------------

// Every token's text in reading order, wrapped; the current one boxed; a click selects a token.
float draw_text_strip(const StateSequenceSnapshot& s, ViewState& state, ImVec2 pos, float width, int max_lines) {
  const Theme t = theme();
  ImDrawList* dl = ImGui::GetWindowDrawList();
  const float line_h = t.mono->FontSize + 6.0f, pad = 6.0f;
  const float height = max_lines * line_h + 2.0f * pad;
  dl->AddRectFilled(pos, ImVec2(pos.x + width, pos.y + height), im_colour(Palette::panel));
  float x = pos.x + pad, y = pos.y + pad;
  const ImVec2 mouse = ImGui::GetIO().MousePos;
  for (int64_t i = 0; i < s.tokens; ++i) {
    const std::string text = visible(s.pieces[static_cast<std::size_t>(i)]);
    const float w = t.mono->CalcTextSizeA(t.mono->FontSize, 1e9f, 0.0f, text.c_str()).x + 2.0f;
    if (x + w > pos.x + width - pad && x > pos.x + pad) {
      x = pos.x + pad;
      y += line_h;
    }
    if (y + line_h > pos.y + height) break;  // what does not fit is left out (the slider still reaches it)
    const ImVec2 a(x - 1.0f, y - 2.0f), b(x + w, y + line_h - 3.0f);
    const bool current = i == state.token;
    if (current) dl->AddRectFilled(a, b, im_colour(Palette::selection, 0.85f), 3.0f);
    else if (i < state.token) dl->AddRectFilled(a, b, im_colour(Palette::state, 0.18f), 2.0f);
    dl->AddText(t.mono, t.mono->FontSize, ImVec2(x, y), current ? IM_COL32(20, 20, 20, 255) : im_colour(Palette::text),
                text.c_str());
    if (ImGui::IsWindowHovered() && mouse.x >= a.x && mouse.x < b.x && mouse.y >= a.y && mouse.y < b.y) {
      dl->AddRect(a, b, im_colour(Palette::selection), 3.0f);
      if (ImGui::IsMouseClicked(0)) {
        state.token = static_cast<int>(i);
        state.playing = false;
      }
    }
    x += w + 1.0f;
  }
  return height;
}

//-------------------------------------------------------------------------------------------------
// [SECTION] Map, margins, legend, hover
//-------------------------------------------------------------------------------------------------

struct MapFrame {
  ImVec2 min, max;
  float row_h = 1.0f, col_w = 1.0f;
};

void draw_map(const StateSequenceSnapshot& s, const ViewState& state, const MapFrame& f) {
  ImDrawList* dl = ImGui::GetWindowDrawList();
  const float* v = s.map(state.side, state.token);
  const float range = side_range(s, state.side);
  dl->PushClipRect(f.min, f.max, true);
  for (int64_t r = 0; r < s.rows; ++r) {
    const float y0 = f.min.y + r * f.row_h, y1 = f.min.y + (r + 1) * f.row_h;
    if (std::floor(y1) == std::floor(y0) && r + 1 < s.rows &&
        std::floor(f.min.y + (r + 2) * f.row_h) == std::floor(y0))
      continue;  // several rows share this pixel row: the last of them paints it
    for (int64_t n = 0; n < s.states; ++n)
      dl->AddRectFilled(ImVec2(f.min.x + n * f.col_w, std::floor(y0)),
                        ImVec2(f.min.x + (n + 1) * f.col_w, std::max(std::floor(y1), std::floor(y0) + 1.0f)),
                        diverging_colour(v[r * s.states + n], range));
  }
  if (s.head_dim > 0 && s.head_dim * f.row_h >= 6.0f)
    for (int64_t h = 1; h < s.heads; ++h) {
      const float y = f.min.y + h * s.head_dim * f.row_h;
      dl->AddLine(ImVec2(f.min.x, y), ImVec2(f.max.x, y), im_colour(Palette::background), 1.5f);
    }
  dl->PopClipRect();
  dl->AddRect(f.min, f.max, im_colour(Palette::grid));
}

// Channel scales of this token as horizontal bars left of the map (longest = the sequence's max).
void draw_channel_margin(const StateSequenceSnapshot& s, const ViewState& state, const MapFrame& f, float width) {
  const Theme t = theme();
  ImDrawList* dl = ImGui::GetWindowDrawList();
  const ImVec2 min(f.min.x - width - 6.0f, f.min.y), max(f.min.x - 6.0f, f.max.y);
  dl->AddRectFilled(min, max, im_colour(Palette::panel));
  const float* ch = s.channel_scales_at(state.token);
  const float hi = s.channel_scale_max > 0.0f ? s.channel_scale_max : 1.0f;
  for (int64_t r = 0; r < s.rows; ++r) {
    const float w = (max.x - min.x - 2.0f) * ch[r] / hi;
    dl->AddRectFilled(ImVec2(max.x - w, std::floor(f.min.y + r * f.row_h)),
                      ImVec2(max.x, std::max(std::floor(f.min.y + (r + 1) * f.row_h), std::floor(f.min.y + r * f.row_h) + 1.0f)),
                      im_colour(Palette::state, 0.9f));
  }
  const char* title = "channel scale";
  const float tw = t.body->CalcTextSizeA(t.body->FontSize, 1e9f, 0.0f, title).x;
  dl->AddText(t.body, t.body->FontSize, ImVec2(max.x - tw, f.min.y - t.body->FontSize - 4.0f), im_colour(Palette::text), title);
  const std::string top = "max " + num(hi);
  dl->AddText(t.mono, t.mono->FontSize, ImVec2(min.x, max.y + 4.0f), im_colour(Palette::text_dim), top.c_str());
}

// State scales of this token (of the hovered row's head for Mamba-2) as bars above the map.
void draw_state_margin(const StateSequenceSnapshot& s, const ViewState& state, const MapFrame& f, float height, int head) {
  const Theme t = theme();
  ImDrawList* dl = ImGui::GetWindowDrawList();
  const ImVec2 min(f.min.x, f.min.y - height - 6.0f), max(f.max.x, f.min.y - 6.0f);
  dl->AddRectFilled(min, max, im_colour(Palette::panel));
  const float* st = s.state_scales_at(state.token) + static_cast<int64_t>(head) * s.states;
  const float hi = s.state_scale_max > 0.0f ? s.state_scale_max : 1.0f;
  for (int64_t n = 0; n < s.states; ++n) {
    const float h = (max.y - min.y - 2.0f) * st[n] / hi;
    const float gap = f.col_w >= 6.0f ? 1.0f : 0.0f;
    dl->AddRectFilled(ImVec2(f.min.x + n * f.col_w + gap, max.y - h), ImVec2(f.min.x + (n + 1) * f.col_w - gap, max.y),
                      im_colour(Palette::activation, 0.9f));
  }
  std::string title = "state scale";
  if (s.heads > 1) title += " (head " + std::to_string(head) + ")";
  const std::string top = "max " + num(hi);
  dl->AddText(t.body, t.body->FontSize, ImVec2(min.x, min.y - t.body->FontSize - 4.0f), im_colour(Palette::text), title.c_str());
  const float tw = t.mono->CalcTextSizeA(t.mono->FontSize, 1e9f, 0.0f, top.c_str()).x;
  dl->AddText(t.mono, t.mono->FontSize, ImVec2(max.x - tw, min.y - t.mono->FontSize - 4.0f), im_colour(Palette::text_dim), top.c_str());
}

void draw_legend(const StateSequenceSnapshot& s, const ViewState& state, ImVec2 pos, ImVec2 size) {
  const Theme t = theme();
  ImDrawList* dl = ImGui::GetWindowDrawList();
  const float range = side_range(s, state.side);
  const float bar_w = 16.0f;
  const int steps = 64;
  for (int i = 0; i < steps; ++i) {
    const float v = range * (1.0f - 2.0f * (i + 0.5f) / steps);
    dl->AddRectFilled(ImVec2(pos.x, pos.y + size.y * i / steps), ImVec2(pos.x + bar_w, pos.y + size.y * (i + 1) / steps),
                      diverging_colour(v, range));
  }
  const ImU32 dim = im_colour(Palette::text_dim);
  const float fs = t.mono->FontSize;
  dl->AddText(t.mono, fs, ImVec2(pos.x + bar_w + 4.0f, pos.y - 2.0f), dim, ("+" + num(range)).c_str());
  dl->AddText(t.mono, fs, ImVec2(pos.x + bar_w + 4.0f, pos.y + size.y * 0.5f - fs * 0.5f), dim, "0");
  dl->AddText(t.mono, fs, ImVec2(pos.x + bar_w + 4.0f, pos.y + size.y - fs), dim, ("-" + num(range)).c_str());
  const char* label = state.side == SequenceSide::Difference ? "quant − float" : "state s (√ scale)";
  dl->AddText(t.body, t.body->FontSize, ImVec2(pos.x, pos.y + size.y + 6.0f), im_colour(Palette::text), label);
}

void draw_tooltip(const StateSequenceSnapshot& s, const ViewState& state, int64_t row, int64_t n) {
  const int64_t head = s.head_dim > 0 ? row / s.head_dim : 0;
  const float ch = s.channel_scales_at(state.token)[row], st = s.state_scales_at(state.token)[head * s.states + n];
  ImGui::BeginTooltip();
  ImGui::Text("%s  ·  state %lld  ·  token %d", row_name(s, row).c_str(), static_cast<long long>(n), state.token);
  ImGui::PushFont(theme().mono);
  ImGui::Text("float      %.7g", s.at(SequenceSide::Float, state.token, row, n));
  ImGui::Text("quantized  %.7g", s.at(SequenceSide::Quantized, state.token, row, n));
  ImGui::Text("difference %.7g", s.at(SequenceSide::Difference, state.token, row, n));
  ImGui::Text("channel scale %.6g   state scale %.6g", ch, st);
  if (s.hbits < 16) ImGui::Text("step M/qmax   %.6g", ch * st / static_cast<float>((1 << (s.hbits - 1)) - 1));
  ImGui::PopFont();
  ImGui::EndTooltip();
}

}  // namespace

//-------------------------------------------------------------------------------------------------
// [SECTION] Entry point
//-------------------------------------------------------------------------------------------------

// The quantized run's state quantizer (mambascope-cli states --state-method, --dsq-variant): each
// choice is a new run, latest wins (the app compares the request).
void draw_quantizer(ViewState& state) {
  const ImGuiStyle& style = ImGui::GetStyle();
  ImGui::AlignTextToFramePadding();
  ImGui::TextDisabled("State quantizer");
  ImGui::SameLine();
  ImGui::SetNextItemWidth(ImGui::CalcTextSize("channel").x + ImGui::GetFrameHeight() + style.FramePadding.x * 2);
  if (ImGui::BeginCombo("##sequence_method", state.sequence_method.c_str())) {
    for (const char* m : {"dsq", "tensor", "channel", "state"})
      if (ImGui::Selectable(m, state.sequence_method == m)) state.sequence_method = m;
    ImGui::EndCombo();
  }
  if (ImGui::IsItemHovered())
    ImGui::SetTooltip("dsq: a scale per channel and per state (Q-Mamba); tensor, channel, state: one scale vector");
  if (state.sequence_method != "dsq") return;
  ImGui::SameLine();
  ImGui::SetNextItemWidth(ImGui::CalcTextSize("abs.mean.sqrt").x + ImGui::GetFrameHeight() + style.FramePadding.x * 2);
  if (ImGui::BeginCombo("##sequence_variant", state.sequence_variant.c_str())) {
    for (const char* v : {"abs.max", "abs.max.sqrt", "abs.mean", "abs.mean.sqrt"})
      if (ImGui::Selectable(v, state.sequence_variant == v)) state.sequence_variant = v;
    ImGui::EndCombo();
  }
  if (ImGui::IsItemHovered()) ImGui::SetTooltip("How DSQ derives its two scale vectors (abs.mean.sqrt: Q-Mamba's DSQ)");
}

// Whether the snapshot is the run the view asks for (not one of another layer or quantizer).
bool is_current(const StateSequenceSnapshot& s, const ViewState& state) {
  return s.layer == state.layer && s.hbits == state.sequence_hbits && s.state_method == state.sequence_method &&
         (s.state_method != "dsq" || s.dsq_variant == state.sequence_variant);
}

void draw_sequence(const Sequence& sequence, ViewState& state) {
  draw_quantizer(state);
  if (!sequence.status.empty()) {
    ImGui::TextColored(ImGui::ColorConvertU32ToFloat4(im_colour(sequence.running ? Palette::text_dim : 0xFFE8612C)), "%s",
                       sequence.status.c_str());
  }
  const StateSequenceSnapshot* s = sequence.snapshot.get();
  if (!s || !is_current(*s, state)) {
    if (sequence.status.empty()) ImGui::TextDisabled("The sequence of layer %d is not computed yet.", state.layer);
    return;
  }
  step_playback(*s, state);
  draw_controls(*s, state);
  ImGui::Spacing();
  const ImVec2 origin = ImGui::GetCursorScreenPos();
  const ImVec2 avail = ImGui::GetContentRegionAvail();
  const float strip_h = draw_text_strip(*s, state, origin, avail.x, 3);

  const float margin_w = 120.0f, margin_h = 90.0f, legend_w = 150.0f, label_h = theme().body->FontSize + 8.0f;
  const float top = origin.y + strip_h + 10.0f + label_h + margin_h + 6.0f;  // strip, titles, state margin
  const float bottom = origin.y + avail.y - theme().mono->FontSize - 8.0f;
  MapFrame f;
  f.min = ImVec2(origin.x + margin_w + 6.0f, top);
  const float map_w = std::clamp(avail.x - margin_w - 6.0f - legend_w, 120.0f, static_cast<float>(s->states) * 56.0f);
  f.max = ImVec2(f.min.x + map_w, std::max(bottom, top + 80.0f));
  f.row_h = (f.max.y - f.min.y) / static_cast<float>(s->rows);
  f.col_w = (f.max.x - f.min.x) / static_cast<float>(s->states);

  const ImVec2 mouse = ImGui::GetIO().MousePos;
  int64_t row = -1, n = -1;
  if (ImGui::IsWindowHovered() && mouse.x >= f.min.x && mouse.x < f.max.x && mouse.y >= f.min.y && mouse.y < f.max.y) {
    row = std::clamp<int64_t>(static_cast<int64_t>((mouse.y - f.min.y) / f.row_h), 0, s->rows - 1);
    n = std::clamp<int64_t>(static_cast<int64_t>((mouse.x - f.min.x) / f.col_w), 0, s->states - 1);
  }
  draw_map(*s, state, f);
  draw_channel_margin(*s, state, f, margin_w - 10.0f);
  draw_state_margin(*s, state, f, margin_h, s->head_dim > 0 && row >= 0 ? static_cast<int>(row / s->head_dim) : 0);
  draw_legend(*s, state, ImVec2(f.max.x + 24.0f, f.min.y), ImVec2(legend_w - 40.0f, f.max.y - f.min.y - 24.0f));
  // Axis words under the map.
  const Theme t = theme();
  char axes[128];
  std::snprintf(axes, sizeof axes, "%s (%lld rows) ↓ × state n (%lld) →", s->head_dim > 0 ? "head · dim" : "channel",
                static_cast<long long>(s->rows), static_cast<long long>(s->states));
  ImGui::GetWindowDrawList()->AddText(t.mono, t.mono->FontSize, ImVec2(f.min.x, f.max.y + 4.0f), im_colour(Palette::text_dim), axes);
  if (row >= 0) {
    ImDrawList* dl = ImGui::GetWindowDrawList();
    dl->AddRect(ImVec2(f.min.x + n * f.col_w, f.min.y + row * f.row_h),
                ImVec2(f.min.x + (n + 1) * f.col_w, f.min.y + (row + 1) * f.row_h + 1.0f), im_colour(Palette::selection), 0.0f, 0, 1.5f);
    draw_tooltip(*s, state, row, n);
  }
  ImGui::SetCursorScreenPos(origin);
  ImGui::Dummy(avail);
}

}  // namespace ms::views::state_heatmap
