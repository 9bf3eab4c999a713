// QuantPanel (see quant_panel.h).
#include "app/quant_panel.h"

#include <QCheckBox>
#include <QComboBox>
#include <QDockWidget>
#include <QFormLayout>
#include <QHBoxLayout>
#include <QJsonObject>
#include <QLabel>
#include <QKeySequence>
#include <QPushButton>
#include <QSignalBlocker>
#include <QSlider>
#include <QVBoxLayout>

namespace ms::app {

QuantPanel::QuantPanel(QWidget* parent) : QWidget(parent) {
  setObjectName(QStringLiteral("quantPanel"));
  m_process = new RequantProcess(this);

  m_scope = new QComboBox(this);
  m_scope->setObjectName(QStringLiteral("quantScope"));
  m_scope->setToolTip(tr("Edit the bits of every layer, or override them for one layer"));

  const auto makeSlider = [this](const char* name, QLabel*& value) {
    auto* s = new QSlider(Qt::Horizontal, this);
    s->setObjectName(QLatin1String(name));
    s->setRange(2, 16);  // every width; 16: float
    s->setSingleStep(1);
    s->setPageStep(4);
    s->setTickPosition(QSlider::TicksBelow);
    s->setTickInterval(1);
    s->setFocusPolicy(Qt::StrongFocus);
    value = new QLabel(this);
    value->setObjectName(QString::fromLatin1(name).replace(QStringLiteral("Slider"), QStringLiteral("Value")));  // wBitsValue…
    value->setMinimumWidth(fontMetrics().horizontalAdvance(QStringLiteral("16 (float)*")));
    return s;
  };
  m_wSlider = makeSlider("wBitsSlider", m_wValue);
  m_aSlider = makeSlider("aBitsSlider", m_aValue);
  m_hSlider = makeSlider("hBitsSlider", m_hValue);
  m_wSlider->setToolTip(tr("Weight bits (RTN of in_proj, x_proj, dt_proj, out_proj); 16: float"));
  m_aSlider->setToolTip(tr("Activation bits at every Linear input; 16: float"));
  m_hSlider->setToolTip(tr("SSM state bits, quantized inside the recurrence; 16: float"));

  m_clearLayer = new QPushButton(tr("&Clear layer overrides"), this);
  m_clearLayer->setObjectName(QStringLiteral("clearLayerOverrides"));

  m_granularity = new QComboBox(this);
  m_granularity->setObjectName(QStringLiteral("weightGranularity"));
  for (const char* g : {"channel", "tensor", "group:16", "group:32", "group:64", "group:128"})
    m_granularity->addItem(QLatin1String(g), QLatin1String(g));
  m_symmetric = new QCheckBox(tr("S&ymmetric"), this);
  m_symmetric->setChecked(true);
  m_stateMethod = new QComboBox(this);
  m_stateMethod->setObjectName(QStringLiteral("stateMethod"));
  m_stateMethod->addItem(tr("DSQ (Q-Mamba)"), QStringLiteral("dsq"));
  m_stateMethod->addItem(tr("per tensor"), QStringLiteral("tensor"));
  m_stateMethod->addItem(tr("per channel"), QStringLiteral("channel"));
  m_stateMethod->addItem(tr("per state"), QStringLiteral("state"));
  m_actScale = new QComboBox(this);
  m_actScale->setObjectName(QStringLiteral("actScale"));
  m_actScale->addItem(tr("dynamic"), QStringLiteral("dynamic"));
  m_actScale->addItem(tr("static (batch absmax)"), QStringLiteral("static"));
  m_actGranularity = new QComboBox(this);
  m_actGranularity->setObjectName(QStringLiteral("actGranularity"));
  m_actGranularity->addItem(tr("per token"), QStringLiteral("token"));
  m_actGranularity->addItem(tr("per tensor"), QStringLiteral("tensor"));

  m_status = new QLabel(tr("Open a model; the preview starts with the Error view."), this);
  m_status->setObjectName(QStringLiteral("quantStatus"));
  m_status->setWordWrap(true);
  m_status->setTextInteractionFlags(Qt::TextSelectableByMouse);

  auto* form = new QFormLayout;
  const auto sliderRow = [&](const QString& label, QSlider* s, QLabel* value) {
    auto* row = new QHBoxLayout;
    row->addWidget(s, 1);
    row->addWidget(value);
    auto* l = new QLabel(label, this);
    l->setBuddy(s);
    form->addRow(l, row);
  };
  auto* scopeLabel = new QLabel(tr("&Scope"), this);
  scopeLabel->setBuddy(m_scope);
  form->addRow(scopeLabel, m_scope);
  sliderRow(tr("&W bits"), m_wSlider, m_wValue);
  sliderRow(tr("&A bits"), m_aSlider, m_aValue);
  sliderRow(tr("H b&its"), m_hSlider, m_hValue);  // Alt+H opens the Help menu
  form->addRow(QString(), m_clearLayer);
  const auto comboRow = [&](const QString& label, QWidget* w) {
    auto* l = new QLabel(label, this);
    l->setBuddy(w);
    form->addRow(l, w);
  };
  comboRow(tr("&Granularity"), m_granularity);
  form->addRow(QString(), m_symmetric);
  comboRow(tr("S&tate method"), m_stateMethod);
  comboRow(tr("Act. sca&le"), m_actScale);
  comboRow(tr("Act. gra&nularity"), m_actGranularity);

  // A/B: explicit shortcuts (the form's mnemonics use W A I S C Y G T L N; Alt+H is Help).
  const QString sameBatch = tr("A and B answer the same cached batch of the error preview (the same tokens and float "
                               "run), so their difference is the schemes' own.");
  const auto abButton = [&](const QString& text, const char* name, const QKeySequence& key, const QString& tip) {
    auto* b = new QPushButton(text, this);
    b->setObjectName(QLatin1String(name));
    b->setShortcut(key);
    b->setToolTip(QStringLiteral("%1 (%2)\n%3").arg(tip, key.toString(QKeySequence::NativeText), sameBatch));
    return b;
  };
  m_pinA = abButton(tr("Pin as A"), "pinA", QKeySequence(Qt::CTRL | Qt::SHIFT | Qt::Key_A),
                    tr("Keep the result shown as A; the controls go on as B"));
  m_swap = abButton(tr("Swap A/B"), "swapAB", QKeySequence(Qt::CTRL | Qt::SHIFT | Qt::Key_X),
                    tr("B's result becomes A, and the controls take A's setting"));
  m_clearA = abButton(tr("Clear A"), "clearA", QKeySequence(Qt::CTRL | Qt::SHIFT | Qt::Key_Backspace),
                      tr("Leave the A/B comparison"));
  m_abLabel = new QLabel(this);
  m_abLabel->setObjectName(QStringLiteral("abLabel"));
  m_abLabel->setWordWrap(true);
  m_abLabel->setToolTip(sameBatch);
  auto* abRow = new QHBoxLayout;
  abRow->addWidget(m_pinA);
  abRow->addWidget(m_swap);
  abRow->addWidget(m_clearA);
  form->addRow(tr("A/B"), abRow);
  form->addRow(QString(), m_abLabel);
  connect(m_pinA, &QPushButton::clicked, this, [this] { pinA(); });
  connect(m_swap, &QPushButton::clicked, this, [this] { swapAB(); });
  connect(m_clearA, &QPushButton::clicked, this, [this] { clearA(); });

  auto* layout = new QVBoxLayout(this);
  layout->addLayout(form);
  layout->addWidget(m_status);
  layout->addStretch(1);

  connect(m_wSlider, &QSlider::valueChanged, this, [this](int v) { onSliderMoved('W', v); });
  connect(m_aSlider, &QSlider::valueChanged, this, [this](int v) { onSliderMoved('A', v); });
  connect(m_hSlider, &QSlider::valueChanged, this, [this](int v) { onSliderMoved('H', v); });
  connect(m_scope, &QComboBox::currentIndexChanged, this, [this] { onScopeChanged(); });
  connect(m_clearLayer, &QPushButton::clicked, this, [this] {
    m_overrides.erase(currentScopeLayer());
    onScopeChanged();
    activate();
  });
  for (QComboBox* box : {m_granularity, m_stateMethod, m_actGranularity})
    connect(box, &QComboBox::currentIndexChanged, this, [this] {
      if (!m_updating) activate();
    });
  // A calibrated scale per token does not exist (act_quant.h): static implies per tensor.
  connect(m_actScale, &QComboBox::currentIndexChanged, this, [this] {
    const bool isStatic = m_actScale->currentData().toString() == QLatin1String("static");
    m_updating = true;
    if (isStatic) m_actGranularity->setCurrentIndex(m_actGranularity->findData(QStringLiteral("tensor")));
    m_actGranularity->setEnabled(!isStatic);
    m_updating = false;
    activate();
  });
  connect(m_symmetric, &QCheckBox::toggled, this, [this] {
    if (!m_updating) activate();
  });

  connect(m_process, &RequantProcess::snapshotReady, this, [this](std::shared_ptr<const views::error::Snapshot> s) {
    m_snapshot = std::move(s);
    m_snapshotSetting = m_requested.value(m_snapshot->id, setting());
    for (auto it = m_requested.begin(); it != m_requested.end();) it = it.key() <= m_snapshot->id ? m_requested.erase(it) : std::next(it);
    m_lastError.clear();
    m_status->setText(QString::fromStdString(m_snapshot->status));
    Q_EMIT snapshotChanged(m_snapshot);
    if (m_pinRequest && m_snapshot->id >= m_pinRequest) {
      // A newer request for the same setting (the view shown asks again) answers it as well; any
      // other one is a user's change, which cancels the restore.
      const bool answered = m_snapshotSetting == m_pinSetting;
      m_pinRequest = 0;
      if (answered) {
        pinA();
        setSetting(m_afterPin);
        return;
      }
    }
    rebuildComparison();
  });
  connect(m_process, &RequantProcess::ready, this, [this](const RequantBatch& b) {
    m_status->setText(tr("Ready: %1 × %2 tokens on %3 (set up in %4 s)")
                          .arg(b.windows)
                          .arg(b.windowLength)
                          .arg(b.device)
                          .arg(b.setupMs / 1000.0, 0, 'f', 1));
  });
  connect(m_process, &RequantProcess::failed, this, [this](const QString& message) {
    m_status->setText(tr("Error: %1").arg(message));
    m_lastError = message;
    Q_EMIT failed(message);
  });
  setModel(QString(), 0);
}

void QuantPanel::setModel(const QString& path, int layers, const QString& tokenizer) {
  m_process->stop();
  m_model = path;
  m_tokenizer = tokenizer;
  m_layers = layers;
  m_overrides.clear();
  m_snapshot.reset();
  m_lastError.clear();
  m_requested.clear();
  m_snapshotSetting = {};
  m_pinRequest = 0;
  clearA();  // another model, another batch: nothing to compare with
  m_updating = true;
  m_scope->clear();
  m_scope->addItem(tr("All layers"), -1);
  for (int i = 0; i < layers; ++i) m_scope->addItem(tr("Layer %1 (override)").arg(i), i);
  m_updating = false;
  onScopeChanged();
  setEnabled(!path.isEmpty());
  m_status->setText(path.isEmpty() ? tr("Open a model first.") : tr("The preview starts with the Error view."));
}

void QuantPanel::activate() {
  if (m_model.isEmpty()) return;
  // The preview is wanted: show its controls (a no-op when the dock is already in front).
  if (auto* dock = qobject_cast<QDockWidget*>(parentWidget())) dock->raise();
  if (!m_process->isRunning()) {
    RequantProcess::Options o;
    o.model = m_model;
    o.tokenizer = m_tokenizer;
    m_process->start(o);
    m_status->setText(tr("Starting the error preview (loads the model and runs the float batch)…"));
  }
  sendSetting();
}

void QuantPanel::setCurrentLayer(int layer) {
  // Only when a layer is being edited: the global scope stays global while browsing the tree.
  if (currentScopeLayer() < 0 || layer < 0 || layer >= m_layers) return;
  m_scope->setCurrentIndex(m_scope->findData(layer));
}

int QuantPanel::currentScopeLayer() const { return m_scope->currentData().isValid() ? m_scope->currentData().toInt() : -1; }

QSlider* QuantPanel::bitsSlider(char which) const {
  return which == 'W' ? m_wSlider : which == 'A' ? m_aSlider : m_hSlider;
}

void QuantPanel::onSliderMoved(char which, int position) {
  if (m_updating) return;
  const int bits = bitsOf(position);
  const int layer = currentScopeLayer();
  if (layer < 0) {
    (which == 'W' ? m_w : which == 'A' ? m_a : m_h) = bits;
  } else {
    LayerBits& o = m_overrides[layer];
    (which == 'W' ? o.w : which == 'A' ? o.a : o.h) = bits;
  }
  updateLabels();
  activate();  // starts the worker on first use, and sends the setting
}

void QuantPanel::onScopeChanged() {
  const int layer = currentScopeLayer();
  const auto it = m_overrides.find(layer);
  const LayerBits o = it == m_overrides.end() ? LayerBits{} : it->second;
  m_updating = true;
  m_wSlider->setValue(positionOf(o.w ? o.w : m_w));
  m_aSlider->setValue(positionOf(o.a ? o.a : m_a));
  m_hSlider->setValue(positionOf(o.h ? o.h : m_h));
  m_updating = false;
  m_clearLayer->setVisible(layer >= 0);
  m_clearLayer->setEnabled(it != m_overrides.end());
  updateLabels();
}

void QuantPanel::updateLabels() {
  const int layer = currentScopeLayer();
  const auto it = m_overrides.find(layer);
  const LayerBits o = it == m_overrides.end() ? LayerBits{} : it->second;
  const auto text = [](int bits, bool overridden) {
    const QString v = bits >= 16 ? QStringLiteral("16 (float)") : QString::number(bits);
    return overridden ? v + QLatin1Char('*') : v;
  };
  m_wValue->setText(text(bitsOf(m_wSlider->value()), o.w != 0));
  m_aValue->setText(text(bitsOf(m_aSlider->value()), o.a != 0));
  m_hValue->setText(text(bitsOf(m_hSlider->value()), o.h != 0));
  m_clearLayer->setEnabled(it != m_overrides.end());
}

QJsonObject QuantPanel::setting() const {
  QJsonObject layers;
  for (const auto& [layer, o] : m_overrides) {
    QJsonObject l;
    if (o.w) l.insert(QStringLiteral("wbits"), o.w);
    if (o.a) l.insert(QStringLiteral("abits"), o.a);
    if (o.h) l.insert(QStringLiteral("hbits"), o.h);
    if (!l.isEmpty()) layers.insert(QString::number(layer), l);
  }
  return QJsonObject{{QStringLiteral("wbits"), m_w},
                     {QStringLiteral("abits"), m_a},
                     {QStringLiteral("hbits"), m_h},
                     {QStringLiteral("granularity"), m_granularity->currentData().toString()},
                     {QStringLiteral("symmetric"), m_symmetric->isChecked()},
                     {QStringLiteral("state_method"), m_stateMethod->currentData().toString()},
                     {QStringLiteral("act_scale"), m_actScale->currentData().toString()},
                     {QStringLiteral("act_granularity"), m_actGranularity->currentData().toString()},
                     {QStringLiteral("token_detail"), true},
                     {QStringLiteral("layers"), layers}};
}

void QuantPanel::sendSetting() {
  if (m_model.isEmpty() || !m_process->isRunning()) return;
  const QJsonObject s = setting();
  m_requested.insert(m_process->request(s), s);
}

//-------------------------------------------------------------------------------------------------
// A/B
//-------------------------------------------------------------------------------------------------

bool QuantPanel::pinA() {
  if (!m_snapshot) return false;
  m_pinned = m_snapshot;  // immutable: later results never change it
  m_pinnedSetting = m_snapshotSetting;
  rebuildComparison();
  return true;
}

bool QuantPanel::swapAB() {
  if (!m_pinned || !m_snapshot) return false;
  std::swap(m_pinned, m_snapshot);
  std::swap(m_pinnedSetting, m_snapshotSetting);
  const QJsonObject b = m_snapshotSetting;
  // The controls take the old A; its result is shown at once (same batch, same numbers) and
  // asked for again, so the dock's setting and the live worker agree.
  setSetting(b);
  Q_EMIT snapshotChanged(m_snapshot);
  rebuildComparison();
  return true;
}

void QuantPanel::clearA() {
  const bool had = m_pinned || m_comparison;
  m_pinned.reset();
  m_pinnedSetting = {};
  m_comparison.reset();
  updateAbControls();
  if (had) Q_EMIT comparisonChanged(nullptr);
}

void QuantPanel::rebuildComparison() {
  if (m_pinned && m_snapshot) {
    m_comparison = views::error::compare(m_pinned, m_snapshot,
                                         QStringLiteral("A: %1").arg(shortDescription(m_pinnedSetting)).toStdString(),
                                         QStringLiteral("B: %1").arg(shortDescription(m_snapshotSetting)).toStdString());
    Q_EMIT comparisonChanged(m_comparison);
  }
  updateAbControls();
}

void QuantPanel::updateAbControls() {
  m_pinA->setEnabled(m_snapshot != nullptr);
  m_swap->setEnabled(m_pinned && m_snapshot);
  m_clearA->setEnabled(m_pinned != nullptr);
  m_abLabel->setText(m_pinned ? tr("A: %1 (pinned) · B: the controls").arg(shortDescription(m_pinnedSetting))
                              : tr("No A: pin a result to compare another setting with it."));
}

void QuantPanel::restoreA(const QJsonObject& a) {
  if (a.isEmpty() || m_model.isEmpty()) return;
  m_afterPin = setting();
  setSetting(a);
  m_pinSetting = setting();  // as the controls write it
  m_pinRequest = m_process->latestRequest();
}

void QuantPanel::setSetting(const QJsonObject& s) {
  m_updating = true;
  {
    const QSignalBlocker b1(m_granularity), b2(m_symmetric), b3(m_stateMethod), b4(m_actScale), b5(m_actGranularity);
    m_w = s.value(QStringLiteral("wbits")).toInt(m_w);
    m_a = s.value(QStringLiteral("abits")).toInt(m_a);
    m_h = s.value(QStringLiteral("hbits")).toInt(m_h);
    const auto pick = [&s](QComboBox* box, const char* key) {
      const int index = box->findData(s.value(QLatin1String(key)).toString());
      if (index >= 0) box->setCurrentIndex(index);
    };
    pick(m_granularity, "granularity");
    pick(m_stateMethod, "state_method");
    pick(m_actScale, "act_scale");
    pick(m_actGranularity, "act_granularity");
    m_actGranularity->setEnabled(m_actScale->currentData().toString() != QLatin1String("static"));
    if (s.value(QStringLiteral("symmetric")).isBool()) m_symmetric->setChecked(s.value(QStringLiteral("symmetric")).toBool());
    m_overrides.clear();
    const QJsonObject layers = s.value(QStringLiteral("layers")).toObject();
    for (auto it = layers.begin(); it != layers.end(); ++it) {
      const QJsonObject l = it.value().toObject();
      m_overrides[it.key().toInt()] = LayerBits{l.value(QStringLiteral("wbits")).toInt(0), l.value(QStringLiteral("abits")).toInt(0),
                                                l.value(QStringLiteral("hbits")).toInt(0)};
    }
  }
  m_updating = false;
  onScopeChanged();  // the sliders show the scope's bits (no request: m_updating inside)
  activate();
}

QString QuantPanel::shortDescription(const QJsonObject& s) {
  const auto bits = [&s](const char* key) { return s.value(QLatin1String(key)).toInt(16); };
  QStringList parts;
  parts << QStringLiteral("W%1").arg(bits("wbits"));
  if (bits("wbits") < 16) {
    const QString g = s.value(QStringLiteral("granularity")).toString(QStringLiteral("channel"));
    if (g != QLatin1String("channel")) parts << g;
    if (!s.value(QStringLiteral("symmetric")).toBool(true)) parts << QStringLiteral("asym");
  }
  parts << QStringLiteral("A%1").arg(bits("abits"));
  if (bits("abits") < 16) {
    if (s.value(QStringLiteral("act_scale")).toString() == QLatin1String("static")) parts << QStringLiteral("static");
    else if (s.value(QStringLiteral("act_granularity")).toString() == QLatin1String("tensor")) parts << QStringLiteral("tensor");
  }
  parts << QStringLiteral("H%1").arg(bits("hbits"));
  if (bits("hbits") < 16) parts << s.value(QStringLiteral("state_method")).toString(QStringLiteral("dsq"));
  const int overrides = s.value(QStringLiteral("layers")).toObject().size();
  if (overrides > 0) parts << QStringLiteral("+%1 layer%2").arg(overrides).arg(overrides == 1 ? "" : "s");
  return parts.join(QLatin1Char(' '));
}

}  // namespace ms::app
