// The channel-maxima view (issue 6): for one layer and activation quant point, each channel's
// absmax over the calibration tokens as bars, the layer mean as a line and the band up to the
// outlier threshold (mean + 6σ, METHODS.md §2) shaded, as in Mamba-PTQ's Figure 1; outlier
// channels in a contrasting colour and listed; below, every layer's channel absmax normalised to
// its own maximum as a [layer × channel] heatmap, whose rows select the layer.
//
// Draws from an immutable StatsSnapshot (core/model/stats_file.h), which already holds the means,
// thresholds, outliers and heatmap; this file only lays them out. All UI state lives in ViewState.
#pragma once

#include "core/model/quant_point.h"
#include "core/model/stats_file.h"

namespace ms::views::channel_maxima {

struct ViewState {
  int layer = 0;
  Module module = Module::InProj;  // the activation point shown: {layer, module, input}
  bool log_scale = false;
  // Set by draw() when the user picked another layer or point; the host syncs the Qt tree.
  bool user_changed = false;
};

void draw(const StatsSnapshot& stats, ViewState& state);

}  // namespace ms::views::channel_maxima
