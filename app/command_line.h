// The command line of `mambascope`, parsed into plain values before any window exists (so that
// --help and --version work without a display). Only main() acts on it and exits.
#pragma once

#include <QSize>
#include <QString>
#include <QStringList>

namespace ms::app {

struct CommandLine {
  QString model;                         // positional: folder, config.json, .safetensors or .bin
  QString screenshot;                    // --screenshot FILE.png: render once, save, exit
  QString view = QStringLiteral("structure");  // --view NAME
  QString select;                        // --select POINT: canonical quant point to highlight
  QString stats;                         // --stats FILE: a statistics file from mambascope-cli calibrate
  int layer = -1;                        // --layer N: the layer shown (-1: the view's default)
  QString text;                          // --text FILE: calibration text (default: the shipped one)
  qint64 maxTokens = 0;                  // --max-tokens N: calibration tokens (0: the default)
  QString device;                        // --device: for calibration (cpu, cuda, auto)
  QString tokenizer;                     // --tokenizer FILE: for models that ship none
  QSize size{1400, 900};                 // --size WxH (screenshot window size)
  QString method;                        // --method: the distributions view's method (hadamard, klt, smoothquant, dsq)
  int sequenceToken = -1;                // --sequence-token N: the state heatmap's sequence mode at token N
  int tourStep = -1;                     // --tour N: the teaching tour's step N (1-based); -1: none
  bool presentation = false;             // --presentation: the tour in presentation mode
  QString frameStats;                    // --frame-stats FILE.json: cold start and frame times, written on quit
  int quitAfterFrames = 0;               // --quit-after-frames N: quit after N frames showing the model (0: no)
  double demoDrag = 0;                   // --demo-drag SECONDS: drag the W slider in the error view, then quit
  bool help = false;
  bool version = false;
  QString error;                         // non-empty: a usage error, one line
  QString helpText;
};

// Names accepted by --view, in menu order.
QStringList viewNames();
// Whether a view draws calibration statistics (and so calibrates when none are given).
bool viewNeedsStats(const QString& view);
// `arguments` includes the program name, as QCoreApplication::arguments() does.
// `defaultModel` is opened when no MODEL is given (the shipped demo model; may be empty).
CommandLine parseCommandLine(const QStringList& arguments, const QString& defaultModel = {});

}  // namespace ms::app
