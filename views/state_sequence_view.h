// The state heatmap's sequence mode (issue 6): one layer's SSM state after the selected token of
// the text, as a [channel × state] map (rows down, states across), with the Float, Quantized and
// Difference sides of the same token; the state quantizer's scales of that step on the margins
// (channel scales as bars on the left, state scales above); the text as a strip of tokens with
// the current one highlighted. A token slider, Play/Pause (Space) and ←/→ step through it.
// Float and Quantized share one symmetric colour scale over the whole sequence; the Difference
// has its own, also symmetric and shared by every token, so playing never rescales.
//
// Draws from an immutable StateSequenceSnapshot (core/model/state_sequence_file.h); all UI state
// lives in state_heatmap::ViewState. Called by state_heatmap::draw under its header.
#pragma once

#include "views/state_heatmap_view.h"

namespace ms::views::state_heatmap {

// Seconds between two tokens while playing.
inline constexpr double kPlaySeconds = 0.35;

void draw_sequence(const Sequence& sequence, ViewState& state);

// The colour of v on the diverging scale [-range, range] (signed square root, so that small
// states still show): blue below zero, the panel's grey at zero, orange above. Public for tests.
uint32_t diverging_colour(float v, float range);

}  // namespace ms::views::state_heatmap
