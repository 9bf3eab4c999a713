// report.html layout. See report_html.h.
#include "core/export/report_html.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>
#include <set>

#include <nlohmann/json.hpp>

#include "core/export/svg_plot.h"

namespace ms {

using nlohmann::json;

namespace {

std::string fmt(double v, int digits = 2) {
  char b[64];
  std::snprintf(b, sizeof b, "%.*f", digits, v);
  return b;
}
std::string sci(double v) {
  char b[64];
  std::snprintf(b, sizeof b, "%.3g", v);
  return b;
}
std::string bytes_str(double b) {
  const char* units[] = {"B", "KB", "MB", "GB", "TB"};
  int u = 0;
  while (b >= 1024 && u < 4) b /= 1024, ++u;
  return fmt(b, u ? 1 : 0) + " " + units[u];
}
std::string text(const json& v) {
  if (v.is_string()) return html_escape(v.get<std::string>());
  if (v.is_null()) return "&mdash;";
  if (v.is_array() && !v.empty() && v[0].is_string()) {  // a list of names reads as a list
    std::string out;
    for (const json& e : v) out += (out.empty() ? "" : ", ") + (e.is_string() ? html_escape(e.get<std::string>()) : html_escape(e.dump()));
    return out;
  }
  return html_escape(v.dump());
}
std::string row(const std::string& k, const std::string& v) {
  return "<tr><th>" + html_escape(k) + "</th><td>" + v + "</td></tr>\n";
}

// `layers.3.in_proj.weight` -> (3, "in_proj"); other keys -> (-1, key).
std::pair<int, std::string> split_key(const std::string& key) {
  if (key.rfind("layers.", 0) != 0) return {-1, key};
  const std::size_t a = key.find('.', 7);
  const std::size_t b = key.find('.', a + 1);
  if (a == std::string::npos || b == std::string::npos) return {-1, key};
  return {std::stoi(key.substr(7, a - 7)), key.substr(a + 1, b - a - 1)};
}

// One colour per module, stable across reports.
const char* colour(const std::string& module) {
  static const std::map<std::string, const char*> c{{"in_proj", "#4477aa"}, {"x_proj", "#ee6677"},
                                                     {"dt_proj", "#228833"}, {"out_proj", "#ccbb44"},
                                                     {"embedding", "#66ccee"}, {"lm_head", "#aa3377"},
                                                     {"ssm", "#882255"}};
  const auto it = c.find(module);
  return it == c.end() ? "#bbbbbb" : it->second;
}

// Grouped bars: x = layer, one bar per module, y = SQNR in dB (higher is better). Exact weights
// (SQNR null = infinite) are drawn to the top with a mark.
std::string sqnr_chart(const json& weights) {
  std::map<int, std::map<std::string, double>> by_layer;
  std::vector<std::string> modules;
  for (const json& w : weights) {
    const auto [layer, module] = split_key(w.value("key", ""));
    if (layer < 0) continue;
    by_layer[layer][module] = w["sqnr_db"].is_number() ? w["sqnr_db"].get<double>() : INFINITY;
    if (std::find(modules.begin(), modules.end(), module) == modules.end()) modules.push_back(module);
  }
  if (by_layer.empty()) return "<p>No per-layer weights to chart.</p>";
  svg::BarChart c;
  c.label = "Weight SQNR per layer";
  c.x_label = "layer";
  c.y_label = "SQNR dB";
  c.unit = " dB";
  for (const auto& [layer, v] : by_layer) c.categories.push_back(std::to_string(layer));
  for (const std::string& m : modules) {
    svg::BarSeries s{m, colour(m), {}};
    for (const auto& [layer, v] : by_layer) s.values.push_back(v.count(m) ? v.at(m) : std::nan(""));
    c.series.push_back(s);
  }
  return svg::bar_chart(c);
}

double number(const json& v, double fallback = std::nan("")) { return v.is_number() ? v.get<double>() : fallback; }

// End-to-end metrics, or why they are missing.
std::string end_to_end_rows(const json& report) {
  const json ev = report.value("evaluation", json());
  const json e = report.value("end_to_end", json());
  if (!e.is_object()) {
    const std::string why = ev.is_object() ? ev.value("reason", std::string("not measured")) : "not measured";
    return row("end to end", "<span class='warn'>skipped: " + html_escape(why) + "</span>");
  }
  const double pf = number(e["perplexity_float"]), pq = number(e["perplexity_quant"]);
  std::string h = row("perplexity", fmt(pf, 3) + " float &rarr; <b>" + fmt(pq, 3) + "</b> quantized (&Delta; " +
                                        (pq >= pf ? "+" : "") + fmt(pq - pf, 3) + ", " + (pq >= pf ? "+" : "") +
                                        fmt(100 * (pq - pf) / pf, 2) + " %)");
  h += row("KL(float \u2016 quantized)", "mean " + sci(number(e["kl_mean"])) + ", p50 " + sci(number(e["kl_p50"])) +
                                              ", p90 " + sci(number(e["kl_p90"])) + ", <b>p99 " +
                                              sci(number(e["kl_p99"])) + "</b>, max " + sci(number(e["kl_max"])) +
                                              " nats per token");
  h += row("top-1 agreement", fmt(100 * number(e["top1_agreement"]), 2) + " % of predicted tokens");
  const json t = ev.value("text", json::object());
  std::string on = text(json(std::to_string(e.value("tokens", 0)))) + " predicted tokens in " +
                   std::to_string(e.value("windows", 0)) + " window(s) of " + std::to_string(ev.value("ctx", 0)) + " (state reset per window), ";
  if (t.value("source", "") == "--eval-file")
    on += "<code>" + text(t.value("file", json())) + "</code>";
  else
    on += "held-out calibration text: its tokens from " + std::to_string(t.value("first_token", 0)) +
          " on, past the <code>--calib-tokens</code> any calibration reads";
  h += row("measured on", on + "; " + text(ev.value("activations_state", json())) + "; CPU, fp32");
  if (ev.contains("points")) h += row("per-point errors", text(ev["points"]));
  return h;
}

// The points of report["points"] as bars per layer: one series per site (`in_proj.input`, `ssm.state`).
std::string point_error_section(const json& points) {
  if (!points.is_array() || points.empty()) return "";
  std::map<int, std::map<std::string, double>> by_layer;
  std::vector<std::string> sites;
  for (const json& p : points) {
    const auto [layer, module] = split_key(p.value("point", ""));
    if (layer < 0) continue;
    const std::string key = p.value("point", "");
    const std::string site = key.substr(key.find('.', 7) + 1);
    by_layer[layer][site] = p["sqnr_db"].is_number() ? p["sqnr_db"].get<double>() : INFINITY;
    if (std::find(sites.begin(), sites.end(), site) == sites.end()) sites.push_back(site);
  }
  svg::BarChart c;
  c.label = "Activation and state SQNR per layer";
  c.x_label = "layer";
  c.y_label = "SQNR dB";
  c.unit = " dB";
  for (const auto& [layer, v] : by_layer) c.categories.push_back(std::to_string(layer));
  for (const std::string& site : sites) {
    svg::BarSeries s{site, colour(site.substr(0, site.find('.'))), {}};
    for (const auto& [layer, v] : by_layer) s.values.push_back(v.count(site) ? v.at(site) : std::nan(""));
    c.series.push_back(s);
  }
  std::string h = "<h2 id='point-errors'>Activation and state error per layer</h2>\n<p class='sub'>The float model "
                  "and the export on the same windows: each point's SQNR over one window's values (what the next "
                  "layer or step reads, so it carries every earlier layer's error). MSE, cosine and max error: "
                  "report.json, and on hover.</p>\n" + svg::bar_chart(c);
  // One row per layer, one column per site: 30 points read as a matrix, not as a list.
  std::map<std::string, json> by_name;
  for (const json& p : points) by_name[p.value("point", "")] = p;
  h += "<table>\n<tr><th>layer</th>";
  for (const std::string& site : sites) h += "<th>" + html_escape(site) + " dB</th>";
  h += "</tr>\n";
  for (const auto& [layer, v] : by_layer) {
    h += "<tr><td class='n'>" + std::to_string(layer) + "</td>";
    for (const std::string& site : sites) {
      const auto it = by_name.find("layers." + std::to_string(layer) + "." + site);
      if (it == by_name.end()) {
        h += "<td></td>";
        continue;
      }
      const json& p = it->second;
      h += "<td class='n' title='MSE " + sci(p.value("mse", 0.0)) + ", cosine " + fmt(p.value("cosine", 0.0), 6) +
           ", max |error| " + sci(p.value("max_abs_error", 0.0)) + "'>" +
           (p["sqnr_db"].is_number() ? fmt(p["sqnr_db"].get<double>()) : "exact") + "</td>";
    }
    h += "</tr>\n";
  }
  return h + "</table>\n";
}

// Outlier channels per point, the channel maxima of the layer with most of them, and the state map.
std::string statistics_sections(const json& report) {
  const json o = report.value("outliers", json());
  if (!o.is_object()) return "";
  const json views = report.value("views", json::object());
  const json cal = report.value("calibration", json::object());
  std::string h = "<h2 id='outliers'>Outlier channels</h2>\n<p class='sub'>" + text(o.value("rule", json())) +
                  ". Statistics of the source model on " + text(json(std::to_string(cal.value("tokens", 0)))) +
                  " calibration tokens. " + std::to_string(o.value("total", 0)) +
                  " outlier channels in all.</p>\n";
  if (views.contains("channel_maxima")) {
    const json& v = views["channel_maxima"];
    svg::ChannelProfile p;
    p.label = "Channel maxima of " + v.value("point", "");
    p.y_label = "channel absmax";
    p.values = v.value("absmax", std::vector<double>{});
    p.mean = number(v["mean"], 0);
    p.std = number(v["std"], 0);
    p.sigmas = number(v["sigmas"], 6);
    p.marked = v.value("outliers", std::vector<int64_t>{});
    h += "<h3>Channel maxima of <code>" + text(v.value("point", json())) + "</code> (the layer with most outliers)</h3>\n" +
         svg::channel_profile(p) + "<p class='sub'>Shaded: mean &plusmn; " + fmt(p.sigmas, 0) +
         "&sigma; of the layer's channel absmaxes; red: channels beyond it.</p>\n";
  }
  h += "<table>\n<tr><th>point</th><th>channels</th><th>outliers</th><th>largest (channel: absmax, &sigma; above the "
       "mean, &times; mean)</th></tr>\n";
  int shown = 0;
  for (const json& p : o.value("points", json::array())) {
    if (p.value("count", 0) == 0) continue;
    std::string top;
    for (const json& t : p.value("top", json::array()))
      top += (top.empty() ? "" : "; ") + std::to_string(t.value("channel", 0)) + ": " + sci(number(t["absmax"], 0)) +
             ", " + fmt(number(t["sigmas"], 0), 1) + "&sigma;, " + fmt(number(t["times_mean"], 0), 1) + "&times;";
    if (p.value("count", 0) > int(p.value("top", json::array()).size())) top += "; &hellip;";
    h += "<tr><td><code>" + text(p.value("point", json())) + "</code></td><td class='n'>" +
         std::to_string(p.value("channels", 0)) + "</td><td class='n'>" + std::to_string(p.value("count", 0)) +
         "</td><td>" + top + "</td></tr>\n";
    ++shown;
  }
  if (!shown) h += "<tr><td colspan='4'>none: no channel stands 6&sigma; above its layer's mean</td></tr>\n";
  h += "</table>\n";
  if (views.contains("state_heatmap")) {
    const json& v = views["state_heatmap"];
    svg::Heatmap m;
    m.label = "State absmax of " + v.value("point", "");
    m.x_label = "channel" + std::string(v.value("head_dim", 0) > 0 ? " (head-major: head · head_dim + dim)" : "");
    m.y_label = "state";
    m.rows = v.value("states", int64_t{0});
    m.cols = v.value("columns", int64_t{0});
    m.col_step = v.value("channels_per_column", int64_t{1});
    m.values = v.value("absmax", std::vector<double>{});
    m.cell_height = m.rows > 32 ? 4 : 12;
    m.marked = v.value("outlier_channels", std::vector<int64_t>{});
    if (m.rows > 0 && m.cols > 0 && std::size_t(m.rows * m.cols) == m.values.size()) {
      const std::size_t n_out = v.value("outlier_channels", json::array()).size();
      h += "<h2 id='state'>SSM state of <code>" + text(v.value("point", json())) + "</code></h2>\n<p class='sub'>|state| "
           "maximum over every calibration token, per channel and state, log colour scale" +
           (m.col_step > 1 ? ", each column the max of " + std::to_string(m.col_step) + " channels" : std::string()) +
           ". The layer whose state has most outlier channels (" + std::to_string(n_out) +
           ", marked): what per-tensor state quantization must span and DSQ's channel scales absorb.</p>\n" + svg::heatmap(m);
    }
  }
  return h;
}

// What calibration text the scheme read, and what the report's statistics and metrics read.
std::string calibration_text(const json& scheme, const json& report) {
  const auto texts = [](const json& list) {
    std::string t;
    for (const json& x : list)
      t += (t.empty() ? "" : ", ") + std::string("<code>") + text(x.value("file", json())) + "</code> (SHA-256 " +
           html_escape(x.value("sha256", std::string()).substr(0, 12)) + "&hellip;" +
           (x.contains("tokens") ? ", " + std::to_string(x.value("tokens", 0)) + " tokens" : std::string()) + ")";
    return t;
  };
  std::string used;
  const json stats = scheme.value("statistics", json());
  if (stats.is_object() && stats.contains("file")) used += "statistics file <code>" + text(stats["file"]) + "</code>. ";
  if (stats.is_object())
    for (const json& c : stats.value("collected", json::array()))
      used += "statistics on " + std::to_string(c.value("tokens", 0)) + " tokens of " + texts(c.value("texts", json::array())) +
              " in sequences of " + std::to_string(c.value("seq_len", 0)) +
              (c.value("covariance", false) ? ", with covariance" : "") + ". ";
  const json g = scheme.value("weights", json::object()).value("gptq", json());
  if (g.is_object() && g.contains("calibration")) {
    const json& c = g["calibration"];
    used += "GPTQ on " + std::to_string(c.value("windows", 0)) + " windows of " + std::to_string(c.value("seq_len", 0)) +
            " tokens of " + texts(c.value("texts", json::array())) + ". ";
  }
  if (used.empty()) used = "the scheme reads none: it rounds weights on their own. ";
  const json cal = report.value("calibration", json());
  if (cal.is_object()) {
    const std::string st = cal.value("status", "");
    if (st == "collected")
      used += "This report's statistics: " + std::to_string(cal.value("tokens", 0)) + " tokens of " +
              texts(cal.value("texts", json::array())) + " through the source model.";
    else if (st == "file")
      used += "This report's statistics: <code>" + text(cal.value("file", json())) + "</code> (" +
              std::to_string(cal.value("tokens", 0)) + " tokens).";
    else
      used += "No statistics for this report: " + text(cal.value("reason", json()));
  }
  return used;
}

}  // namespace

std::string html_escape(const std::string& t) {
  std::string o;
  o.reserve(t.size());
  for (char c : t) switch (c) {
      case '&': o += "&amp;"; break;
      case '<': o += "&lt;"; break;
      case '>': o += "&gt;"; break;
      case '"': o += "&quot;"; break;
      case '\'': o += "&#39;"; break;
      default: o += c;
    }
  return o;
}

std::string export_report_html(const json& scheme, const json& report) {
  const json src = scheme.value("source", json::object());
  const json w = scheme.value("weights", json::object());
  const std::string model = src.value("path", std::string("(unknown model)"));
  const std::string format = scheme.value("format", std::string("?"));
  std::string h =
      "<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>\n<title>MambaScope export: " +
      html_escape(model) + "</title>\n<style>\n"
      "body{font:14px/1.45 system-ui,-apple-system,'Segoe UI',sans-serif;margin:24px auto;max-width:960px;"
      "color:#222;padding:0 16px}\nh1{font-size:22px;margin-bottom:4px}h2{font-size:17px;margin-top:28px;"
      "border-bottom:1px solid #ddd;padding-bottom:3px}\ntable{border-collapse:collapse;margin:8px 0}"
      "th,td{padding:3px 10px;text-align:left;border-bottom:1px solid #eee;vertical-align:top}\n"
      "th{font-weight:600;color:#444;white-space:nowrap}td.n{text-align:right;font-variant-numeric:tabular-nums}\n"
      ".sub{color:#666;margin-top:0}.warn{background:#fff4e0;border-left:4px solid #e0a030;padding:6px 10px}\n"
      "h3{font-size:15px;margin-bottom:2px}code{background:#f4f4f4;padding:0 3px}\n</style></head><body>\n";
  h += "<h1>Export report</h1>\n<p class='sub'><code>" + html_escape(model) + "</code> &rarr; " +
       html_escape(format) + " export, MambaScope " + text(scheme.value("version", json())) + "</p>\n";

  // What was done.
  h += "<h2>What was exported</h2>\n<table>\n";
  h += row("model", "<code>" + html_escape(model) + "</code> (" + text(src.value("model_type", json())) + ", " +
                        text(src.value("layout", json())) + " layout)");
  h += row("format", html_escape(format) + (report.contains("format_note") ? " &mdash; " + text(report["format_note"]) : ""));
  h += row("methods", text(scheme.value("methods", json::array())));
  std::string wdesc = text(w.value("method", json())) + ", " + text(w.value("bits", json())) + " bits, " +
                      text(w.value("granularity", json()));
  if (w.value("group_size", json()).is_number()) wdesc += " of " + text(w["group_size"]);
  wdesc += w.value("symmetric", true) ? ", symmetric" : ", asymmetric";
  if (w.contains("gguf_type")) wdesc = "ggml " + text(w["gguf_type"]) + " blocks of 32 (llama.cpp's rounding)";
  h += row("weights", wdesc);
  h += row("quantized modules", text(w.value("modules", json::array())));
  h += row("kept in float", text(w.value("kept_float", json::array())));
  h += row("activations / state", "A" + text(scheme.value("activations", json::object()).value("bits", json(16))) +
                                       " / H" + text(scheme.value("state", json::object()).value("bits", json(16))) +
                                       " (16 = not quantized)");
  h += row("calibration", calibration_text(scheme, report));
  h += "</table>\n";
  for (const json& d : report.value("dropped", json::array()))
    h += "<p class='warn'>Dropped: " + text(d) + "</p>\n";

  // What it cost.
  const json sum = report.value("summary", json::object());
  h += "<h2>What it cost</h2>\n<table>\n";
  h += row("weights quantized", text(sum.value("quantized", json())));
  if (sum.value("min_sqnr_db", json()).is_number())
    h += row("SQNR, worst / mean", fmt(sum["min_sqnr_db"].get<double>()) + " dB / " +
                                       (sum.value("mean_sqnr_db", json()).is_number()
                                            ? fmt(sum["mean_sqnr_db"].get<double>()) + " dB"
                                            : std::string("(some weights exact)")));
  if (report.contains("sizes")) {
    const json& z = report["sizes"];
    const double a = z.value("source_bytes", 0.0), b = z.value("export_bytes", 0.0);
    h += row("size", bytes_str(a) + " &rarr; " + bytes_str(b) + (b > 0 ? " (" + fmt(a / b) + "&times; smaller)" : ""));
  }
  h += end_to_end_rows(report);
  h += "</table>\n";

  // Per layer.
  const json weights = report.value("weights", json::array());
  h += "<h2>Weight error per layer</h2>\n<p class='sub'>SQNR = 10&middot;log10(&Vert;w&Vert;&sup2;/&Vert;w&minus;"
       "&#375;&Vert;&sup2;), &#375; as stored. Each 6 dB is about one bit.</p>\n" + sqnr_chart(weights);
  h += point_error_section(report.value("points", json()));
  h += statistics_sections(report);

  // Worst weights first: where a better method would pay most.
  std::vector<json> sorted(weights.begin(), weights.end());
  std::stable_sort(sorted.begin(), sorted.end(), [](const json& a, const json& b) {
    const double x = a["sqnr_db"].is_number() ? a["sqnr_db"].get<double>() : 1e300;
    const double y = b["sqnr_db"].is_number() ? b["sqnr_db"].get<double>() : 1e300;
    return x < y;
  });
  h += "<h2>Every quantized weight, worst first</h2>\n<table>\n<tr><th>weight</th><th>shape</th><th>SQNR dB</th>"
       "<th>MSE</th><th>cosine</th><th>max |error|</th>" +
       std::string(report.contains("tensor_types") ? "<th>stored as</th>" : "") + "</tr>\n";
  std::map<std::string, std::string> types;
  if (report.contains("tensor_types"))
    for (const json& t : report["tensor_types"]) types[t.value("source", "")] = t.value("type", "");
  for (const json& e : sorted) {
    const std::string key = e.value("key", "");
    h += "<tr><td><code>" + html_escape(key) + "</code></td><td>" + text(e.value("shape", json())) +
         "</td><td class='n'>" + (e["sqnr_db"].is_number() ? fmt(e["sqnr_db"].get<double>()) : "exact") +
         "</td><td class='n'>" + sci(e.value("mse", 0.0)) + "</td><td class='n'>" + fmt(e.value("cosine", 0.0), 6) +
         "</td><td class='n'>" + sci(e.value("max_abs_error", 0.0)) + "</td>" +
         (types.empty() ? "" : "<td>" + html_escape(types[key]) + "</td>") + "</tr>\n";
  }
  h += "</table>\n";
  if (report.contains("tensor_types")) {
    std::map<std::string, int> count;
    for (const json& t : report["tensor_types"]) ++count[t.value("type", "?")];
    std::string c;
    for (const auto& [t, n] : count) c += (c.empty() ? "" : ", ") + std::to_string(n) + " &times; " + html_escape(t);
    h += "<h2>Stored tensor types</h2>\n<p>" + c +
         ". Rows whose length is not a multiple of 32 cannot be Q8_0/Q4_0 blocks and stay F16; conv, A, D, "
         "biases and norms stay F32, as llama.cpp's converter does.</p>\n";
  }
  h += "<p class='sub'>Files beside this page: <code>mambascope.json</code> (the scheme), <code>report.json</code> "
       "(these numbers).</p>\n</body></html>\n";
  return h;
}

}  // namespace ms
