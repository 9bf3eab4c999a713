// Shared number formatting (see text_format.h).
#include "views/text_format.h"

#include <cmath>
#include <cstdio>

#include <imgui.h>

namespace ms::views {

std::string fmt(const char* format, double v) {
  char buffer[64];
  std::snprintf(buffer, sizeof buffer, format, v);
  return buffer;
}

std::string num(double v) {
  if (v == 0.0) return "0";
  const double a = std::abs(v);
  if (a >= 1000.0 || a < 0.001) return fmt("%.3g", v);
  if (a >= 100.0) return fmt("%.1f", v);
  if (a >= 1.0) return fmt("%.3f", v);
  return fmt("%.4f", v);
}

std::string thousands(int64_t v) {
  std::string digits = std::to_string(v), out;
  for (std::size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0 && digits[i - 1] != '-') out += ',';
    out += digits[i];
  }
  return out;
}

bool fits_on_row(float width, float right) {
  const float last = ImGui::GetItemRectMax().x - ImGui::GetWindowPos().x;
  return last + ImGui::GetStyle().ItemSpacing.x + width <= right;
}

}  // namespace ms::views
