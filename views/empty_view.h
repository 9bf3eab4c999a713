// The canvas before a model is open, or while one is opening: a centred title and hint.
// Nothing to snapshot, so the "snapshot" is the two strings.
#pragma once

#include <string>

namespace ms::views::empty {

struct Snapshot {
  std::string title;   // "No model open", "Opening tiny-mamba…"
  std::string hint;    // one or more lines
};
struct ViewState {};

void draw(const Snapshot& snapshot, ViewState& state);

}  // namespace ms::views::empty
