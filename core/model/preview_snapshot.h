// What a method does to one quant point, before and after (issue 6, the distributions view's
// "after" side): a plain, torch-free value that `mambascope-cli preview --json` prints and the app
// reads back, so the view draws from it without LibTorch. core/quant/method_preview.h fills it;
// this file only holds the type and its JSON conversion (both directions, so the CLI and the app
// agree on one format by construction).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/model/quant_point.h"

namespace ms {

// The error of one quantizer on the values themselves: mean square of the values, MSE of
// x - Q(x), SQNR = 10 log10(mean_square / mse) (+inf when mse is 0; JSON writes null).
struct QuantError {
  std::string quantizer;     // "A8 per-tensor RTN", "H8 dsq abs.mean.sqrt", "H8 tensor"
  double mean_square = 0.0;
  double mse = 0.0;
  double sqnr_db = 0.0;
};

// One side (before or after) of a point's values.
struct DistributionSide {
  std::vector<float> channel_absmax;   // [C] (state: C = rows, E or H·P, over tokens and states)
  std::vector<double> channel_var;     // [C] population variance over the rows of values
  std::vector<int64_t> hist;           // [kHistBins] counts of |x| on the statistics file's bins
  double absmax = 0.0;                 // max over channels
  double absmax_cv = 0.0;              // population std / mean of channel_absmax
  double var_cv = 0.0;                 // the same of channel_var
  QuantError error;                    // per-tensor RTN at `bits` (state: the quantizer compared)
};

struct PreviewSnapshot {
  QuantPoint point;
  std::string method;                  // hadamard | klt | smoothquant | dsq
  std::string transform;               // what was applied, in words ("X·H/√512", "X / s, α = 0.5", ...)
  int bits = 8;
  double alpha = 0.5;                  // SmoothQuant only
  int64_t tokens = 0;                  // tokens whose values were captured
  std::vector<double> hist_edges;      // [kHistBins + 1], shared by both sides
  DistributionSide before, after;
  std::vector<double> smoothing;       // SmoothQuant's s [C]; empty otherwise
  std::vector<QuantError> state_errors;  // ssm.state: every state quantizer at `bits`

  bool is_state() const { return point.site == Site::State; }
};

std::string preview_to_json(const PreviewSnapshot& p);  // one line
// InputError naming `where` (a file or "mambascope-cli preview") on malformed input.
PreviewSnapshot preview_from_json(const std::string& text, const std::string& where);

// Population std / mean; 0 for an empty vector or a zero mean.
double coefficient_of_variation_of(const std::vector<double>& v);

}  // namespace ms
