// The error view (issue 6): what the bit-width setting of the Quantization dock does to the model,
// from one reply of `mambascope-cli requant-serve` (app/requant_process.h builds the snapshot):
//   - the end-to-end numbers: KL(float ‖ quantized) mean/p90/max per token, top-1 agreement,
//     perplexity of both on the cached batch;
//   - bars of SQNR (dB) per layer (its worst activation/state point, and its worst weight), or per
//     point (toggle), with exact values in tooltips and a table of every point below;
//   - the batch's text as tokens coloured by the KL of predicting each token (legend, tooltip with
//     the exact value); a click selects a token and the bars then show each point's SQNR at that
//     token: which layers hurt it.
// A/B mode (a Comparison, views/error_ab.h: A pinned in the Quantization dock, B live): the two
// schemes' bars side by side in two colours with a legend, the end-to-end metrics of both and
// B − A, and a table with A, B and Δ columns; the text strip shows B's KL.
// Draws from an immutable Snapshot; computes no statistics (per-layer worst values are the
// snapshot's). All UI state lives in ViewState.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace ms::views::error {

struct PointRow {
  std::string name;  // `layers.3.out_proj.input`
  int layer = 0;
  bool state = false;   // ssm.state (else a Linear input)
  double sqnr_db = 0;   // +inf: exact
  double mse = 0, cosine = 1, max_abs = 0;
};

struct LayerRow {
  double worst_point_db = 0;   // lowest SQNR among the layer's activation/state points
  std::string worst_point;     // its name
  double worst_weight_db = 0;  // lowest SQNR among the layer's weights; +inf when they stay float
  std::string worst_weight;
};

struct Snapshot {
  std::string setting;  // "W4 channel sym · A8 dynamic token · H8 dsq"
  std::string status;   // "2 × 128 tokens on cpu · refreshed in 41 ms"
  int64_t id = 0;       // the request it answers
  double kl_mean = 0, kl_p90 = 0, kl_max = 0, top1 = 1, ppl_float = 0, ppl_quant = 0;
  std::vector<PointRow> points;    // forward order
  std::vector<PointRow> weights;   // forward order
  std::vector<LayerRow> layers;
  // The cached batch: windows × window_length tokens, window-major.
  int windows = 0, window_length = 0;
  std::vector<std::string> pieces;  // each token's text
  std::vector<float> token_kl;      // KL of predicting token k (NaN for a window's first token)
  float kl_scale_max = 1;           // the colour scale's top (the 99th percentile of token_kl)
  // token_sqnr[p * tokens + k]: point p's SQNR (dB) at token k; empty when not sent. +inf: exact.
  std::vector<float> token_sqnr;
};

struct ViewState {
  bool per_point = false;   // bars per point instead of per layer
  int selected_token = -1;  // the token whose per-point errors the bars show; -1: whole batch
};

struct Comparison;  // views/error_ab.h

// `ab`: A/B mode when not null (its `b` is then what the single-scheme parts show).
void draw(const Snapshot& snapshot, ViewState& state, const Comparison* ab = nullptr);

}  // namespace ms::views::error
