// The empty canvas (see empty_view.h).
#include "views/empty_view.h"

#include <cfloat>

#include <imgui.h>

#include "views/theme.h"

namespace ms::views::empty {

void draw(const Snapshot& snapshot, ViewState&) {
  const Theme t = theme();
  const ImVec2 origin = ImGui::GetCursorScreenPos();
  const ImVec2 avail = ImGui::GetContentRegionAvail();
  const ImVec2 title = t.title->CalcTextSizeA(t.title->FontSize, FLT_MAX, 0.0f, snapshot.title.c_str());
  const ImVec2 hint = t.body->CalcTextSizeA(t.body->FontSize, FLT_MAX, 0.0f, snapshot.hint.c_str());
  const float top = origin.y + (avail.y - title.y - hint.y - 14.0f) * 0.45f;
  ImDrawList* dl = ImGui::GetWindowDrawList();
  dl->AddText(t.title, t.title->FontSize, ImVec2(origin.x + (avail.x - title.x) * 0.5f, top),
              im_colour(Palette::text), snapshot.title.c_str());
  dl->AddText(t.body, t.body->FontSize, ImVec2(origin.x + (avail.x - hint.x) * 0.5f, top + title.y + 14.0f),
              im_colour(Palette::text_dim), snapshot.hint.c_str());
}

}  // namespace ms::views::empty
