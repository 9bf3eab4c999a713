// Workspaces (issue 6's sessions): File › Save Workspace… writes what the window shows as a small
// JSON file (*.mambascope-workspace); File › Open Workspace… puts it back. It records the model,
// the statistics file(s), the current view and each view's selection (layer, point, method,
// bits), the Quantization dock's setting (as requant-serve reads it, layer overrides included)
// and, in A/B mode, A's setting (its result is asked for again on open),
// the Calibration dock's choices and the window layout (QMainWindow::saveState, base64).
//
// Paths under the workspace file's folder are stored relative to it (a folder of model, stats
// and workspace moves as one); others stay absolute. "version" is kVersion; a file without it, or
// with another, is refused with a line that says so (a newer app may know more fields than this
// one would silently drop).
//
// The docks are restored through their public controls (applyQuantSetting,
// applyCalibrationChoice), as a user would set them.
#pragma once

#include <QByteArray>
#include <QJsonObject>
#include <QString>
#include <QStringList>

#include "app/calibration_panel.h"
#include "views/channel_maxima_view.h"
#include "views/distributions_view.h"
#include "views/error_view.h"
#include "views/state_heatmap_view.h"
#include "views/structure_view.h"

namespace ms::app {

class QuantPanel;

inline const QString kWorkspaceSuffix = QStringLiteral(".mambascope-workspace");

struct Workspace {
  static constexpr int kVersion = 1;

  QString model;       // absolute once read
  QStringList stats;   // absolute once read; the app opens the first (a list for A/B later)
  QString view;        // one of MainWindow's view names
  views::structure::ViewState structure;
  views::channel_maxima::ViewState channelMaxima;
  views::state_heatmap::ViewState stateHeatmap;
  views::distributions::ViewState distributions;
  views::error::ViewState error;
  QJsonObject quant;   // QuantPanel::setting()
  QJsonObject quantA;  // the pinned A's setting (QuantPanel::pinnedSetting); empty: no A/B
  CalibrationChoice calibration;
  QByteArray windowState;  // QMainWindow::saveState()
};

// The JSON form; paths under `workspacePath`'s folder become relative to it.
QJsonObject workspaceToJson(const Workspace& workspace, const QString& workspacePath);
// Parses the JSON form; relative paths resolve against `workspacePath`'s folder. Returns an empty
// string, or one line saying what is wrong (without the file name).
QString workspaceFromJson(const QByteArray& json, const QString& workspacePath, Workspace* out);

// Atomic write (QSaveFile) / read. Both return an empty string or one line naming the file.
QString writeWorkspace(const QString& path, const Workspace& workspace);
QString readWorkspace(const QString& path, Workspace* out);

// Sets the Quantization dock's controls to `setting` (QuantPanel::setting()'s form) as a user
// would: global bits, granularity, symmetry, state method, activation scale and granularity, then
// each layer override through the Scope box. Call after the model is open (setModel clears them).
void applyQuantSetting(QuantPanel* panel, const QJsonObject& setting);
// Sets the Calibration dock's text (shipped, a file or typed), token count and device.
void applyCalibrationChoice(CalibrationPanel* panel, const CalibrationChoice& choice);

}  // namespace ms::app
