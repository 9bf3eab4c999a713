// JSON of a PreviewSnapshot (see preview_snapshot.h). Infinite SQNR (an error-free quantizer) is
// written as null, since JSON has no infinity, and read back as +inf.
#include "core/model/preview_snapshot.h"

#include <cmath>
#include <limits>

#include <nlohmann/json.hpp>

#include "core/util/error.h"

namespace ms {
namespace {

using nlohmann::json;

json number(double v) { return std::isfinite(v) ? json(v) : json(nullptr); }
double number_of(const json& j) { return j.is_null() ? std::numeric_limits<double>::infinity() : j.get<double>(); }

json error_json(const QuantError& e) {
  return {{"quantizer", e.quantizer}, {"mean_square", e.mean_square}, {"mse", e.mse}, {"sqnr_db", number(e.sqnr_db)}};
}
QuantError error_of(const json& j) {
  return {j.at("quantizer").get<std::string>(), j.at("mean_square").get<double>(), j.at("mse").get<double>(),
          number_of(j.at("sqnr_db"))};
}

json side_json(const DistributionSide& s) {
  return {{"channel_absmax", s.channel_absmax}, {"channel_var", s.channel_var}, {"hist", s.hist},
          {"absmax", s.absmax}, {"absmax_cv", s.absmax_cv}, {"var_cv", s.var_cv}, {"error", error_json(s.error)}};
}
DistributionSide side_of(const json& j) {
  DistributionSide s;
  s.channel_absmax = j.at("channel_absmax").get<std::vector<float>>();
  s.channel_var = j.at("channel_var").get<std::vector<double>>();
  s.hist = j.at("hist").get<std::vector<int64_t>>();
  s.absmax = j.at("absmax").get<double>();
  s.absmax_cv = j.at("absmax_cv").get<double>();
  s.var_cv = j.at("var_cv").get<double>();
  s.error = error_of(j.at("error"));
  return s;
}

}  // namespace

double coefficient_of_variation_of(const std::vector<double>& v) {
  if (v.empty()) return 0.0;
  double sum = 0.0;
  for (const double x : v) sum += x;
  const double mean = sum / static_cast<double>(v.size());
  double sq = 0.0;
  for (const double x : v) sq += (x - mean) * (x - mean);
  return mean > 0.0 ? std::sqrt(sq / static_cast<double>(v.size())) / mean : 0.0;
}

std::string preview_to_json(const PreviewSnapshot& p) {
  json j{{"point", p.point.str()}, {"method", p.method}, {"transform", p.transform}, {"bits", p.bits},
         {"alpha", p.alpha}, {"tokens", p.tokens}, {"hist_edges", p.hist_edges},
         {"before", side_json(p.before)}, {"after", side_json(p.after)}, {"smoothing", p.smoothing}};
  json errors = json::array();
  for (const QuantError& e : p.state_errors) errors.push_back(error_json(e));
  j["state_errors"] = errors;
  return j.dump();
}

PreviewSnapshot preview_from_json(const std::string& text, const std::string& where) {
  try {
    const json j = json::parse(text);
    PreviewSnapshot p;
    const auto point = QuantPoint::parse(j.at("point").get<std::string>());
    if (!point) throw InputError(where, "'" + j.at("point").get<std::string>() + "' is not a quant point");
    p.point = *point;
    p.method = j.at("method").get<std::string>();
    p.transform = j.at("transform").get<std::string>();
    p.bits = j.at("bits").get<int>();
    p.alpha = j.at("alpha").get<double>();
    p.tokens = j.at("tokens").get<int64_t>();
    p.hist_edges = j.at("hist_edges").get<std::vector<double>>();
    p.before = side_of(j.at("before"));
    p.after = side_of(j.at("after"));
    p.smoothing = j.at("smoothing").get<std::vector<double>>();
    for (const json& e : j.at("state_errors")) p.state_errors.push_back(error_of(e));
    if (p.before.hist.size() + 1 != p.hist_edges.size() || p.after.hist.size() + 1 != p.hist_edges.size())
      throw InputError(where, "histogram and edges disagree in length");
    return p;
  } catch (const json::exception& e) {
    throw InputError(where, std::string("malformed preview JSON: ") + e.what());
  }
}

}  // namespace ms
