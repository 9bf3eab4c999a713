// ExportDialog: File › Export Quantized… (Ctrl+E). Chooses the format (hf, packed, gguf with its
// ggml type), the methods, weight bits (2..15; packed 2..8), granularity and symmetry, the output
// directory and whether the report measures end-to-end metrics, then runs the export
// (ExportProcess: `mambascope-cli quantize` in a QProcess) with a progress bar and Cancel. When it
// succeeds it shows a summary (weights, SQNR, perplexity, KL, top-1) and offers to open
// report.html in the browser.
//
// The dialog only collects choices and shows what the process reports; it computes nothing.
#pragma once

#include <QByteArray>
#include <QDialog>
#include <QString>

#include "app/export_process.h"

class QCheckBox;
class QComboBox;
class QLabel;
class QLineEdit;
class QPlainTextEdit;
class QProgressBar;
class QPushButton;
class QSpinBox;

namespace ms::app {

// The summary shown after an export: from the CLI's --json summary and report.json (exposed for
// tests). Missing parts are left out.
QString exportSummaryText(const QString& out, const QByteArray& summaryJson, const QByteArray& reportJson);

class ExportDialog : public QDialog {
  Q_OBJECT

 public:
  // `model`: the open model's path; `tokenizer`: --tokenizer for layouts that ship none (may be empty).
  explicit ExportDialog(const QString& model, const QString& tokenizer = {}, QWidget* parent = nullptr);

  ExportRequest request() const;  // what the widgets say now
  void startExport();             // as the Export button does
  QString reportPath() const { return m_reportPath; }  // report.html of the last finished export

  QComboBox* formatBox() const { return m_format; }
  QComboBox* ggufTypeBox() const { return m_ggufType; }
  QComboBox* methodsBox() const { return m_methods; }
  QSpinBox* bitsBox() const { return m_bits; }
  QComboBox* granularityBox() const { return m_granularity; }
  QCheckBox* asymmetricBox() const { return m_asymmetric; }
  QCheckBox* evaluateBox() const { return m_evaluate; }
  QLineEdit* outputEdit() const { return m_output; }
  QPushButton* exportButton() const { return m_exportButton; }
  QPushButton* cancelButton() const { return m_cancelButton; }
  QPushButton* openReportButton() const { return m_openReport; }
  QProgressBar* progressBar() const { return m_progress; }
  QLabel* statusLabel() const { return m_status; }
  QPlainTextEdit* summaryView() const { return m_summary; }
  ExportProcess* process() const { return m_process; }

 Q_SIGNALS:
  void exportFinished(const QString& out);
  void exportCancelled();
  void exportFailed(const QString& message);

 protected:
  void reject() override;  // Escape / close while running cancels the export first

 private:
  void updateEnabled();
  void chooseOutput();
  void onProgress(quint64 job, const ExportProgress& progress);
  void onFinished(quint64 job, const QString& out, const QByteArray& summary, const QByteArray& report);
  void setRunning(bool running);

  QString m_model, m_tokenizer, m_reportPath;
  ExportProcess* m_process = nullptr;
  QComboBox* m_format = nullptr;
  QComboBox* m_ggufType = nullptr;
  QComboBox* m_methods = nullptr;
  QSpinBox* m_bits = nullptr;
  QComboBox* m_granularity = nullptr;
  QCheckBox* m_asymmetric = nullptr;
  QCheckBox* m_evaluate = nullptr;
  QLineEdit* m_output = nullptr;
  QPushButton* m_browse = nullptr;
  QPushButton* m_exportButton = nullptr;
  QPushButton* m_cancelButton = nullptr;
  QPushButton* m_openReport = nullptr;
  QProgressBar* m_progress = nullptr;
  QLabel* m_status = nullptr;
  QPlainTextEdit* m_summary = nullptr;
};

}  // namespace ms::app
