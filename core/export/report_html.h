// report.html, written beside every export: one self-contained page (inline CSS and SVG, no
// scripts, no external files) that says what was exported and what it cost, from the same JSON
// that report.json and mambascope.json hold. A reader of the page alone sees the model, the
// scheme, the calibration data (or that none was used), the per-layer weight error as a chart and
// a table, the weights that lost the most, the stored types and sizes, and end-to-end metrics
// when the export measured them.
//
// Not here: computing anything (the exporters do); the page only lays out what it is given.
#pragma once

#include <string>

#include <nlohmann/json_fwd.hpp>

namespace ms {

// `scheme`: mambascope.json; `report`: report.json (weights[], summary, dropped, and optional
// format, sizes, tensor_types, end_to_end). Unknown or missing fields are left out of the page.
std::string export_report_html(const nlohmann::json& scheme, const nlohmann::json& report);

// HTML-escapes & < > " '.
std::string html_escape(const std::string& text);

}  // namespace ms
