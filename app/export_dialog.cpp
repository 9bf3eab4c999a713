// ExportDialog (see export_dialog.h).
#include "app/export_dialog.h"

#include <cmath>

#include <QCheckBox>
#include <QComboBox>
#include <QDesktopServices>
#include <QDir>
#include <QFileDialog>
#include <QFileInfo>
#include <QFormLayout>
#include <QHBoxLayout>
#include <QJsonDocument>
#include <QJsonObject>
#include <QLabel>
#include <QLineEdit>
#include <QMap>
#include <QPlainTextEdit>
#include <QProgressBar>
#include <QPushButton>
#include <QSpinBox>
#include <QUrl>
#include <QVBoxLayout>

namespace ms::app {

namespace {

QString number(const QJsonValue& v, int digits) {
  return v.isDouble() ? QString::number(v.toDouble(), 'f', digits) : QStringLiteral("—");
}

}  // namespace

QString exportSummaryText(const QString& out, const QByteArray& summaryJson, const QByteArray& reportJson) {
  const QJsonObject summary = QJsonDocument::fromJson(summaryJson).object();
  const QJsonObject report = QJsonDocument::fromJson(reportJson).object();
  QStringList lines{QObject::tr("Wrote %1").arg(QDir::toNativeSeparators(out))};
  if (summary.contains(QStringLiteral("quantized")))
    lines << QObject::tr("%1 weights quantized; SQNR worst %2 dB, mean %3 dB")
                 .arg(summary.value(QStringLiteral("quantized")).toInt())
                 .arg(number(summary.value(QStringLiteral("min_sqnr_db")), 2),
                      number(summary.value(QStringLiteral("mean_sqnr_db")), 2));
  const QJsonObject e = report.value(QStringLiteral("end_to_end")).toObject();
  if (!e.isEmpty()) {
    const double pf = e.value(QStringLiteral("perplexity_float")).toDouble();
    const double pq = e.value(QStringLiteral("perplexity_quant")).toDouble();
    lines << QObject::tr("Perplexity %1 → %2 (%3%4 %), on %5 held-out tokens")
                 .arg(pf, 0, 'f', 3)
                 .arg(pq, 0, 'f', 3)
                 .arg(pq >= pf ? QStringLiteral("+") : QString())
                 .arg(pf > 0 ? 100.0 * (pq - pf) / pf : 0.0, 0, 'f', 2)
                 .arg(e.value(QStringLiteral("tokens")).toInteger());
    lines << QObject::tr("KL mean %1, p99 %2; top-1 agreement %3 %")
                 .arg(e.value(QStringLiteral("kl_mean")).toDouble(), 0, 'g', 3)
                 .arg(e.value(QStringLiteral("kl_p99")).toDouble(), 0, 'g', 3)
                 .arg(100.0 * e.value(QStringLiteral("top1_agreement")).toDouble(), 0, 'f', 2);
  } else {
    const QJsonObject ev = report.value(QStringLiteral("evaluation")).toObject();
    if (!ev.isEmpty())
      lines << QObject::tr("End-to-end metrics skipped: %1").arg(ev.value(QStringLiteral("reason")).toString());
  }
  const QJsonObject outliers = report.value(QStringLiteral("outliers")).toObject();
  if (!outliers.isEmpty())
    lines << QObject::tr("%1 outlier channels (6σ) in the source model's statistics")
                 .arg(outliers.value(QStringLiteral("total")).toInteger());
  return lines.join(QLatin1Char('\n'));
}

ExportDialog::ExportDialog(const QString& model, const QString& tokenizer, QWidget* parent)
    : QDialog(parent), m_model(model), m_tokenizer(tokenizer), m_process(new ExportProcess(this)) {
  setWindowTitle(tr("Export Quantized Model"));
  auto* form = new QFormLayout;
  auto* modelLabel = new QLabel(QDir::toNativeSeparators(model));
  modelLabel->setTextInteractionFlags(Qt::TextSelectableByMouse);
  form->addRow(tr("Model:"), modelLabel);

  m_format = new QComboBox;
  m_format->addItem(tr("HF checkpoint (dequantized weights)"), QStringLiteral("hf"));
  m_format->addItem(tr("Packed integer codes + scales"), QStringLiteral("packed"));
  m_format->addItem(tr("GGUF for llama.cpp"), QStringLiteral("gguf"));
  form->addRow(tr("&Format:"), m_format);
  m_ggufType = new QComboBox;
  for (const char* t : {"q8_0", "q4_0", "f16"}) m_ggufType->addItem(QString::fromLatin1(t), QString::fromLatin1(t));
  form->addRow(tr("GGUF &type:"), m_ggufType);

  m_methods = new QComboBox;
  m_methods->setEditable(true);  // any --method list the CLI takes
  for (const char* m : {"rtn", "gptq", "hadamard,rtn", "smoothquant,rtn", "klt,rtn", "hadamard,gptq"})
    m_methods->addItem(QString::fromLatin1(m));
  form->addRow(tr("&Methods:"), m_methods);
  m_bits = new QSpinBox;
  m_bits->setRange(2, 15);  // updateEnabled() narrows it to 2..8 for packed
  m_bits->setValue(8);
  m_bits->setPrefix(QStringLiteral("W"));
  m_bits->setToolTip(tr("HF checkpoints store any width 2..15 (dequantized); packed codes hold 2..8 bits"));
  form->addRow(tr("Weight &bits:"), m_bits);
  m_granularity = new QComboBox;
  m_granularity->setEditable(true);
  for (const char* g : {"channel", "tensor", "group:32", "group:64", "group:128"})
    m_granularity->addItem(QString::fromLatin1(g));
  form->addRow(tr("&Granularity:"), m_granularity);
  m_asymmetric = new QCheckBox(tr("Asymmetric codes (with a zero point)"));
  form->addRow(QString(), m_asymmetric);
  m_evaluate = new QCheckBox(tr("Measure perplexity, KL and top-1 for the report (slower)"));
  m_evaluate->setChecked(true);
  form->addRow(QString(), m_evaluate);

  m_output = new QLineEdit(QDir::home().filePath(QFileInfo(model).fileName() + QStringLiteral("-quantized")));
  m_browse = new QPushButton(tr("Browse…"));
  auto* outRow = new QHBoxLayout;
  outRow->addWidget(m_output, 1);
  outRow->addWidget(m_browse);
  form->addRow(tr("&Output folder:"), outRow);

  m_progress = new QProgressBar;
  m_progress->setRange(0, 1000);
  m_progress->setValue(0);
  m_progress->setVisible(false);
  m_status = new QLabel;
  m_status->setWordWrap(true);
  m_summary = new QPlainTextEdit;
  m_summary->setReadOnly(true);
  m_summary->setVisible(false);
  m_summary->setMinimumHeight(110);

  m_exportButton = new QPushButton(tr("&Export"));
  m_exportButton->setDefault(true);
  m_cancelButton = new QPushButton(tr("Close"));
  m_openReport = new QPushButton(tr("Open &Report"));
  m_openReport->setEnabled(false);
  auto* buttons = new QHBoxLayout;
  buttons->addWidget(m_openReport);
  buttons->addStretch(1);
  buttons->addWidget(m_exportButton);
  buttons->addWidget(m_cancelButton);

  auto* layout = new QVBoxLayout(this);
  layout->addLayout(form);
  layout->addWidget(m_progress);
  layout->addWidget(m_status);
  layout->addWidget(m_summary);
  layout->addLayout(buttons);
  resize(560, sizeHint().height());

  connect(m_format, &QComboBox::currentIndexChanged, this, &ExportDialog::updateEnabled);
  connect(m_browse, &QPushButton::clicked, this, &ExportDialog::chooseOutput);
  connect(m_exportButton, &QPushButton::clicked, this, &ExportDialog::startExport);
  connect(m_cancelButton, &QPushButton::clicked, this, &ExportDialog::reject);
  connect(m_openReport, &QPushButton::clicked, this, [this] {
    if (!m_reportPath.isEmpty()) QDesktopServices::openUrl(QUrl::fromLocalFile(m_reportPath));
  });
  connect(m_process, &ExportProcess::progressChanged, this, &ExportDialog::onProgress);
  connect(m_process, &ExportProcess::finished, this, &ExportDialog::onFinished);
  connect(m_process, &ExportProcess::cancelled, this, [this](quint64) {
    setRunning(false);
    m_status->setText(tr("Cancelled: nothing was written."));
    Q_EMIT exportCancelled();
  });
  connect(m_process, &ExportProcess::failed, this, [this](quint64, const QString& message) {
    setRunning(false);
    m_status->setText(tr("Export failed: %1").arg(message));
    Q_EMIT exportFailed(message);
  });
  updateEnabled();
}

ExportRequest ExportDialog::request() const {
  ExportRequest r;
  r.model = m_model;
  r.out = m_output->text().trimmed();
  r.format = m_format->currentData().toString();
  r.ggufType = r.format == QLatin1String("gguf") ? m_ggufType->currentData().toString() : QString();
  r.methods = m_methods->currentText().trimmed();
  r.wbits = m_bits->value();
  r.granularity = m_granularity->currentText().trimmed();
  r.symmetric = !m_asymmetric->isChecked();
  r.evaluate = m_evaluate->isChecked();
  r.tokenizer = m_tokenizer;
  return r;
}

void ExportDialog::updateEnabled() {
  const bool running = m_process->isRunning();
  const bool gguf = m_format->currentData().toString() == QLatin1String("gguf");
  for (QWidget* w : std::initializer_list<QWidget*>{m_format, m_methods, m_output, m_browse, m_evaluate})
    w->setEnabled(!running);
  m_ggufType->setEnabled(!running && gguf);
  // A GGUF's ggml blocks fix bits, granularity and symmetry.
  for (QWidget* w : std::initializer_list<QWidget*>{m_bits, m_granularity, m_asymmetric}) w->setEnabled(!running && !gguf);
  // The packed layout holds 2..8-bit codes (core/export/packed.h); a wider choice clamps to 8.
  m_bits->setMaximum(m_format->currentData().toString() == QLatin1String("packed") ? 8 : 15);
  m_exportButton->setEnabled(!running);
  m_cancelButton->setText(running ? tr("Cancel") : tr("Close"));
}

void ExportDialog::chooseOutput() {
  const QString dir = QFileDialog::getSaveFileName(this, tr("Export to a new folder"), m_output->text(), QString(),
                                                   nullptr, QFileDialog::ShowDirsOnly);
  if (!dir.isEmpty()) m_output->setText(dir);
}

void ExportDialog::startExport() {
  if (m_process->isRunning()) return;
  const ExportRequest r = request();
  QString problem;
  if (r.out.isEmpty()) problem = tr("Choose an output folder.");
  else if (QFileInfo::exists(r.out)) problem = tr("%1 already exists: choose a new folder.").arg(r.out);
  else if (!QFileInfo(QFileInfo(r.out).absolutePath()).isDir())
    problem = tr("%1 does not exist.").arg(QFileInfo(r.out).absolutePath());
  else if (r.methods.isEmpty()) problem = tr("Choose the methods.");
  if (!problem.isEmpty()) {
    m_status->setText(problem);
    return;
  }
  m_reportPath.clear();
  m_openReport->setEnabled(false);
  m_summary->clear();
  m_summary->setVisible(false);
  m_progress->setValue(0);
  m_progress->setFormat(tr("starting…"));
  m_status->setText(tr("Exporting %1…").arg(QDir::toNativeSeparators(r.out)));
  m_process->start(r);
  setRunning(true);
}

void ExportDialog::setRunning(bool running) {
  m_progress->setVisible(running || m_progress->value() > 0);
  updateEnabled();
}

void ExportDialog::reject() {
  if (m_process->isRunning()) {  // Cancel, not close: the process stops and cleans up first
    m_status->setText(tr("Cancelling…"));
    m_process->cancel();
    return;
  }
  QDialog::reject();
}

void ExportDialog::onProgress(quint64, const ExportProgress& p) {
  const QMap<QString, QString> names{{QStringLiteral("quantize"), tr("writing weights")},
                                            {QStringLiteral("statistics"), tr("statistics for the report")},
                                            {QStringLiteral("eval"), tr("end-to-end metrics")},
                                            {QStringLiteral("calibrate"), tr("calibrating")},
                                            {QStringLiteral("transform"), tr("transforms")}};
  m_progress->setValue(int(std::lround(1000 * p.fraction)));
  m_progress->setFormat(QStringLiteral("%1: %p%").arg(names.value(p.phase, p.phase)));
}

void ExportDialog::onFinished(quint64, const QString& out, const QByteArray& summary, const QByteArray& report) {
  m_progress->setValue(1000);
  m_progress->setFormat(tr("done"));
  setRunning(false);
  const QString html = out + QStringLiteral("/report.html");
  if (QFileInfo(html).isFile()) m_reportPath = html;
  m_openReport->setEnabled(!m_reportPath.isEmpty());
  m_status->setText(tr("Export finished. Open the report to see what it cost."));
  m_summary->setPlainText(exportSummaryText(out, summary, report));
  m_summary->setVisible(true);
  Q_EMIT exportFinished(out);
}

}  // namespace ms::app
