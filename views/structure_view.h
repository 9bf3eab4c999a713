// The structure view: the Mamba block of one layer as a block diagram, its quant points drawn as
// labelled boxes in forward order (in_proj.input → in_proj → conv1d → … → out_proj), coloured by
// what they observe, with the observed shape in each box and the op between two points on the
// arrow joining them; a details panel lists the selected point's tensors and names.
//
// Draws from an immutable ModelSnapshot into the current ImGui window; computes nothing about the
// tensors. All UI state lives in ViewState, owned by the host.
#pragma once

#include <optional>

#include "core/model/quant_point.h"
#include "views/model_snapshot.h"

namespace ms::views::structure {

struct ViewState {
  int layer = 0;                         // the layer drawn
  std::optional<QuantPoint> selected;    // the highlighted box, if any
  // Set by draw() when the user picked a box or another layer with mouse or keyboard; the host
  // reads it to update its other views (the Qt tree) and clears it.
  bool user_changed = false;
};

void draw(const ModelSnapshot& snapshot, ViewState& state);

}  // namespace ms::views::structure
