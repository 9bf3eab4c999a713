// Tables as CSV files (see table_export.h).
#include "app/table_export.h"

#include <QSaveFile>

#include "app/summary_panel.h"

namespace ms::app {

views::Table summaryTable(const ModelSnapshot& snapshot) {
  views::Table table;
  table.columns = {{"field"}, {"value"}};
  for (const auto& [key, value] : summaryRows(snapshot)) {
    const std::string k = key.toStdString(), v = value.toStdString();
    table.rows.push_back({{{k, k}, {v, v}}, 0});
  }
  return table;
}

QString writeCsv(const QString& path, const views::Table& table) {
  const std::string csv = views::to_csv(table);
  QSaveFile file(path);
  if (!file.open(QIODevice::WriteOnly)) return QStringLiteral("%1: cannot write: %2").arg(path, file.errorString());
  if (file.write(csv.data(), static_cast<qint64>(csv.size())) != static_cast<qint64>(csv.size()) || !file.commit())
    return QStringLiteral("%1: cannot write: %2").arg(path, file.errorString());
  return {};
}

}  // namespace ms::app
