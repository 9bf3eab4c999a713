// Small pieces the app's mambascope-cli drivers (calibration, export, requant, preview processes)
// share: ending a QProcess without blocking the UI thread, and cutting stderr into whole lines.
#pragma once

#include <QByteArray>
#include <QString>
#include <QStringList>

class QObject;
class QProcess;

namespace ms::app {

// Disconnects `process` from `receiver`; kills it if it still runs and deletes it once finished
// (never waits on the UI thread). Null is ignored.
void discardProcess(QProcess* process, QObject* receiver);

// Appends `bytes` (UTF-8) to `partial` and returns the complete lines, trimmed and non-empty; the
// unfinished rest stays in `partial`. A terminal bar would end lines with \r, a pipe with \n:
// both count.
QStringList takeLines(QString& partial, const QByteArray& bytes);

}  // namespace ms::app
