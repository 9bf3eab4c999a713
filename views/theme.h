// The look shared by every ImGui view: fonts, the dark style, and the colours that encode what a
// quant point observes (the Qt tree uses the same colours for its icons, so both sides agree).
//
// Fonts belong to one ImGui context; the host stores the Theme in ImGuiIO::UserData so that views
// find it without globals or function statics. theme() falls back to the default font when the
// host set none (tests, or fonts-dejavu-core missing).
#pragma once

#include <cstdint>
#include <string>

#include "views/model_snapshot.h"

struct ImFont;
struct ImFontAtlas;

namespace ms::views {

// Colours as 0xAARRGGBB so the Qt side can use them directly (QColor::fromRgba).
struct Palette {
  static constexpr uint32_t background = 0xFF1E1F22;
  static constexpr uint32_t panel = 0xFF26282C;
  static constexpr uint32_t text = 0xFFDFE1E5;
  static constexpr uint32_t text_dim = 0xFF9DA3AD;
  static constexpr uint32_t grid = 0xFF3A3D43;
  static constexpr uint32_t arrow = 0xFF8A909A;
  static constexpr uint32_t activation = 0xFF2FA59A;   // teal: inputs seen during a forward
  static constexpr uint32_t weight = 0xFF4C82E0;       // blue: stored Linear/conv weights
  static constexpr uint32_t state = 0xFFA46FD6;        // violet: the recurrent SSM state
  static constexpr uint32_t module = 0xFF7D838C;       // grey: stored weights without a quant point
  static constexpr uint32_t selection = 0xFFFFB43C;    // amber outline of the selected box
};

uint32_t kind_colour(PointKind kind);          // 0xAARRGGBB
const char* kind_name(PointKind kind);         // "activation", "weight", "state", "not quantized"

// The views' size in the teaching tour's presentation mode (fonts and paddings; 1 is normal):
// 16 px body text becomes 28 px, readable from the back of a classroom on a projector.
inline constexpr float kPresentationScale = 1.75f;

struct Theme {
  ImFont* body = nullptr;    // 16 px DejaVu Sans
  ImFont* title = nullptr;   // 21 px DejaVu Sans Bold
  ImFont* mono = nullptr;    // 15 px DejaVu Sans Mono, for shapes and keys
};

// Adds the fonts to `atlas` (with the glyphs views draw: arrows, ·, ×, Δ) and returns them. Falls
// back to ImGui's default font for any file that is missing. `font_dir` holds the DejaVu TTFs.
Theme load_theme_fonts(ImFontAtlas& atlas, const std::string& font_dir, float scale);
// Colours and spacing of the current ImGui context.
void apply_style(float scale);
// The theme of the current context (ImGuiIO::UserData), or default fonts.
Theme theme();

// ImGui colour (ABGR, as ImDrawList wants) from 0xAARRGGBB, with optional alpha override.
uint32_t im_colour(uint32_t argb, float alpha = 1.0f);

// The ◀ Previous / Next ▶ pair of the statistics views: steps `layer` within [0, n_layers) and
// sets `user_changed` (so a newer snapshot does not move the view back to its default layer).
void layer_stepper(int& layer, bool& user_changed, int n_layers, float button_w);

}  // namespace ms::views
