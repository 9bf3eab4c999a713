// report.html layout. See report_html.h.
#include "core/export/report_html.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>
#include <set>

#include <nlohmann/json.hpp>

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
                                                     {"embedding", "#66ccee"}, {"lm_head", "#aa3377"}};
  const auto it = c.find(module);
  return it == c.end() ? "#bbbbbb" : it->second;
}

// Grouped bars: x = layer, one bar per module, y = SQNR in dB (higher is better). Exact weights
// (SQNR null = infinite) are drawn to the top with a mark.
std::string sqnr_chart(const json& weights) {
  std::map<int, std::map<std::string, json>> by_layer;
  std::vector<std::string> modules;
  double top = 10;
  for (const json& w : weights) {
    const auto [layer, module] = split_key(w.value("key", ""));
    if (layer < 0) continue;
    by_layer[layer][module] = w["sqnr_db"];
    if (std::find(modules.begin(), modules.end(), module) == modules.end()) modules.push_back(module);
    if (w["sqnr_db"].is_number()) top = std::max(top, w["sqnr_db"].get<double>());
  }
  if (by_layer.empty()) return "<p>No per-layer weights to chart.</p>";
  top = std::ceil(top / 20) * 20;  // grid lines every top/4: whole multiples of 5 dB
  const int W = 880, H = 300, left = 48, bottom = 36, plot_h = H - bottom - 16;
  const int n_layers = int(by_layer.size()), per = int(modules.size());
  const double slot = double(W - left - 10) / n_layers, bar = std::max(2.0, (slot - 6) / per);
  std::string s = "<svg xmlns='http://www.w3.org/2000/svg' width='" + std::to_string(W) + "' height='" +
                  std::to_string(H + 24) + "' role='img' aria-label='SQNR per layer'>\n";
  for (int t = 0; t <= 4; ++t) {  // grid and y labels
    const double v = top * t / 4, y = 16 + plot_h * (1 - double(t) / 4);
    s += "<line x1='" + std::to_string(left) + "' x2='" + std::to_string(W - 10) + "' y1='" + fmt(y, 1) +
         "' y2='" + fmt(y, 1) + "' stroke='#ddd'/><text x='" + std::to_string(left - 6) + "' y='" + fmt(y + 4, 1) +
         "' text-anchor='end' font-size='11'>" + fmt(v, 0) + "</text>\n";
  }
  s += "<text x='12' y='" + std::to_string(16 + plot_h / 2) + "' font-size='11' transform='rotate(-90 12 " +
       std::to_string(16 + plot_h / 2) + ")' text-anchor='middle'>SQNR dB</text>\n";
  int li = 0;
  for (const auto& [layer, mods] : by_layer) {
    const double x0 = left + li * slot + 3;
    for (int m = 0; m < per; ++m) {
      const auto it = mods.find(modules[std::size_t(m)]);
      if (it == mods.end()) continue;
      const bool exact = !it->second.is_number();
      const double v = exact ? top : std::max(0.0, it->second.get<double>());
      const double h = plot_h * v / top, x = x0 + m * bar;
      s += "<rect x='" + fmt(x, 1) + "' y='" + fmt(16 + plot_h - h, 1) + "' width='" + fmt(bar - 1, 1) +
           "' height='" + fmt(h, 1) + "' fill='" + colour(modules[std::size_t(m)]) + "'><title>layer " +
           std::to_string(layer) + " " + html_escape(modules[std::size_t(m)]) + ": " +
           (exact ? std::string("exact") : fmt(it->second.get<double>()) + " dB") + "</title></rect>\n";
      if (exact)  // stored without loss: the bar is capped, say so
        s += "<text x='" + fmt(x + bar / 2 - 0.5, 1) + "' y='13' text-anchor='middle' font-size='10'>&#8734;</text>\n";
    }
    if (n_layers <= 32 || layer % (n_layers / 16) == 0)
      s += "<text x='" + fmt(x0 + slot / 2 - 3, 1) + "' y='" + std::to_string(H - bottom + 14) +
           "' text-anchor='middle' font-size='11'>" + std::to_string(layer) + "</text>\n";
    ++li;
  }
  s += "<text x='" + std::to_string(left + (W - left) / 2) + "' y='" + std::to_string(H - 6) +
       "' text-anchor='middle' font-size='11'>layer</text>\n";
  double lx = left;
  for (const std::string& m : modules) {  // legend
    s += "<rect x='" + fmt(lx, 0) + "' y='" + std::to_string(H + 8) + "' width='10' height='10' fill='" + colour(m) +
         "'/><text x='" + fmt(lx + 14, 0) + "' y='" + std::to_string(H + 17) + "' font-size='11'>" +
         html_escape(m) + "</text>\n";
    lx += 24 + 7.0 * double(m.size());
  }
  return s + "</svg>\n";
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
      "th{font-weight:600;color:#444}td.n{text-align:right;font-variant-numeric:tabular-nums}\n"
      ".sub{color:#666;margin-top:0}.warn{background:#fff4e0;border-left:4px solid #e0a030;padding:6px 10px}\n"
      "code{background:#f4f4f4;padding:0 3px}\n</style></head><body>\n";
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
  const json stats = scheme.value("statistics", json());
  h += row("calibration", stats.is_null() ? std::string("none: this scheme rounds weights on their own and reads no "
                                                        "calibration text")
                                          : text(stats));
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
  const json e2e = report.value("end_to_end", json());
  if (e2e.is_object()) {
    for (const auto& [k, v] : e2e.items()) h += row(k, v.is_number() ? fmt(v.get<double>(), 4) : text(v));
  } else {
    h += row("end to end", "not measured here: <code>mambascope-cli perplexity</code> on this export and on the "
                           "source gives the perplexity change");
  }
  h += "</table>\n";

  // Per layer.
  const json weights = report.value("weights", json::array());
  h += "<h2>Weight error per layer</h2>\n<p class='sub'>SQNR = 10&middot;log10(&Vert;w&Vert;&sup2;/&Vert;w&minus;"
       "&#375;&Vert;&sup2;), &#375; as stored. Each 6 dB is about one bit.</p>\n" + sqnr_chart(weights);

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
