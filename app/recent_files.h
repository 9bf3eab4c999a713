// RecentFiles: the most recently opened model paths, newest first, kept in QSettings so the
// File > Open Recent menu survives restarts. Only the list logic; the menu lives in MainWindow.
#pragma once

#include <QSettings>
#include <QString>
#include <QStringList>

namespace ms::app {

class RecentFiles {
 public:
  static constexpr int kDefaultLimit = 10;
  explicit RecentFiles(QSettings* settings, int limit = kDefaultLimit);

  QStringList paths() const;
  // Moves (or inserts) `path` to the front, cleaned and absolute; drops the oldest past the limit.
  void add(const QString& path);
  void remove(const QString& path);
  void clear();

 private:
  void store(const QStringList& paths);
  QSettings* m_settings;
  int m_limit;
};

}  // namespace ms::app
