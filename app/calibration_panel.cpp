// CalibrationPanel (see calibration_panel.h).
#include "app/calibration_panel.h"

#include <cmath>

#include <QComboBox>
#include <QDir>
#include <QFileDialog>
#include <QFileInfo>
#include <QFormLayout>
#include <QHBoxLayout>
#include <QLabel>
#include <QLocale>
#include <QPlainTextEdit>
#include <QProgressBar>
#include <QPushButton>
#include <QSpinBox>
#include <QVBoxLayout>

#include "app/data_dir.h"

namespace ms::app {
namespace {

enum SourceKind { Shipped = 0, File = 1, Typed = 2 };
constexpr int kKindRole = Qt::UserRole + 1;

QString number(qint64 v) { return QLocale(QLocale::English).toString(static_cast<qlonglong>(v)); }

QString duration(double seconds) {
  const qint64 s = static_cast<qint64>(std::ceil(seconds));
  if (s < 60) return QStringLiteral("%1 s").arg(s);
  if (s < 3600) return QStringLiteral("%1 min %2 s").arg(s / 60).arg(s % 60);
  return QStringLiteral("%1 h %2 min").arg(s / 3600).arg((s % 3600) / 60);
}

}  // namespace

QString progressText(const CalibrationProgress& p) {
  QString text = QStringLiteral("%1 / %2 tokens").arg(number(p.done), number(p.total));
  if (p.rate > 0.0) text += QStringLiteral(" · %1 tok/s").arg(number(static_cast<qint64>(std::llround(p.rate))));
  if (p.etaSeconds >= 0.0 && p.done < p.total) text += QStringLiteral(" · %1 left").arg(duration(p.etaSeconds));
  return text;
}

CalibrationPanel::CalibrationPanel(QWidget* parent) : QWidget(parent) {
  setObjectName(QStringLiteral("calibrationPanel"));
  auto* layout = new QVBoxLayout(this);
  auto* form = new QFormLayout;
  m_source = new QComboBox(this);
  m_source->setObjectName(QStringLiteral("calibrationSource"));
  m_source->addItem(tr("Text file…"), QString());
  m_source->setItemData(0, File, kKindRole);
  m_source->addItem(tr("Typed text"), QString());
  m_source->setItemData(1, Typed, kKindRole);
  form->addRow(tr("Text"), m_source);
  m_tokens = new QSpinBox(this);
  m_tokens->setObjectName(QStringLiteral("calibrationTokens"));
  m_tokens->setRange(16, 100'000'000);
  m_tokens->setSingleStep(4096);
  m_tokens->setGroupSeparatorShown(true);
  m_tokens->setValue(static_cast<int>(kDefaultCalibrationTokens));
  m_tokens->setToolTip(tr("Calibrate on at most this many tokens from the start of the text"));
  form->addRow(tr("Tokens"), m_tokens);
  m_device = new QComboBox(this);
  m_device->addItems({QStringLiteral("auto"), QStringLiteral("cpu"), QStringLiteral("cuda")});
  m_device->setToolTip(tr("auto: CUDA when a GPU is available, else the CPU"));
  form->addRow(tr("Device"), m_device);
  layout->addLayout(form);

  m_typed = new QPlainTextEdit(this);
  m_typed->setObjectName(QStringLiteral("calibrationTypedText"));
  m_typed->setPlaceholderText(tr("Type or paste the calibration text here"));
  m_typed->setVisible(false);
  layout->addWidget(m_typed, 1);

  auto* buttons = new QHBoxLayout;
  m_calibrate = new QPushButton(tr("Calibrate"), this);
  m_calibrate->setObjectName(QStringLiteral("calibrateButton"));
  m_cancel = new QPushButton(tr("Cancel"), this);
  m_cancel->setObjectName(QStringLiteral("cancelCalibrationButton"));
  buttons->addWidget(m_calibrate);
  buttons->addWidget(m_cancel);
  layout->addLayout(buttons);
  m_progress = new QProgressBar(this);
  m_progress->setRange(0, 1000);
  m_progress->setValue(0);
  m_progress->setTextVisible(true);
  m_progress->setFormat(tr("idle"));
  layout->addWidget(m_progress);
  m_outcome = new QLabel(this);
  m_outcome->setWordWrap(true);
  m_outcome->setTextInteractionFlags(Qt::TextSelectableByMouse);
  layout->addWidget(m_outcome);
  layout->addStretch(0);

  connect(m_source, &QComboBox::currentIndexChanged, this, [this] {
    m_typed->setVisible(m_source->currentData(kKindRole).toInt() == Typed);
    updateEnabled();
  });
  // Only a user's pick of "Text file…" opens the dialog, not a programmatic selection.
  connect(m_source, &QComboBox::activated, this, &CalibrationPanel::onSourceChanged);
  connect(m_typed, &QPlainTextEdit::textChanged, this, &CalibrationPanel::updateEnabled);
  connect(m_calibrate, &QPushButton::clicked, this, [this] { Q_EMIT calibrateRequested(choice()); });
  connect(m_cancel, &QPushButton::clicked, this, &CalibrationPanel::cancelRequested);
  updateEnabled();
}

void CalibrationPanel::setShippedTexts(const QStringList& paths, const QString& defaultPath) {
  int index = 0;
  for (const QString& path : paths) {
    m_source->insertItem(index, tr("%1 (shipped)").arg(QFileInfo(path).completeBaseName()), path);
    m_source->setItemData(index, Shipped, kKindRole);
    m_source->setItemData(index, QDir::toNativeSeparators(path), Qt::ToolTipRole);
    ++index;
  }
  const int chosen = m_source->findData(defaultPath);
  m_source->setCurrentIndex(chosen >= 0 ? chosen : 0);
  updateEnabled();
}

void CalibrationPanel::onSourceChanged() {
  if (m_source->currentData(kKindRole).toInt() == File) {
    const QString path = QFileDialog::getOpenFileName(this, tr("Calibration Text"), m_chosenFile,
                                                      tr("Text (*.txt);;All files (*)"));
    if (!path.isEmpty()) {
      m_chosenFile = path;
      m_source->setItemText(m_source->currentIndex(), QFileInfo(path).fileName());
      m_source->setItemData(m_source->currentIndex(), path);
      m_source->setItemData(m_source->currentIndex(), QDir::toNativeSeparators(path), Qt::ToolTipRole);
    }
  }
  updateEnabled();
}

CalibrationChoice CalibrationPanel::choice() const {
  CalibrationChoice c;
  if (m_source->currentData(kKindRole).toInt() == Typed) c.typedText = m_typed->toPlainText();
  else c.textFile = m_source->currentData().toString();
  c.maxTokens = m_tokens->value();
  c.device = m_device->currentText();
  return c;
}

void CalibrationPanel::setModelOpen(bool open) {
  m_modelOpen = open;
  updateEnabled();
}

void CalibrationPanel::setRunning(bool running) {
  m_running = running;
  if (running) {
    m_progress->setRange(0, 0);  // busy until the first progress line (the CLI loads and tokenizes first)
    m_progress->setFormat(tr("loading the model and tokenizing…"));
    m_outcome->clear();
  } else {
    m_progress->setRange(0, 1000);
  }
  updateEnabled();
}

void CalibrationPanel::setProgress(const CalibrationProgress& progress) {
  m_progress->setRange(0, 1000);
  m_progress->setValue(static_cast<int>(std::lround(progress.fraction * 1000.0)));
  m_progress->setFormat(progressText(progress));
}

void CalibrationPanel::setOutcome(const QString& text, bool error) {
  m_outcome->setText(text);
  m_outcome->setStyleSheet(error ? QStringLiteral("color: #E8612C") : QString());
  if (!m_running) {
    m_progress->setValue(error ? 0 : m_progress->value());
    m_progress->setFormat(error ? tr("failed") : m_progress->format());
  }
}

void CalibrationPanel::updateEnabled() {
  const CalibrationChoice c = choice();
  const bool haveText = !c.textFile.isEmpty() || !c.typedText.trimmed().isEmpty();
  m_calibrate->setEnabled(m_modelOpen && !m_running && haveText);
  m_cancel->setEnabled(m_running);
  m_source->setEnabled(!m_running);
  m_tokens->setEnabled(!m_running);
  m_device->setEnabled(!m_running);
}

}  // namespace ms::app
