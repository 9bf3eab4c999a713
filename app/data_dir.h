// Where the shipped data (demo models, texts) lives: $MAMBASCOPE_DATA_DIR, then the installed
// share/mambascope beside the executable, then the source tree's resources/ (a build tree).
#pragma once

#include <QString>

namespace ms::app {

// The first existing data directory, or an empty string.
QString dataDirectory();
// The demo Mamba-1 the app opens when started without a model; empty when none is shipped.
QString demoModelPath();

}  // namespace ms::app
