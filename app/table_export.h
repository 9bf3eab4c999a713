// Tables as CSV files (File › Export Table as CSV…, the Summary dock's context menu): the rows come
// from views/tables.h (the same rows the views draw) or, for the Summary dock, from summaryRows();
// this file only names them and writes them atomically.
#pragma once

#include <QString>

#include "views/model_snapshot.h"
#include "views/tables.h"

namespace ms::app {

// The Summary dock's form as a two-column table: field, value (the dock's own wording).
views::Table summaryTable(const ModelSnapshot& snapshot);

// Writes to_csv(table) to `path` through QSaveFile (beside the target, renamed on success: no
// half-written file). Returns an empty string, or one line naming the file and the problem.
QString writeCsv(const QString& path, const views::Table& table);

}  // namespace ms::app
