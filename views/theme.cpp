// Fonts, style and colours of the ImGui views (see theme.h).
#include "views/theme.h"

#include <filesystem>

#include <imgui.h>

namespace ms::views {

uint32_t kind_colour(PointKind kind) {
  switch (kind) {
    case PointKind::Activation: return Palette::activation;
    case PointKind::Weight: return Palette::weight;
    case PointKind::State: return Palette::state;
    case PointKind::Module: return Palette::module;
  }
  return Palette::weight;
}

const char* kind_name(PointKind kind) {
  switch (kind) {
    case PointKind::Activation: return "activation";
    case PointKind::Weight: return "weight";
    case PointKind::State: return "state";
    case PointKind::Module: return "not quantized";
  }
  return "";
}

uint32_t im_colour(uint32_t argb, float alpha) {
  const uint32_t a = static_cast<uint32_t>(static_cast<float>((argb >> 24) & 0xFF) * alpha + 0.5f);
  const uint32_t r = (argb >> 16) & 0xFF, g = (argb >> 8) & 0xFF, b = argb & 0xFF;
  return IM_COL32(r, g, b, a);
}

static ImVec4 vec4(uint32_t argb) {
  return ImGui::ColorConvertU32ToFloat4(im_colour(argb));
}

Theme load_theme_fonts(ImFontAtlas& atlas, const std::string& font_dir, float scale) {
  // Latin-1 plus the symbols our labels use: arrows (→), general punctuation (·, …, •),
  // Greek (Δ), math operators (×, ∑) and geometric shapes (▶ ◀ ■).
  static const ImWchar ranges[] = {0x0020, 0x00FF, 0x0370, 0x03FF, 0x2000, 0x206F, 0x2190, 0x21FF,
                                   0x2200, 0x22FF, 0x25A0, 0x25FF, 0};
  const auto load = [&](const char* file, float size) -> ImFont* {
    const std::filesystem::path path = std::filesystem::path(font_dir) / file;
    std::error_code ec;
    if (!std::filesystem::is_regular_file(path, ec)) return nullptr;
    ImFontConfig config;
    config.OversampleH = 2;
    config.OversampleV = 1;
    return atlas.AddFontFromFileTTF(path.string().c_str(), size * scale, &config, ranges);
  };
  Theme theme;
  theme.body = load("DejaVuSans.ttf", 16.0f);
  if (!theme.body) theme.body = atlas.AddFontDefault();  // first font added is ImGui's default
  theme.title = load("DejaVuSans-Bold.ttf", 21.0f);
  theme.mono = load("DejaVuSansMono.ttf", 15.0f);
  if (!theme.title) theme.title = theme.body;
  if (!theme.mono) theme.mono = theme.body;
  return theme;
}

void apply_style(float scale) {
  ImGuiStyle& style = ImGui::GetStyle();
  ImGui::StyleColorsDark(&style);
  style.WindowPadding = ImVec2(18, 14);
  style.FramePadding = ImVec2(10, 5);
  style.ItemSpacing = ImVec2(10, 8);
  style.WindowBorderSize = 0.0f;
  style.FrameRounding = 4.0f;
  style.PopupRounding = 4.0f;
  style.GrabRounding = 4.0f;
  style.WindowRounding = 0.0f;
  ImVec4* c = style.Colors;
  c[ImGuiCol_WindowBg] = vec4(Palette::background);
  c[ImGuiCol_ChildBg] = vec4(Palette::panel);
  c[ImGuiCol_PopupBg] = vec4(0xF0282A2F);
  c[ImGuiCol_Text] = vec4(Palette::text);
  c[ImGuiCol_TextDisabled] = vec4(Palette::text_dim);
  c[ImGuiCol_Border] = vec4(Palette::grid);
  c[ImGuiCol_Separator] = vec4(Palette::grid);
  c[ImGuiCol_Button] = vec4(0xFF34373D);
  c[ImGuiCol_ButtonHovered] = vec4(0xFF41454C);
  c[ImGuiCol_ButtonActive] = vec4(0xFF4C82E0);
  c[ImGuiCol_FrameBg] = vec4(0xFF2E3035);
  style.ScaleAllSizes(scale);
}

Theme theme() {
  if (const auto* host = static_cast<const Theme*>(ImGui::GetIO().UserData)) return *host;
  Theme fallback;
  fallback.body = fallback.title = fallback.mono = ImGui::GetFont();
  return fallback;
}

void layer_stepper(int& layer, bool& user_changed, int n_layers, float button_w) {
  ImGui::BeginDisabled(layer <= 0);
  if (ImGui::Button("◀  Previous", ImVec2(button_w, 0))) {
    --layer;
    user_changed = true;
  }
  ImGui::EndDisabled();
  ImGui::SameLine();
  ImGui::BeginDisabled(layer >= n_layers - 1);
  if (ImGui::Button("Next  ▶", ImVec2(button_w, 0))) {
    ++layer;
    user_changed = true;
  }
  ImGui::EndDisabled();
}

}  // namespace ms::views
