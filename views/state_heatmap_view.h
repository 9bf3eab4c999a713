// The state heatmap view (issue 6): for one layer, the SSM state's absmax or mean |s| over the
// calibration tokens as a [channel × state] map (Mamba-1: E × N; Mamba-2: H·P × N, heads marked),
// on a log or linear colour scale with its legend. On the margins, the two scale vectors DSQ
// quantizes the state with: each channel's absmax over its states (above, with the layer mean and
// the 6σ outlier line) and each state's absmax over the channels (right). The channel axis zooms
// (wheel) and pans (drag); hovering a cell gives its exact values.
//
// Draws from an immutable StatsSnapshot (core/model/stats_file.h: StateMaps, which holds the maps,
// the margins and the colour ranges); this file lays them out. All UI state lives in ViewState.
// Not here yet: the sequence mode (the state token by token) and float vs quantized states,
// which need the engine in the app.
#pragma once

#include "core/model/stats_file.h"
#include "views/plot.h"

namespace ms::views::state_heatmap {

enum class Statistic { Absmax, MeanAbs };

struct ViewState {
  int layer = 0;
  Statistic statistic = Statistic::Absmax;
  bool log_scale = true;         // state values span decades: linear colour hides all but the largest
  plot::Zoom zoom;               // of the channel axis
  bool user_changed = false;     // set by draw() when the user picked another layer
};

void draw(const StatsSnapshot& stats, ViewState& state);

}  // namespace ms::views::state_heatmap
