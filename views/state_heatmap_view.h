// The state heatmap view (issue 6): for one layer, the SSM state's absmax or mean |s| over the
// calibration tokens as a [channel × state] map (Mamba-1: E × N; Mamba-2: H·P × N, heads marked),
// on a log or linear colour scale with its legend. On the margins, the two scale vectors DSQ
// quantizes the state with: each channel's absmax over its states (above, with the layer mean and
// the 6σ outlier line) and each state's absmax over the channels (right). The channel axis zooms
// (wheel) and pans (drag); hovering a cell gives its exact values.
//
// Draws from an immutable StatsSnapshot (core/model/stats_file.h: StateMaps, which holds the maps,
// the margins and the colour ranges); this file lays them out. All UI state lives in ViewState.
// The Sequence toggle switches to the sequence mode (views/state_sequence_view.h): one layer's
// state token by token, float vs quantized, from a StateSequenceSnapshot the app makes with
// `mambascope-cli states`; the header (layer, toggle) stays this file's.
#pragma once

#include <memory>
#include <string>

#include "core/model/state_sequence_file.h"
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
  // Sequence mode (the app runs the CLI on the first sequence_tokens tokens of the text).
  bool sequence = false;
  int sequence_tokens = 64;
  int sequence_hbits = 4;
  std::string sequence_method = "dsq";             // the quantized run's state quantizer: dsq, tensor, channel, state
  std::string sequence_variant = "abs.mean.sqrt";  // DSQ's scale rule (views/state_sequence_view.h)
  int token = 0;                 // the token whose state is shown
  bool playing = false;
  double last_step_time = 0.0;   // ImGui time of the last automatic step
  SequenceSide side = SequenceSide::Float;
};

// The sequence the app computed for the view (or is computing): the snapshot may be of another
// layer than ViewState::layer while a new one runs.
struct Sequence {
  std::shared_ptr<const StateSequenceSnapshot> snapshot;
  std::string status;  // "computing…", an error, or empty
  bool running = false;
};

void draw(const StatsSnapshot& stats, ViewState& state, const Sequence& sequence = {});

}  // namespace ms::views::state_heatmap
