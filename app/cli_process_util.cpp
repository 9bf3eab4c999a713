#include "app/cli_process_util.h"

#include <QProcess>
#include <QRegularExpression>

namespace ms::app {

void discardProcess(QProcess* process, QObject* receiver) {
  if (!process) return;
  process->disconnect(receiver);
  if (process->state() != QProcess::NotRunning) {
    QObject::connect(process, &QProcess::finished, process, &QObject::deleteLater);
    process->kill();
  } else {
    process->deleteLater();
  }
}

QStringList takeLines(QString& partial, const QByteArray& bytes) {
  partial += QString::fromUtf8(bytes);
  static const QRegularExpression eol(QStringLiteral("[\r\n]"));
  QStringList pieces = partial.split(eol);
  partial = pieces.takeLast();
  QStringList lines;
  for (const QString& piece : pieces)
    if (const QString line = piece.trimmed(); !line.isEmpty()) lines << line;
  return lines;
}

}  // namespace ms::app
