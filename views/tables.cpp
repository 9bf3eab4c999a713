// Tables of the views and their CSV form (see tables.h).
#include "views/tables.h"

#include <charconv>
#include <cmath>

#include "views/error_ab.h"
#include "views/text_format.h"

namespace ms::views {
namespace {

template <typename T>
std::string shortest(T v) {
  if (std::isnan(v)) return "nan";
  if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
  char buf[64];
  const auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
  return ec == std::errc() ? std::string(buf, end) : fmt("%.17g", static_cast<double>(v));
}

std::string db_text(double v) {
  if (std::isinf(v)) return v > 0 ? "exact" : "-inf";
  return fmt("%.1f dB", v);
}

bool needs_quotes(const std::string& field) { return field.find_first_of(",\"\r\n") != std::string::npos; }

}  // namespace

std::string exact_number(double v) { return shortest(v); }
std::string exact_number(float v) { return shortest(v); }

Table error_point_table(const error::Snapshot& s) {
  Table t;
  t.columns = {{"point"}, {"layer", false}, {"kind", false}, {"SQNR (dB)"}, {"MSE"}, {"cosine"}, {"max error"}};
  const auto add = [&t](const error::PointRow& r, ErrorRowTag tag) {
    const char* kind = tag == kWeightRow ? "weight" : tag == kStateRow ? "state" : "activation";
    t.rows.push_back({{{r.name, r.name},
                       {std::to_string(r.layer), std::to_string(r.layer)},
                       {kind, kind},
                       {db_text(r.sqnr_db), exact_number(r.sqnr_db)},
                       {fmt("%.4g", r.mse), exact_number(r.mse)},
                       {fmt("%.6f", r.cosine), exact_number(r.cosine)},
                       {fmt("%.4g", r.max_abs), exact_number(r.max_abs)}},
                      tag});
  };
  for (const error::PointRow& r : s.points) add(r, r.state ? kStateRow : kActivationRow);
  for (const error::PointRow& r : s.weights) add(r, kWeightRow);
  return t;
}

Table error_ab_table(const error::Snapshot& a, const error::Snapshot& b) {
  Table t;
  t.columns = {{"point"},          {"layer", false},  {"kind", false},    {"SQNR A (dB)"}, {"SQNR B (dB)"},
               {"Δ SQNR (dB)"},   {"MSE A", false},  {"MSE B", false},   {"Δ MSE", false}};
  const auto delta_text = [](double d) { return std::isinf(d) ? (d > 0 ? "+inf" : "-inf") : fmt("%+.1f dB", d); };
  const auto add = [&t, &delta_text](const error::PointRow* ra, const error::PointRow& rb, ErrorRowTag tag) {
    const char* kind = tag == kWeightRow ? "weight" : tag == kStateRow ? "state" : "activation";
    const double nan = std::nan("");
    const double sqnr_a = ra ? ra->sqnr_db : nan, mse_a = ra ? ra->mse : nan;
    const double d_sqnr = error::ab_delta(sqnr_a, rb.sqnr_db), d_mse = mse_a == rb.mse ? 0.0 : rb.mse - mse_a;
    t.rows.push_back({{{rb.name, rb.name},
                       {std::to_string(rb.layer), std::to_string(rb.layer)},
                       {kind, kind},
                       {ra ? db_text(sqnr_a) : "—", exact_number(sqnr_a)},
                       {db_text(rb.sqnr_db), exact_number(rb.sqnr_db)},
                       {std::isnan(d_sqnr) ? "—" : d_sqnr == 0.0 ? "=" : delta_text(d_sqnr), exact_number(d_sqnr)},
                       {ra ? fmt("%.4g", mse_a) : "—", exact_number(mse_a)},
                       {fmt("%.4g", rb.mse), exact_number(rb.mse)},
                       {fmt("%+.4g", d_mse), exact_number(d_mse)}},
                      tag});
  };
  // Both results come from one batch and one model, so the names match one to one; the lookup
  // by name keeps a mismatch visible (—) instead of pairing the wrong rows.
  const auto find = [](const std::vector<error::PointRow>& rows, const std::string& name) -> const error::PointRow* {
    for (const error::PointRow& r : rows)
      if (r.name == name) return &r;
    return nullptr;
  };
  for (const error::PointRow& r : b.points) add(find(a.points, r.name), r, r.state ? kStateRow : kActivationRow);
  for (const error::PointRow& r : b.weights) add(find(a.weights, r.name), r, kWeightRow);
  return t;
}

Table outlier_table(const ChannelMaxima& m) {
  Table t;
  t.columns = {{"point", false}, {"channel"}, {"absmax"}, {"× mean"}};
  const std::string point = m.point.str();
  for (const OutlierChannel& o : m.outliers) {
    const std::string channel = std::to_string(o.channel);
    t.rows.push_back({{{point, point},
                       {channel, channel},
                       {num(o.absmax), exact_number(o.absmax)},
                       {fmt("%.1f", o.times_mean), exact_number(o.times_mean)}},
                      0});
  }
  return t;
}

std::string to_csv(const Table& table) {
  std::string out;
  const auto field = [&out](const std::string& f, bool first) {
    if (!first) out += ',';
    if (!needs_quotes(f)) {
      out += f;
      return;
    }
    out += '"';
    for (const char c : f) {
      if (c == '"') out += '"';
      out += c;
    }
    out += '"';
  };
  for (std::size_t c = 0; c < table.columns.size(); ++c) field(table.columns[c].name, c == 0);
  out += "\r\n";
  for (const TableRow& row : table.rows) {
    for (std::size_t c = 0; c < row.cells.size(); ++c) field(row.cells[c].exact, c == 0);
    out += "\r\n";
  }
  return out;
}

std::optional<std::vector<std::vector<std::string>>> parse_csv(const std::string& text) {
  std::vector<std::vector<std::string>> records;
  std::vector<std::string> record;
  std::string field;
  std::size_t i = 0;
  const std::size_t n = text.size();
  while (i < n) {
    if (text[i] == '"') {  // quoted field: up to the lone closing quote
      ++i;
      for (;;) {
        if (i >= n) return std::nullopt;  // unterminated
        if (text[i] == '"') {
          if (i + 1 < n && text[i + 1] == '"') {
            field += '"';
            i += 2;
            continue;
          }
          ++i;
          break;
        }
        field += text[i++];
      }
      if (i < n && text[i] != ',' && text[i] != '\r' && text[i] != '\n') return std::nullopt;
    } else {
      while (i < n && text[i] != ',' && text[i] != '\r' && text[i] != '\n') {
        if (text[i] == '"') return std::nullopt;
        field += text[i++];
      }
    }
    record.push_back(std::move(field));
    field.clear();
    if (i < n && text[i] == ',') {
      ++i;
      if (i == n) record.emplace_back();  // a trailing comma ends with an empty field
      continue;
    }
    if (i < n && text[i] == '\r') ++i;
    if (i < n && text[i] == '\n') ++i;
    records.push_back(std::move(record));
    record.clear();
  }
  if (!record.empty()) records.push_back(std::move(record));
  return records;
}

}  // namespace ms::views
