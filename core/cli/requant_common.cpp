#include "core/cli/requant_common.h"

#include <cmath>

#include "core/cli/scheme_args.h"

namespace ms::cli {
using nlohmann::json;

json requant_result_json(const RequantResult& r, double ms) {
  json points = json::array(), weights = json::array();
  for (const PointError& p : r.points) points.push_back(error_json(p.point, p.error));
  for (const PointError& w : r.weights) weights.push_back(error_json(w.point, w.error));
  json j{{"type", "result"},
         {"id", r.id},
         {"ms", ms},
         {"end_to_end", end_to_end_json(r.end_to_end)},
         {"points", points},
         {"weights", weights},
         {"kl", r.kl},
         {"weights_rounded", r.weights_rounded},
         {"model_reloaded", r.model_reloaded}};
  if (!r.token_sqnr.empty()) {
    json t = json::array();
    for (float v : r.token_sqnr) t.push_back(std::isfinite(v) ? json(v) : json(nullptr));
    j["token_sqnr"] = std::move(t);
  }
  return j;
}

std::string json_line(const json& j) {
  return j.dump(-1, ' ', false, json::error_handler_t::replace) + "\n";
}

}  // namespace ms::cli
