// report.html, written beside every export: one self-contained page (inline CSS and SVG, no
// scripts, no URLs, no external files) that says what was exported and what it cost, from the same
// JSON that report.json and mambascope.json hold. A reader of the page alone sees the model, the
// scheme, the calibration text and its token count (or that none was used), the end-to-end metrics
// (perplexity float vs quantized, KL, top-1; or why they were skipped), the per-layer weight error
// and the per-point activation/state error as charts and tables, the outlier channels per point
// with the channel maxima of the layer that has most of them, the SSM state map of one layer, the
// weights that lost the most, and the stored types and sizes.
//
// Not here: computing anything (the exporters and core/cli/quantize_report.h do; figures are drawn
// by core/export/svg_plot.h); the page only lays out what it is given.
#pragma once

#include <string>

#include <nlohmann/json_fwd.hpp>

namespace ms {

// `scheme`: mambascope.json; `report`: report.json (weights[], summary, dropped, and optional
// sizes, tensor_types, calibration, evaluation, end_to_end, points, outliers, views). Unknown or
// missing fields are left out of the page.
std::string export_report_html(const nlohmann::json& scheme, const nlohmann::json& report);

// HTML-escapes & < > " '.
std::string html_escape(const std::string& text);

}  // namespace ms
