// The distributions view (issue 6): for one layer and activation quant point, the histogram of |x|
// over the calibration tokens (log bins, as the statistics file stores them) with absmax and the
// rounding-to-zero threshold of the chosen bit width marked; each channel's absmax and variance;
// their coefficients of variation; and what per-tensor round-to-nearest at the chosen bits would
// cost (core's estimate from the histogram: step, MSE, SQNR, share of values that become 0).
//
// With a method chosen (Hadamard, KLT, SmoothQuant on an activation point; DSQ against a baseline
// state quantizer on layers.{i}.ssm.state) it shows BEFORE and AFTER side by side from an
// immutable PreviewSnapshot that `mambascope-cli preview` computed (the app runs it; this view
// computes nothing): both histograms on the same axes, per-channel absmax and variance before and
// after, the CVs and the quantizer's SQNR before → after. The view only says which preview it
// wants (ViewState::preview_request); all UI state lives in ViewState.
#pragma once

#include <memory>
#include <string>

#include "core/model/preview_snapshot.h"
#include "core/model/quant_point.h"
#include "core/model/stats_file.h"

namespace ms::views::distributions {

struct ViewState {
  int layer = 0;
  Module module = Module::InProj;   // the activation point: {layer, module, input}
  int bits = 8;                     // the bit width whose rounding the plots and numbers show
  bool log_counts = true;           // histogram counts span decades
  bool user_changed = false;        // set by draw() when the user picked another layer or point
  std::string method;               // "" (none), hadamard, klt, smoothquant, dsq (the state)
  double alpha = 0.5;               // SmoothQuant
  std::string baseline = "tensor";  // DSQ's comparison: tensor, channel or state
};

// The preview the state asks for, as `mambascope-cli preview` arguments: point, method, bits
// (2..15), alpha, baseline. Empty when no method is chosen.
struct PreviewRequest {
  std::string point, method, baseline;
  int bits = 8;
  double alpha = 0.5;
  bool operator==(const PreviewRequest&) const = default;
};
PreviewRequest preview_request(const ViewState& state);

// What the app has for the view: the newest snapshot (may be for an older request) and a status
// line ("computing…", an error) while the requested one is not there.
struct Preview {
  std::shared_ptr<const PreviewSnapshot> snapshot;
  std::string status;
};

void draw(const StatsSnapshot& stats, ViewState& state, const Preview& preview = {});

}  // namespace ms::views::distributions
