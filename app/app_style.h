// The Qt side of the look: Fusion with a dark palette built from the same colours as the ImGui
// canvas (views/theme.h), so docks, menus and the canvas read as one window.
#pragma once

class QApplication;

namespace ms::app {

void applyAppStyle(QApplication& app);

}  // namespace ms::app
