#include "app/data_dir.h"

#include <QDir>
#include <QFileInfo>

namespace ms::app {

QString dataDirectory() {
  QStringList candidates;
  const QString env = qEnvironmentVariable("MAMBASCOPE_DATA_DIR");
  if (!env.isEmpty()) candidates << env;
  // Works before QApplication exists (the command line is parsed first).
  const QString exe = QFileInfo(QStringLiteral("/proc/self/exe")).symLinkTarget();
  if (!exe.isEmpty())
    candidates << QFileInfo(exe).absolutePath() + QStringLiteral("/../share/mambascope");
  candidates << QStringLiteral(MAMBASCOPE_RESOURCES_DIR);
  for (const QString& c : candidates)
    if (QFileInfo(c + QStringLiteral("/models")).isDir()) return QDir(c).absolutePath();
  return {};
}

QString demoModelPath() {
  const QString dir = dataDirectory();
  if (dir.isEmpty()) return {};
  const QString demo = dir + QStringLiteral("/models/demo-mamba");
  return QFileInfo(demo + QStringLiteral("/config.json")).exists() ? demo : QString();
}

QStringList shippedTexts() {
  const QString dir = dataDirectory();
  if (dir.isEmpty()) return {};
  QStringList out;
  for (const QFileInfo& info : QDir(dir + QStringLiteral("/texts")).entryInfoList({QStringLiteral("*.txt")}, QDir::Files, QDir::Name))
    out << info.absoluteFilePath();
  return out;
}

QString defaultCalibrationText() {
  const QString dir = dataDirectory();
  if (dir.isEmpty()) return {};
  const QString text = QDir(dir).absoluteFilePath(QStringLiteral("texts/austen.txt"));
  return QFileInfo(text).isFile() ? text : QString();
}

}  // namespace ms::app
