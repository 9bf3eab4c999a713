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
    for (const PointRow& pa : a->points)
      if (pa.name == pb.name) a_db = pa.sqnr_db;
    c->points.push_back({pb.name, pb.layer, a_db, pb.sqnr_db});
  }
  c->table = error_ab_table(*a, *b);
  c->a_label = std::move(a_label);
  c->b_label = std::move(b_label);
  c->a = std::move(a);
  c->b = std::move(b);
  return c;
}

}  // namespace ms::views::error
