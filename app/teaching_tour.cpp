// The teaching tour (see teaching_tour.h).
#include "app/teaching_tour.h"

#include <algorithm>

#include <QAbstractSpinBox>
#include <QApplication>
#include <QComboBox>
#include <QDockWidget>
#include <QHBoxLayout>
#include <QKeyEvent>
#include <QLabel>
#include <QLineEdit>
#include <QPlainTextEdit>
#include <QPushButton>
#include <QSlider>
#include <QStatusBar>
#include <QTextEdit>
#include <QToolBar>
#include <QVBoxLayout>

#include "app/calibration_process.h"
#include "app/data_dir.h"
#include "app/imgui_canvas.h"
#include "app/main_window.h"
#include "app/quant_panel.h"
#include "views/theme.h"

namespace ms::app {

const std::vector<TourStep>& teachingTourSteps() {
  // The demo Mamba-1: 6 layers, d_model 256, 512 inner channels, 16 states. The numbers in the
  // texts were read off these views (see teaching_tour.h); change them together.
  static const std::vector<TourStep> steps = [] {
    std::vector<TourStep> s;
    TourStep t;

    t = {};
    t.title = QStringLiteral("A Mamba layer and its quant points");
    t.text = QStringLiteral(
        "This is one layer of a small Mamba language model. Every coloured box is a quant point: a place where "
        "numbers would be stored or computed with fewer bits. Teal boxes are activations (the values that flow "
        "through the layer for each token), blue boxes are weights, and the violet box is the SSM state, the "
        "model's running memory of the text so far.");
    t.view = QStringLiteral("structure");
    t.layer = 0;
    t.module = Module::InProj;
    s.push_back(t);

    t = {};
    t.title = QStringLiteral("An outlier channel");
    t.text = QStringLiteral(
        "Each bar is one of the 512 channels entering out_proj in layer 3: the largest value it took over "
        "16,384 tokens of Austen. Most channels stay near the mean of 2.661, but channel 328 reaches 45.365, "
        "17 times the mean and far above the dashed line at mean + 6σ (17.161). A channel that towers over "
        "the others like this is an outlier channel; in the heatmap below, the lone bright marks are those "
        "of the other layers.");
    t.view = QStringLiteral("channel-maxima");
    t.layer = 3;
    t.module = Module::OutProj;
    s.push_back(t);

    t = {};
    t.title = QStringLiteral("Why one scale for the whole tensor fails (8 bits)");
    t.text = QStringLiteral(
        "Quantizing with one scale per tensor means the step between codes is set by the largest value: in "
        "layers.5.out_proj.input outlier channel 36 reaches 16.792, so at 8 bits the step is 0.1322. Every "
        "value smaller than half a step becomes 0; the blue part of the histogram shows them: 72.1 % of all "
        "values. The signal-to-noise ratio (SQNR) is only 13.3 dB.");
    t.view = QStringLiteral("distributions");
    t.layer = 5;
    t.module = Module::OutProj;
    t.distributionBits = 8;
    s.push_back(t);

    t = {};
    t.title = QStringLiteral("… and at 4 bits");
    t.text = QStringLiteral(
        "At 4 bits there are only 15 codes, so the step grows to 2.399 and 99.8 % of all values round to 0. "
        "The SQNR falls to 1.6 dB: the layer's input is almost erased, all because of one channel. This is "
        "why per-tensor absmax fails on models with outlier channels.");
    t.view = QStringLiteral("distributions");
    t.layer = 5;
    t.module = Module::OutProj;
    t.distributionBits = 4;
    s.push_back(t);

    // The three method steps show the distributions view's before/after (mambascope-cli preview
    // on the first 2,048 tokens, A8 per tensor); `quotes` lists the preview's numbers the text
    // says, as the view prints them.
    using F = PreviewFigure;
    t = {};
    t.title = QStringLiteral("What SmoothQuant moves");
    t.text = QStringLiteral(
        "SmoothQuant moves the difficulty from activations to weights: it divides each input channel j by "
        "sⱼ = √(max|xⱼ| / max|Wⱼ|) (α = 0.5) and multiplies the matching column of out_proj's weight by sⱼ, so "
        "x·Wᵀ is unchanged. Left is the input before, right after, on the first 2,048 tokens: the channel absmax "
        "CV falls from 0.64 to 0.28 and the largest value from 10.522 to 0.9929, as the outlier channel 36 is "
        "divided by one of the largest factors. At 8 bits with one scale per tensor the SQNR rises from 16.6 dB "
        "to 23.8 dB; the outlier now lives in the weights, which have a scale per row.");
    t.view = QStringLiteral("distributions");
    t.layer = 5;
    t.module = Module::OutProj;
    t.distributionBits = 8;
    t.method = QStringLiteral("smoothquant");
    t.alpha = 0.5;
    t.quotes = {{F::AbsmaxCvBefore, QStringLiteral("0.64")}, {F::AbsmaxCvAfter, QStringLiteral("0.28")},
                {F::AbsmaxBefore, QStringLiteral("10.522")},  {F::AbsmaxAfter, QStringLiteral("0.9929")},
                {F::SqnrBefore, QStringLiteral("16.6")},      {F::SqnrAfter, QStringLiteral("23.8")}};
    s.push_back(t);

    t = {};
    t.title = QStringLiteral("What a rotation (Hadamard) does");
    t.text = QStringLiteral(
        "A rotation mixes the channels: every token's 512 values are multiplied by an orthonormal Hadamard "
        "matrix, and out_proj's weight by the same matrix, so the layer's output does not change. Channel 36's "
        "large values are spread over all 512 channels (each gets ±1/√512 of them): on the right the channel "
        "absmax CV falls from 0.64 to 0.15 and the largest value from 10.522 to 1.208: the histogram's long "
        "tail now ends near 1. One scale per tensor now fits: at 8 bits the SQNR rises from 16.6 dB to 34.8 dB.");
    t.view = QStringLiteral("distributions");
    t.layer = 5;
    t.module = Module::OutProj;
    t.distributionBits = 8;
    t.method = QStringLiteral("hadamard");
    t.quotes = {{F::AbsmaxCvBefore, QStringLiteral("0.64")}, {F::AbsmaxCvAfter, QStringLiteral("0.15")},
                {F::AbsmaxBefore, QStringLiteral("10.522")},  {F::AbsmaxAfter, QStringLiteral("1.208")},
                {F::SqnrBefore, QStringLiteral("16.6")},      {F::SqnrAfter, QStringLiteral("34.8")}};
    s.push_back(t);

    t = {};
    t.title = QStringLiteral("KLT: the rotation fitted to the data");
    t.text = QStringLiteral(
        "A Hadamard rotation treats all directions alike. KLT first rotates onto the eigenvectors of the "
        "channels' covariance, measured on the same 2,048 tokens, then applies the Hadamard: afterwards every "
        "channel has the same variance, and the variance CV (the lower plots) falls from 1.83 to 0.00. The "
        "absmax CV falls from 0.64 to 0.16 and the largest value from 10.522 to 1.339, so at 8 bits the SQNR "
        "rises from 16.6 dB to 33.9 dB, about what the Hadamard alone gave here. KLT pays off where channels "
        "are correlated, which the plain Hadamard does not undo.");
    t.view = QStringLiteral("distributions");
    t.layer = 5;
    t.module = Module::OutProj;
    t.distributionBits = 8;
    t.method = QStringLiteral("klt");
    t.quotes = {{F::VarCvBefore, QStringLiteral("1.83")},    {F::VarCvAfter, QStringLiteral("0.00")},
                {F::AbsmaxCvBefore, QStringLiteral("0.64")}, {F::AbsmaxCvAfter, QStringLiteral("0.16")},
                {F::AbsmaxBefore, QStringLiteral("10.522")},  {F::AbsmaxAfter, QStringLiteral("1.339")},
                {F::SqnrBefore, QStringLiteral("16.6")},      {F::SqnrAfter, QStringLiteral("33.9")}};
    s.push_back(t);

    t = {};
    t.title = QStringLiteral("The SSM state has outliers too");
    t.text = QStringLiteral(
        "This is the SSM state of layer 5: 512 channels × 16 states, the model's memory, coloured by the "
        "largest value each cell took (log scale). Above, each channel's scale: mean 0.1392, but 4 channels "
        "pass mean + 6σ and the largest reaches 2.004, 14.4 times the mean. On the right, each state's scale "
        "spans 0.4441 to 2.004. One scale for the whole state would again waste the codes on a few cells.");
    t.view = QStringLiteral("state-heatmap");
    t.layer = 5;
    s.push_back(t);

    t = {};
    t.title = QStringLiteral("The state at 4 bits, one scale per tensor");
    t.text = QStringLiteral(
        "Now only the state is quantized: weights and activations stay float (W16 A16), the state gets 4 bits "
        "with one scale per tensor. The model's next-token predictions drift: KL divergence 0.0903 nats per "
        "token on average, top-1 agreement 78.35 %, perplexity 31.835 → 34.439. The state of layer 0 keeps an "
        "SQNR of only 3.5 dB (the table).");
    t.view = QStringLiteral("error");
    t.layer = 5;
    t.wbits = 16;
    t.abits = 16;
    t.hbits = 4;
    t.stateMethod = QStringLiteral("tensor");
    s.push_back(t);

    t = {};
    t.title = QStringLiteral("The state at 4 bits with DSQ");
    t.text = QStringLiteral(
        "Same 4 bits, but DSQ (Q-Mamba) gives the state two small scale vectors, one per channel and one per "
        "state, the two margins of the heatmap. The error drops: KL 0.0256 nats per token, top-1 agreement "
        "90.16 %, perplexity 31.835 → 32.805, and layer 0's state SQNR rises from 3.5 to 9.9 dB. That is why "
        "the state needs DSQ.");
    t.view = QStringLiteral("error");
    t.layer = 5;
    t.wbits = 16;
    t.abits = 16;
    t.hbits = 4;
    t.stateMethod = QStringLiteral("dsq");
    s.push_back(t);

    t = {};
    t.title = QStringLiteral("What it costs, token by token");
    t.text = QStringLiteral(
        "A realistic setting: 4-bit weights, 8-bit activations, 8-bit state with DSQ. Each token of the text "
        "is coloured by how much the quantized model's prediction of it differs from the float model's (KL, "
        "legend on the right): mean 0.0283 nats, top-1 agreement 87.40 %, perplexity 31.835 → 32.831. Click a "
        "token to see which layers hurt it; move the sliders in the Quantization dock to try your own "
        "setting.");
    t.view = QStringLiteral("error");
    t.layer = 0;
    t.wbits = 4;
    t.abits = 8;
    t.hbits = 8;
    t.stateMethod = QStringLiteral("dsq");
    s.push_back(t);
    return s;
  }();
  return steps;
}

bool tourStepNeedsStats(const TourStep& step) {
  return step.view != QLatin1String("structure") && step.view != QLatin1String("error");
}

TeachingTour::TeachingTour(MainWindow* window) : QObject(window), m_window(window) {
  auto* panel = new QWidget;
  panel->setObjectName(QStringLiteral("teachingNarration"));
  m_counter = new QLabel(panel);
  m_title = new QLabel(panel);
  m_text = new QLabel(panel);
  m_text->setWordWrap(true);
  m_text->setTextFormat(Qt::PlainText);
  m_text->setAlignment(Qt::AlignLeft | Qt::AlignTop);
  m_keys = new QLabel(tr("→ / Space: next   ← : previous   Esc: leave   F11: presentation"), panel);
  m_keys->setEnabled(false);  // dim: a hint, not content
  m_previous = new QPushButton(tr("◀  Previous"), panel);
  m_next = new QPushButton(tr("Next  ▶"), panel);
  m_present = new QPushButton(tr("Presentation (F11)"), panel);
  m_present->setCheckable(true);
  auto* leave = new QPushButton(tr("Leave (Esc)"), panel);
  for (QPushButton* b : {m_previous, m_next, m_present, leave}) b->setFocusPolicy(Qt::NoFocus);  // keys are the tour's
  connect(m_previous, &QPushButton::clicked, this, &TeachingTour::previous);
  connect(m_next, &QPushButton::clicked, this, &TeachingTour::next);
  connect(m_present, &QPushButton::clicked, this, [this](bool on) { setPresentation(on); });
  connect(leave, &QPushButton::clicked, this, &TeachingTour::stop);

  auto* head = new QHBoxLayout;
  head->setSpacing(28);  // "Step 2 / 11" and the title read as two things
  head->addWidget(m_counter);
  head->addWidget(m_title, 1);
  auto* buttons = new QHBoxLayout;
  buttons->addWidget(m_keys, 1);
  buttons->addWidget(m_present);
  buttons->addWidget(leave);
  buttons->addWidget(m_previous);
  buttons->addWidget(m_next);
  auto* layout = new QVBoxLayout(panel);
  layout->addLayout(head);
  layout->addWidget(m_text, 1);
  layout->addLayout(buttons);

  m_dock = new QDockWidget(tr("Teaching Tour"), window);
  m_dock->setObjectName(QStringLiteral("teachingDock"));  // saveState() keys docks by name
  m_dock->setWidget(panel);
  m_dock->setFeatures(QDockWidget::DockWidgetMovable | QDockWidget::DockWidgetFloatable);
  window->addDockWidget(Qt::BottomDockWidgetArea, m_dock);
  m_dock->hide();
  updateNarrationFont();

  // Statistics (calibration, File › Open Statistics) and a new model put the views on their own
  // defaults; a running tour puts them back on its step.
  connect(window, &MainWindow::statsOpened, this, [this] {
    if (m_active) apply();
  });
  connect(window, &MainWindow::modelOpened, this, [this] {
    if (m_active) apply();
  });
}

void TeachingTour::start(int index) {
  if (!m_active) {
    m_active = true;
    qApp->installEventFilter(this);
    m_dock->show();
    Q_EMIT activeChanged(true);
  }
  go(index);
}

void TeachingTour::stop() {
  if (!m_active) return;
  setPresentation(false);
  m_active = false;
  qApp->removeEventFilter(this);
  m_dock->hide();
  Q_EMIT activeChanged(false);
}

void TeachingTour::next() { go(m_current + 1); }
void TeachingTour::previous() { go(m_current - 1); }

void TeachingTour::go(int index) {
  m_current = std::clamp(index, 0, count() - 1);
  apply();
  updateNarration();
  Q_EMIT stepChanged(m_current);
}

void TeachingTour::apply() {
  const TourStep& s = step();
  MainWindow* w = m_window;
  w->setView(s.view);
  if (!w->snapshot()) return;  // the model opens later: modelOpened applies the step again
  // Most steps need statistics: without any, calibrate as the app does by default (the
  // narration's numbers were measured so); statsOpened applies the step again.
  if (m_calibratesWhenNeeded && !w->stats() && !w->calibration()->isRunning() &&
      !defaultCalibrationText().isEmpty()) {
    CalibrationChoice choice;
    choice.textFile = defaultCalibrationText();
    choice.maxTokens = kDefaultCalibrationTokens;
    w->calibrate(choice);
  }
  // The layer first, then the point: selecting a different row always reaches the views (the
  // tree announces only changes), even when the point row was current already.
  w->selectLayer(s.layer);
  if (s.view == QLatin1String("state-heatmap")) w->selectPoint(QuantPoint{s.layer, Module::Ssm, Site::State});
  else if (s.module) w->selectPoint(QuantPoint{s.layer, *s.module, Site::Input});
  if (s.distributionBits > 0) w->setDistributionsBits(s.distributionBits);
  // Last: the preview starts from the point and bits set above (a step without a method clears
  // the one a later step chose, so Previous shows the statistics again).
  if (s.view == QLatin1String("distributions")) w->setDistributionsMethod(s.method, s.alpha);
  if (s.wbits > 0 || s.abits > 0 || s.hbits > 0 || !s.stateMethod.isEmpty()) {
    // The dock's own controls, as a user would set them: each change is a request, latest wins.
    QuantPanel* q = w->quantPanel();
    q->scopeBox()->setCurrentIndex(0);  // all layers
    if (!s.stateMethod.isEmpty()) {
      const int i = q->stateMethodBox()->findData(s.stateMethod);
      if (i >= 0) q->stateMethodBox()->setCurrentIndex(i);
    }
    if (s.wbits > 0) q->bitsSlider('W')->setValue(QuantPanel::positionOf(s.wbits));
    if (s.abits > 0) q->bitsSlider('A')->setValue(QuantPanel::positionOf(s.abits));
    if (s.hbits > 0) q->bitsSlider('H')->setValue(QuantPanel::positionOf(s.hbits));
  }
}

void TeachingTour::updateNarration() {
  const TourStep& s = step();
  m_counter->setText(tr("Step %1 / %2").arg(m_current + 1).arg(count()));
  m_title->setText(s.title);
  m_text->setText(s.text);
  m_previous->setEnabled(m_current > 0);
  m_next->setEnabled(m_current < count() - 1);
  fitNarration();
}

void TeachingTour::fitNarration() {
  // A dock at the bottom does not grow with word-wrapped text: give the text the height it
  // needs at the dock's width (the window's, docked at the bottom), so no sentence is cut off.
  const int width = std::max(m_text->width(), m_window->width() - 40);
  m_text->setMinimumHeight(std::max(0, m_text->heightForWidth(width)));  // -1: no text yet
}

void TeachingTour::updateNarrationFont() {
  // Large enough for the back row when presenting; the window's own size otherwise.
  QFont base = m_window->font();
  const qreal size = base.pointSizeF() > 0 ? base.pointSizeF() : 10.0;
  const qreal scale = m_presentation ? 2.0 : 1.15;
  QFont text = base;
  text.setPointSizeF(size * scale);
  QFont title = text;
  title.setBold(true);
  title.setPointSizeF(size * scale * 1.2);
  m_text->setFont(text);
  m_title->setFont(title);
  m_counter->setFont(title);
  for (QPushButton* b : {m_previous, m_next}) b->setFont(m_presentation ? text : base);
  fitNarration();
}

void TeachingTour::setPresentation(bool on, bool fullScreen) {
  if (on == m_presentation) return;
  m_presentation = on;
  m_present->setChecked(on);
  if (on) {
    m_hidden.clear();
    for (QDockWidget* dock : m_window->findChildren<QDockWidget*>())
      if (dock != m_dock && dock->isVisible()) m_hidden.push_back(dock);
    for (QToolBar* bar : m_window->findChildren<QToolBar*>())
      if (bar->isVisible()) m_hidden.push_back(bar);
    if (m_window->statusBar()->isVisible()) m_hidden.push_back(m_window->statusBar());
    for (QWidget* widget : m_hidden) widget->hide();
    m_wasFullScreen = m_window->isFullScreen();
    if (fullScreen && !m_wasFullScreen) m_window->showFullScreen();
  } else {
    for (QWidget* widget : m_hidden) widget->show();
    m_hidden.clear();
    if (m_window->isFullScreen() && !m_wasFullScreen) m_window->showNormal();
  }
  m_window->canvas()->setUiScale(on ? views::kPresentationScale : 1.0f);
  updateNarrationFont();
  Q_EMIT presentationChanged(on);
}

bool TeachingTour::eventFilter(QObject* watched, QEvent* event) {
  // Closing the window ends the tour first, so that the layout it saves (QSettings) has the usual
  // docks, no narration and no full screen.
  if (m_active && watched == m_window && event->type() == QEvent::Close) stop();
  if (!m_active || event->type() != QEvent::KeyPress) return QObject::eventFilter(watched, event);
  auto* widget = qobject_cast<QWidget*>(watched);
  if (!widget || (widget->window() != m_window && widget->window() != m_dock))
    return QObject::eventFilter(watched, event);
  // Where the user types, the arrows and Space are theirs.
  if (qobject_cast<QLineEdit*>(widget) || qobject_cast<QAbstractSpinBox*>(widget) ||
      qobject_cast<QTextEdit*>(widget) || qobject_cast<QPlainTextEdit*>(widget))
    return QObject::eventFilter(watched, event);
  const auto* key = static_cast<QKeyEvent*>(event);
  if (key->modifiers() & (Qt::ControlModifier | Qt::AltModifier | Qt::MetaModifier))
    return QObject::eventFilter(watched, event);
  switch (key->key()) {
    case Qt::Key_Right:
    case Qt::Key_PageDown:
    case Qt::Key_Space:
      next();
      return true;
    case Qt::Key_Left:
    case Qt::Key_PageUp:
      previous();
      return true;
    case Qt::Key_Escape:
      stop();
      return true;
    default:
      return QObject::eventFilter(watched, event);
  }
}

}  // namespace ms::app
