// The teaching tour (issue 6, item 4): a guided walk over the demo Mamba-1 for a classroom, one
// step at a time: the quant points, an outlier channel, why per-tensor absmax fails, what
// SmoothQuant, a Hadamard rotation and KLT are for, the SSM state and DSQ, and what it all costs
// per token. Each step is data (TourStep: a title, a few sentences for students, and the view
// state it sets); TeachingTour applies a step through MainWindow's public API, so every step
// drives the real views, and shows the narration in a dock at the bottom.
//
// Keys while the tour runs: Right, Page Down or Space: next step; Left or Page Up: previous;
// Esc: leave the tour (and presentation mode). Presentation mode (F11) shows the window full
// screen with only the menu bar, the canvas and the narration, the views' fonts at views::kPresentationScale
// and the narration in a large Qt font, for a projector.
//
// The numbers in the texts were measured in these views on the demo model calibrated as the app
// does by default (the first 16,384 tokens of the shipped Austen text, sequences of 512); a tour
// started on a model without statistics calibrates it so. The method steps (SmoothQuant,
// Hadamard, KLT) select the method on the distributions view, whose before/after comes from
// `mambascope-cli preview` on the first 2,048 tokens of the same text; their narration quotes the
// preview's numbers as the view prints them, and each such number is listed in the step's
// `quotes`, so a test can hold it against the preview the view draws.
#pragma once

#include <optional>
#include <vector>

#include <QObject>
#include <QString>

#include "core/model/quant_point.h"

class QDockWidget;
class QLabel;
class QPushButton;

namespace ms::app {

class MainWindow;

// A number of a method's preview (core/model/preview_snapshot.h) that a step's narration quotes.
enum class PreviewFigure {
  AbsmaxCvBefore,  // channel absmax CV, "%.2f"
  AbsmaxCvAfter,
  VarCvBefore,     // channel variance CV, "%.2f"
  VarCvAfter,
  AbsmaxBefore,    // absmax, views::num (3 decimals from 1 to 100, 4 below 1)
  AbsmaxAfter,
  SqnrBefore,      // the per-tensor RTN SQNR at the step's bits, "%.1f" dB
  SqnrAfter,
};
struct PreviewQuote {
  PreviewFigure figure;
  QString shown;  // as the distributions view prints it, and as the narration says it
};

struct TourStep {
  QString title;
  QString text;                    // two to four sentences for students
  QString view;                    // one of viewNames()
  int layer = 0;                   // the layer the view shows
  std::optional<Module> module;    // the activation point {layer, module, input}, where the view has one
  int distributionBits = 0;        // the distributions view's A bits (0: leave as is)
  // The distributions view's method (its Method selector): "" shows the statistics alone;
  // "smoothquant", "hadamard", "klt" (or "dsq") show the preview's before and after.
  QString method;
  double alpha = 0.5;              // SmoothQuant's α, with method "smoothquant"
  std::vector<PreviewQuote> quotes;  // the preview's numbers the text quotes (method steps)
  // The Quantization dock, for the Error view (0 / empty: leave as is). Always all layers.
  int wbits = 0, abits = 0, hbits = 0;
  QString stateMethod;             // "dsq", "tensor", "channel" or "state"
};

// The tour over the demo Mamba-1 (resources/models/demo-mamba), in order.
const std::vector<TourStep>& teachingTourSteps();
// Whether a step's view draws calibration statistics (and so needs a calibrated model).
bool tourStepNeedsStats(const TourStep& step);
// Whether the step shows a method's before/after (and so waits for its preview).
inline bool tourStepShowsPreview(const TourStep& step) {
  return step.view == QLatin1String("distributions") && !step.method.isEmpty();
}

class TeachingTour : public QObject {
  Q_OBJECT

 public:
  // Adds the (hidden) narration dock to `window`.
  explicit TeachingTour(MainWindow* window);

  // Shows the narration and applies step `index` (0-based, clamped).
  void start(int index = 0);
  // Hides the narration and leaves presentation mode; the views stay where the tour left them.
  void stop();
  bool isActive() const { return m_active; }
  void next();
  void previous();
  void go(int index);
  int current() const { return m_current; }
  int count() const { return static_cast<int>(teachingTourSteps().size()); }
  const TourStep& step() const { return teachingTourSteps()[static_cast<size_t>(m_current)]; }

  // Presentation mode: views at views::kPresentationScale, large narration, other docks and the
  // tool bar hidden; `fullScreen` also shows the window full screen (not for screenshots, whose
  // size is fixed). Leaving restores what was visible.
  void setPresentation(bool on, bool fullScreen = true);
  bool presentation() const { return m_presentation; }
  QDockWidget* narrationDock() const { return m_dock; }
  // Whether a step that needs statistics calibrates a model that has none (the default). Off
  // where the caller opens or calibrates statistics itself (--stats, the screenshot mode).
  void setCalibratesWhenNeeded(bool on) { m_calibratesWhenNeeded = on; }

 Q_SIGNALS:
  void stepChanged(int index);
  void activeChanged(bool active);
  void presentationChanged(bool on);

 protected:
  bool eventFilter(QObject* watched, QEvent* event) override;

 private:
  void apply();            // the current step, to the window
  void updateNarration();
  void updateNarrationFont();
  void fitNarration();

  MainWindow* m_window;
  QDockWidget* m_dock = nullptr;
  QLabel* m_counter = nullptr;
  QLabel* m_title = nullptr;
  QLabel* m_text = nullptr;
  QLabel* m_keys = nullptr;
  QPushButton* m_previous = nullptr;
  QPushButton* m_next = nullptr;
  QPushButton* m_present = nullptr;
  int m_current = 0;
  bool m_active = false;
  bool m_presentation = false;
  bool m_wasFullScreen = false;
  bool m_calibratesWhenNeeded = true;
  std::vector<QWidget*> m_hidden;  // docks and bars presentation mode hid, to show again
};

}  // namespace ms::app
