// A/B comparison of two error-preview results (see error_ab.h).
#include "views/error_ab.h"

#include <algorithm>
#include <cmath>
#include <utility>

namespace ms::views::error {

double ab_delta(double a, double b) {
  if (std::isinf(a) && std::isinf(b) && (a > 0) == (b > 0)) return 0.0;  // both exact: unchanged
  return b - a;
}

std::shared_ptr<const Comparison> compare(std::shared_ptr<const Snapshot> a, std::shared_ptr<const Snapshot> b,
                                          std::string a_label, std::string b_label) {
  auto c = std::make_shared<Comparison>();
  const auto metric = [](std::string name, double va, double vb, bool higher_is_better) {
    return AbMetric{std::move(name), va, vb, vb - va, higher_is_better};
  };
  c->metrics = {metric("perplexity (quantized)", a->ppl_quant, b->ppl_quant, false),
                metric("mean KL (nats)", a->kl_mean, b->kl_mean, false),
                // In percent, as the view prints it: the difference is then in points.
                metric("top-1 agreement (%)", 100.0 * a->top1, 100.0 * b->top1, true)};
  const std::size_t layers = std::min(a->layers.size(), b->layers.size());
  for (std::size_t i = 0; i < layers; ++i) {
    const LayerRow& la = a->layers[i];
    const LayerRow& lb = b->layers[i];
    c->layers.push_back({la.worst_point_db, lb.worst_point_db, la.worst_weight_db, lb.worst_weight_db, la.worst_point,
                         lb.worst_point});
  }
  for (const PointRow& pb : b->points) {
    double a_db = std::nan("");
    int a_row = -1;
    for (std::size_t i = 0; i < a->points.size(); ++i)
      if (a->points[i].name == pb.name) {
        a_db = a->points[i].sqnr_db;
        a_row = static_cast<int>(i);
      }
    c->points.push_back({pb.name, pb.layer, a_db, pb.sqnr_db, pb.state, a_row});
  }
  c->table = error_ab_table(*a, *b);
  c->a_label = std::move(a_label);
  c->b_label = std::move(b_label);
  c->a = std::move(a);
  c->b = std::move(b);
  return c;
}

std::vector<AbTokenPoint> points_at_token(const Comparison& c, int token) {
  std::vector<AbTokenPoint> out;
  const Snapshot& a = *c.a;
  const Snapshot& b = *c.b;
  const int tokens = b.windows * b.window_length;
  // Both answer the same cached batch; a mismatch (another model's A) shows nothing, not wrong pairs.
  if (token < 0 || token >= tokens || a.windows * a.window_length != tokens) return out;
  const auto at = [token, tokens](const Snapshot& s, std::size_t row) {
    return static_cast<double>(s.token_sqnr[row * static_cast<std::size_t>(tokens) + static_cast<std::size_t>(token)]);
  };
  if (b.token_sqnr.size() != b.points.size() * static_cast<std::size_t>(tokens) ||
      a.token_sqnr.size() != a.points.size() * static_cast<std::size_t>(tokens))
    return out;
  for (std::size_t i = 0; i < c.points.size(); ++i) {
    const AbPoint& p = c.points[i];
    const double a_db = p.a_row >= 0 ? at(a, static_cast<std::size_t>(p.a_row)) : std::nan("");
    const double b_db = at(b, i);
    out.push_back({p.name, p.layer, p.state, a_db, b_db, ab_delta(a_db, b_db)});
  }
  return out;
}

}  // namespace ms::views::error
