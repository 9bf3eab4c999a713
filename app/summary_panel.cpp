// SummaryPanel (see summary_panel.h).
#include "app/summary_panel.h"

#include <QDir>
#include <QFileInfo>
#include <QFormLayout>
#include <QLabel>
#include <QLocale>

namespace ms::app {
namespace {

QString number(int64_t value) { return QLocale(QLocale::English).toString(static_cast<qlonglong>(value)); }

// "1.42 M (1,421,312)": the short form reads at a glance, the exact one is what papers quote.
QString parameters(int64_t count) {
  const double c = static_cast<double>(count);
  QString shortForm;
  if (c >= 1e9) shortForm = QStringLiteral("%1 B").arg(c / 1e9, 0, 'f', 2);
  else if (c >= 1e6) shortForm = QStringLiteral("%1 M").arg(c / 1e6, 0, 'f', 2);
  else if (c >= 1e3) shortForm = QStringLiteral("%1 K").arg(c / 1e3, 0, 'f', 1);
  else return number(count);
  return QStringLiteral("%1 (%2)").arg(shortForm, number(count));
}

}  // namespace

QList<QPair<QString, QString>> summaryRows(const ModelSnapshot& s) {
  const ModelConfig& c = s.config;
  QList<QPair<QString, QString>> rows;
  const auto add = [&rows](const QString& key, const QString& value) { rows.append({key, value}); };
  add(SummaryPanel::tr("Architecture"), QString::fromStdString(std::string(arch_name(c.arch))));
  add(SummaryPanel::tr("Layout"), QString::fromStdString(std::string(layout_name(c.layout))));
  add(SummaryPanel::tr("d_model"), number(c.d_model));
  add(SummaryPanel::tr("Layers"), number(c.n_layer));
  add(SummaryPanel::tr("d_inner"), number(c.d_inner));
  add(SummaryPanel::tr("d_state"), number(c.d_state));
  add(SummaryPanel::tr("d_conv"), number(c.d_conv));
  if (c.is_mamba2()) {
    add(SummaryPanel::tr("Heads"), number(c.n_heads));
    add(SummaryPanel::tr("Head dim"), number(c.head_dim));
    add(SummaryPanel::tr("Groups"), number(c.n_groups));
  } else {
    add(SummaryPanel::tr("dt_rank"), number(c.dt_rank));
  }
  add(SummaryPanel::tr("Vocabulary"), c.padded_vocab != c.vocab_size
                                           ? SummaryPanel::tr("%1 (padded to %2)").arg(number(c.vocab_size), number(c.padded_vocab))
                                           : number(c.vocab_size));
  add(SummaryPanel::tr("Parameters"), parameters(s.parameter_count));
  QStringList dtypes;
  for (const DType d : s.dtypes) dtypes << QString::fromStdString(std::string(dtype_name(d)));
  add(SummaryPanel::tr("Weights"),
      SummaryPanel::tr("%1, %2").arg(QLocale(QLocale::English).formattedDataSize(static_cast<qint64>(s.weight_bytes), 2,
                                                                                 QLocale::DataSizeIecFormat),
                                     dtypes.join(QStringLiteral(", "))));
  add(SummaryPanel::tr("Tied embeddings"), c.tie_embeddings ? SummaryPanel::tr("yes") : SummaryPanel::tr("no"));
  add(SummaryPanel::tr("Tokenizer"), s.tokenizer_file ? QFileInfo(QString::fromStdString(*s.tokenizer_file)).fileName()
                                                      : SummaryPanel::tr("none"));
  return rows;
}

SummaryPanel::SummaryPanel(QWidget* parent) : QWidget(parent) {
  m_form = new QFormLayout(this);
  m_form->setLabelAlignment(Qt::AlignLeft);
  m_form->setFieldGrowthPolicy(QFormLayout::AllNonFixedFieldsGrow);
  m_form->setContentsMargins(12, 10, 12, 10);
  m_form->setHorizontalSpacing(18);
  m_form->setVerticalSpacing(5);
  setSnapshot(nullptr);
}

void SummaryPanel::setSnapshot(const std::shared_ptr<const ModelSnapshot>& snapshot) {
  while (m_form->rowCount() > 0) m_form->removeRow(0);
  if (!snapshot) {
    auto* hint = new QLabel(tr("No model open."), this);
    hint->setEnabled(false);
    m_form->addRow(hint);
    return;
  }
  for (const auto& [key, value] : summaryRows(*snapshot)) {
    auto* keyLabel = new QLabel(key, this);
    keyLabel->setForegroundRole(QPalette::PlaceholderText);
    auto* valueLabel = new QLabel(value, this);
    valueLabel->setTextInteractionFlags(Qt::TextSelectableByMouse);  // sizes get copied into notes
    m_form->addRow(keyLabel, valueLabel);
  }
}

}  // namespace ms::app
