// A/B comparison of two error-preview results (issue 6): A, a result pinned in the Quantization
// dock, against B, the live one. Both answer requant-serve on the same cached batch, so every
// difference is the schemes' own. Built once per new A or B (app/quant_panel.cpp), the
// Comparison holds what the error view draws in A/B mode: the two snapshots, their short labels,
// per-layer worst values side by side, the end-to-end metrics with B − A, and the A/B table (the
// same rows File › Export Table as CSV writes); a clicked token's per-point values of both come
// from points_at_token. Plain C++: no ImGui, no Qt.
//
// Δ is always B − A, computed once here. Where both sides are exact (SQNR +inf) Δ is 0: nothing
// changed (IEEE's inf − inf would be NaN); where one side alone is exact, Δ is ±inf.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "views/error_view.h"
#include "views/tables.h"

namespace ms::views::error {

struct AbMetric {
  std::string name;    // "perplexity (quantized)", "mean KL (nats)", "top-1 agreement (%)"
  double a = 0, b = 0, delta = 0;
  bool higher_is_better = false;
};

struct AbLayer {
  double a_point_db = 0, b_point_db = 0;    // the layer's worst activation/state point
  double a_weight_db = 0, b_weight_db = 0;  // its worst weight (+inf: float)
  std::string a_point, b_point;
};

struct AbPoint {  // an activation or state point (B's order), its SQNR under A (NaN: absent) and B
  std::string name;
  int layer = 0;
  double a_db = 0, b_db = 0;
  bool state = false;  // ssm.state (else a Linear input)
  int a_row = -1;      // its row in A's points (-1: absent), for A's per-token values
};

struct Comparison {
  std::shared_ptr<const Snapshot> a, b;
  std::string a_label, b_label;  // "A: W4 A8 H8 dsq", "B: W4 A8 H4 tensor"
  std::vector<AbMetric> metrics; // perplexity, mean KL, top-1
  std::vector<AbLayer> layers;
  std::vector<AbPoint> points;
  Table table;                   // error_ab_table(*a, *b)
};

// B − A with the exact-side rule above.
double ab_delta(double a, double b);

// One point's SQNR at one token of the batch under A and B, and Δ = B − A (ab_delta).
struct AbTokenPoint {
  std::string name;
  int layer = 0;
  bool state = false;
  double a_db = 0, b_db = 0, delta = 0;  // a_db NaN where A lacks the point
};
// Every point (B's order) at token `token` of the cached batch: the two snapshots' token_sqnr,
// looked up, not recomputed. Empty when either side has no per-token values, the batches differ
// in size, or the token is outside the batch.
std::vector<AbTokenPoint> points_at_token(const Comparison& c, int token);

std::shared_ptr<const Comparison> compare(std::shared_ptr<const Snapshot> a, std::shared_ptr<const Snapshot> b,
                                          std::string a_label, std::string b_label);

}  // namespace ms::views::error
