// Number formatting and header layout helpers shared by the views (one spelling of numbers
// everywhere: a value in a tooltip reads the same as in a header).
#pragma once

#include <cstdint>
#include <string>

namespace ms::views {

// printf of one double.
std::string fmt(const char* format, double v);
// Significant digits that suit the magnitude: 0.0123, 1.23, 123, 1.2e+04.
std::string num(double v);
// 50000 -> "50,000".
std::string thousands(int64_t v);
// Whether an item `width` wide fits on the current ImGui row, after the last item, before `right`
// (window coordinates). Header rows wrap with it instead of overlapping on narrow canvases.
bool fits_on_row(float width, float right);

}  // namespace ms::views
