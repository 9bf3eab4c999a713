// CalibrationPanel: the dock that starts a calibration of the open model. The text is a shipped
// one (resources/texts, found through the data directory), a file the user picks, or text typed
// into the panel; then how many tokens and on which device. While a run goes it shows a progress
// bar with tokens, rate and ETA, and a Cancel button.
//
// The panel only collects choices and shows progress: MainWindow runs the calibration
// (CalibrationProcess) and writes typed text to a file.
#pragma once

#include <QString>
#include <QWidget>

#include "app/calibration_process.h"

class QComboBox;
class QLabel;
class QPlainTextEdit;
class QProgressBar;
class QPushButton;
class QSpinBox;

namespace ms::app {

// What the user asked for: exactly one of textFile and typedText is set.
struct CalibrationChoice {
  QString textFile;
  QString typedText;
  qint64 maxTokens = 0;
  QString device;  // auto, cpu, cuda
};

// "1,234 / 8,192 tokens · 1,650 tok/s · 3 s left": the progress bar's text (exposed for tests).
QString progressText(const CalibrationProgress& progress);

class CalibrationPanel : public QWidget {
  Q_OBJECT

 public:
  explicit CalibrationPanel(QWidget* parent = nullptr);

  // Shipped texts of `dataDir`/texts/*.txt offered first; the default one selected.
  void setShippedTexts(const QStringList& paths, const QString& defaultPath);
  void setModelOpen(bool open);
  void setRunning(bool running);
  void setProgress(const CalibrationProgress& progress);
  // One line under the bar: how the last run ended.
  void setOutcome(const QString& text, bool error);

  CalibrationChoice choice() const;
  QPushButton* calibrateButton() const { return m_calibrate; }
  QPushButton* cancelButton() const { return m_cancel; }
  QSpinBox* tokensBox() const { return m_tokens; }
  QComboBox* sourceBox() const { return m_source; }
  QPlainTextEdit* typedTextEdit() const { return m_typed; }
  QProgressBar* progressBar() const { return m_progress; }

 Q_SIGNALS:
  void calibrateRequested(const ms::app::CalibrationChoice& choice);
  void cancelRequested();

 private:
  void onSourceChanged();
  void updateEnabled();

  QComboBox* m_source = nullptr;
  QPlainTextEdit* m_typed = nullptr;
  QSpinBox* m_tokens = nullptr;
  QComboBox* m_device = nullptr;
  QPushButton* m_calibrate = nullptr;
  QPushButton* m_cancel = nullptr;
  QProgressBar* m_progress = nullptr;
  QLabel* m_outcome = nullptr;
  QString m_chosenFile;
  bool m_modelOpen = false;
  bool m_running = false;
};

}  // namespace ms::app
