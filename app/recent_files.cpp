// RecentFiles (see recent_files.h).
#include "app/recent_files.h"

#include <QDir>
#include <QFileInfo>

namespace ms::app {
namespace {

const QString kKey = QStringLiteral("recentFiles");

// One spelling per file, so "/tmp/m/" and "/tmp/m" are one entry.
QString normalised(const QString& path) { return QDir::cleanPath(QFileInfo(path).absoluteFilePath()); }

}  // namespace

RecentFiles::RecentFiles(QSettings* settings, int limit) : m_settings(settings), m_limit(limit) {}

QStringList RecentFiles::paths() const {
  return m_settings ? m_settings->value(kKey).toStringList() : QStringList();
}

void RecentFiles::add(const QString& path) {
  const QString p = normalised(path);
  QStringList list = paths();
  list.removeAll(p);
  list.prepend(p);
  while (list.size() > m_limit) list.removeLast();
  store(list);
}

void RecentFiles::remove(const QString& path) {
  QStringList list = paths();
  list.removeAll(normalised(path));
  store(list);
}

void RecentFiles::clear() { store({}); }

void RecentFiles::store(const QStringList& paths) {
  if (m_settings) m_settings->setValue(kKey, paths);
}

}  // namespace ms::app
