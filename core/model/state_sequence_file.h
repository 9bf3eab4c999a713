// The file `mambascope-cli states` writes (core/cli/cmd_states.cpp), read into an immutable
// snapshot for the state heatmap's sequence mode: one layer's state after every token, float and
// quantized, their difference, the quantizer's scales per token and each token's text. Torch-free
// (the app reads it). Colour ranges are over the whole sequence, so playing it keeps one scale.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

namespace ms {

enum class SequenceSide { Float, Quantized, Difference };

struct StateSequenceSnapshot {
  std::string arch, state_method, dsq_variant;
  int layer = 0, hbits = 16;
  int64_t tokens = 0, rows = 0, states = 0;  // T, R (E or H·P), N
  int64_t heads = 1;                         // G: Mamba-2's heads (scales per head); 1 for Mamba-1
  int64_t head_dim = 0;                      // P for Mamba-2, 0 for Mamba-1
  std::vector<float> float_states, quant_states, difference;  // [T, R, N]; difference = quant - float
  std::vector<float> channel_scales;                          // [T, R]
  std::vector<float> state_scales;                            // [T, G, N]
  std::vector<int32_t> ids;                                   // [T]
  std::vector<std::string> pieces;                            // [T]
  float value_absmax = 0.0f;       // max |s| over both runs and every token (their shared scale)
  float difference_absmax = 0.0f;  // max |quant - float| over every token
  float channel_scale_max = 0.0f, state_scale_max = 0.0f;

  // One token's [R, N] map of one side.
  const float* map(SequenceSide side, int64_t token) const;
  const float* channel_scales_at(int64_t token) const { return channel_scales.data() + token * rows; }
  const float* state_scales_at(int64_t token) const { return state_scales.data() + token * heads * states; }
  float at(SequenceSide side, int64_t token, int64_t row, int64_t state) const {
    return map(side, token)[row * states + state];
  }
};

// Throws InputError naming the file and the problem (missing tensor, shapes that disagree,
// non-finite values, metadata that does not parse).
std::shared_ptr<const StateSequenceSnapshot> read_state_sequence(const std::filesystem::path& file);

}  // namespace ms
