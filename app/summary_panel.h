// SummaryPanel: the key facts of the opened model as a two-column form (architecture, layout,
// sizes, parameter count, weights size, tokenizer). summaryRows() does the wording and number
// formatting so tests can check it without a widget.
#pragma once

#include <memory>

#include <QList>
#include <QPair>
#include <QString>
#include <QWidget>

#include "views/model_snapshot.h"

class QFormLayout;

namespace ms::app {

QList<QPair<QString, QString>> summaryRows(const ModelSnapshot& snapshot);

class SummaryPanel : public QWidget {
  Q_OBJECT

 public:
  explicit SummaryPanel(QWidget* parent = nullptr);
  void setSnapshot(const std::shared_ptr<const ModelSnapshot>& snapshot);

 private:
  QFormLayout* m_form = nullptr;
};

}  // namespace ms::app
