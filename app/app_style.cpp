// applyAppStyle (see app_style.h).
#include "app/app_style.h"

#include <QApplication>
#include <QColor>
#include <QPalette>
#include <QStyleFactory>

#include "views/theme.h"

namespace ms::app {

void applyAppStyle(QApplication& app) {
  using views::Palette;
  app.setStyle(QStyleFactory::create(QStringLiteral("Fusion")));
  const QColor window(0x2B, 0x2D, 0x30);
  const QColor base = QColor::fromRgba(Palette::background);
  const QColor alternate = QColor::fromRgba(Palette::panel);
  const QColor text = QColor::fromRgba(Palette::text);
  const QColor dim = QColor::fromRgba(Palette::text_dim);
  const QColor accent = QColor::fromRgba(Palette::weight);
  QPalette p;
  p.setColor(QPalette::Window, window);
  p.setColor(QPalette::WindowText, text);
  p.setColor(QPalette::Base, base);
  p.setColor(QPalette::AlternateBase, alternate);
  p.setColor(QPalette::ToolTipBase, QColor(0x32, 0x35, 0x3A));
  p.setColor(QPalette::ToolTipText, text);
  p.setColor(QPalette::PlaceholderText, dim);
  p.setColor(QPalette::Text, text);
  p.setColor(QPalette::Button, QColor(0x34, 0x37, 0x3D));
  p.setColor(QPalette::ButtonText, text);
  p.setColor(QPalette::BrightText, QColor(0xFF, 0x6B, 0x6B));
  p.setColor(QPalette::Light, QColor(0x45, 0x48, 0x4F));
  p.setColor(QPalette::Midlight, QColor(0x3A, 0x3D, 0x43));
  p.setColor(QPalette::Mid, QColor(0x30, 0x33, 0x38));
  p.setColor(QPalette::Dark, QColor(0x1A, 0x1B, 0x1E));
  p.setColor(QPalette::Shadow, QColor(0x10, 0x10, 0x12));
  p.setColor(QPalette::Highlight, accent.darker(135));
  p.setColor(QPalette::HighlightedText, Qt::white);
  p.setColor(QPalette::Link, accent.lighter(120));
  for (const QPalette::ColorRole role : {QPalette::WindowText, QPalette::Text, QPalette::ButtonText})
    p.setColor(QPalette::Disabled, role, dim.darker(130));
  app.setPalette(p);
  // Dock titles and the status bar get a little air; everything else is Fusion's.
  app.setStyleSheet(QStringLiteral(
      "QDockWidget::title { padding: 6px 8px; background: #26282C; }"
      "QStatusBar { color: #9DA3AD; }"
      "QTreeView { border: none; }"
      "QHeaderView::section { background: #26282C; color: #9DA3AD; border: none;"
      "  border-right: 1px solid #3A3D43; padding: 4px 6px; }"));
}

}  // namespace ms::app
