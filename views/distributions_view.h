// The distributions view (issue 6): for one layer and activation quant point, the histogram of |x|
// over the calibration tokens (log bins, as the statistics file stores them) with absmax and the
// rounding-to-zero threshold of the chosen bit width marked; each channel's absmax and variance;
// their coefficients of variation; and what per-tensor round-to-nearest at the chosen bits would
// cost (core's estimate from the histogram: step, MSE, SQNR, share of values that become 0).
//
// "Before" only: the "after" side of each method (Hadamard, KLT, smooth-fused, SmoothQuant, DSQ)
// needs the transforms of issue 5 in the statistics; the method selector says so. Draws from an
// immutable StatsSnapshot; all UI state lives in ViewState.
#pragma once

#include "core/model/quant_point.h"
#include "core/model/stats_file.h"

namespace ms::views::distributions {

struct ViewState {
  int layer = 0;
  Module module = Module::InProj;   // the activation point: {layer, module, input}
  int bits = 8;                     // the bit width whose rounding the plots and numbers show
  bool log_counts = true;           // histogram counts span decades
  bool user_changed = false;        // set by draw() when the user picked another layer or point
};

void draw(const StatsSnapshot& stats, ViewState& state);

}  // namespace ms::views::distributions
