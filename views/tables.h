// Tables the views show, built once from their immutable snapshots, so that what a view draws and
// what File › Export Table as CSV writes are the same rows in the same order. One function per
// table; the views lay the `shown` text out, the CSV carries the `exact` text (numbers in their
// shortest round-trip form: a value read back is the value the snapshot held). Plain C++: no
// ImGui, no Qt.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "core/model/stats_file.h"
#include "views/error_view.h"

namespace ms::views {

struct TableColumn {
  std::string name;
  bool in_view = true;  // false: the view conveys it otherwise (colour, its header); the CSV has it
};

struct TableCell {
  std::string shown;  // as the view prints it: "12.3 dB", "exact", "0.0123"
  std::string exact;  // as the CSV holds it: "12.3456789", "inf"
};

struct TableRow {
  std::vector<TableCell> cells;  // one per column
  int tag = 0;                   // what the row is, for the view's colours (each table says)
};

struct Table {
  std::vector<TableColumn> columns;
  std::vector<TableRow> rows;
};

// The error view's table: every activation/state point, then every weight, in forward order.
// Columns: point, layer, kind (activation | state | weight), SQNR (dB), MSE, cosine, max error.
// Tags: ErrorRowTag.
enum ErrorRowTag { kActivationRow = 0, kStateRow = 1, kWeightRow = 2 };
Table error_point_table(const error::Snapshot& snapshot);

// The error view's A/B table: the points and weights of `b` in order, each matched by name in `a`.
// Columns: point, layer, kind, SQNR A, SQNR B, Δ SQNR (dB), MSE A, MSE B, Δ MSE (B − A; the MSE
// columns in the CSV only). Tags: ErrorRowTag. Δ follows views/error_ab.h (both exact: 0).
Table error_ab_table(const error::Snapshot& a, const error::Snapshot& b);

// The channel-maxima view's outlier list for one layer and point, largest first.
// Columns: point, channel, absmax, × mean.
Table outlier_table(const ChannelMaxima& maxima);

// RFC 4180: the header row, then one record per row, CRLF after each; a field with a comma, a
// double quote, CR or LF is quoted and its quotes doubled. Cells are their `exact` text.
std::string to_csv(const Table& table);
// The records of an RFC 4180 text (header included); nullopt for a malformed one (a quote inside
// an unquoted field, an unterminated quoted field, text after a closing quote).
std::optional<std::vector<std::vector<std::string>>> parse_csv(const std::string& text);

// Shortest text that reads back as the same value: "0.1", "1e-07", "inf", "-inf", "nan".
std::string exact_number(double v);
std::string exact_number(float v);

}  // namespace ms::views
