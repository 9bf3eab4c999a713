// QuantPanel: the Quantization dock. Sliders for the W, A and H bit widths (every integer 2–16,
// 16 = float; the quantizers round to 2..15), globally or for one layer (the Scope box; it
// follows the layer selected in the structure tree), the weight granularity and symmetry, the
// state method and the activation scale. Every change is sent at once to the error preview's worker
// (RequantProcess, owned here); the worker answers the newest setting and the panel publishes the
// resulting views::error::Snapshot (snapshotChanged), which the Error view draws.
//
// Keyboard: every control is in the tab order with a mnemonic (Alt+W, Alt+A, Alt+I on the W, A, H
// sliders; Alt+H is the Help menu); arrows and Page Up/Down move a slider one or four bits, and
// each step is a request (latest wins).
//
// A/B (issue 6): "Pin as A" (Ctrl+Shift+A) keeps the result shown and the setting it answers as
// A, an immutable snapshot; the controls stay live and are B. "Swap A/B" (Ctrl+Shift+X) makes the
// shown B result A and sets the controls to A's setting (its result shows at once and is asked
// for again); "Clear A" (Ctrl+Shift+Backspace) leaves A/B. Each new A or B rebuilds the
// views::error::Comparison (comparisonChanged). A and B come from the same worker and so from its
// one cached batch; a new model clears A.
//
// The worker starts when a model is open and the preview is wanted (activate(): the Error view
// shown, or a control touched), so opening a model does not load LibTorch unless asked.
#pragma once

#include <algorithm>
#include <map>
#include <memory>

#include <QHash>
#include <QJsonObject>
#include <QString>
#include <QWidget>

#include "app/requant_process.h"
#include "views/error_ab.h"
#include "views/error_view.h"

class QCheckBox;
class QComboBox;
class QLabel;
class QPushButton;
class QSlider;

namespace ms::app {

class QuantPanel : public QWidget {
  Q_OBJECT

 public:
  explicit QuantPanel(QWidget* parent = nullptr);

  // A model was opened (empty path: none). Stops the worker of the previous one.
  void setModel(const QString& path, int layers, const QString& tokenizer = {});
  // Starts the worker (if a model is open and it is not running) and sends the current setting.
  void activate();
  // The Scope box follows the structure tree's layer when it is on a layer already.
  void setCurrentLayer(int layer);

  // The setting the controls describe, as requant-serve reads it (without "id").
  QJsonObject setting() const;
  const std::shared_ptr<const views::error::Snapshot>& snapshot() const { return m_snapshot; }
  // The worker's last failure while no result arrived since (empty when none): the view says it.
  const QString& lastError() const { return m_lastError; }
  RequantProcess* process() const { return m_process; }

  // A/B. pinA() needs a result (false without one); swapAB() needs A and a result.
  bool pinA();
  bool swapAB();
  void clearA();
  const std::shared_ptr<const views::error::Snapshot>& pinned() const { return m_pinned; }
  const QJsonObject& pinnedSetting() const { return m_pinnedSetting; }
  // The setting the shown result answers (may trail setting() while a request is out).
  const QJsonObject& snapshotSetting() const { return m_snapshotSetting; }
  // Null unless A is pinned and B has a result.
  const std::shared_ptr<const views::error::Comparison>& comparison() const { return m_comparison; }
  // Sets every control to `setting` (as setting() writes it) and sends it once.
  void setSetting(const QJsonObject& setting);
  // A restored from a workspace: asks for `setting`'s result, pins it as A when it arrives, then
  // returns the controls to the current setting (B). A slider moved before that cancels it.
  void restoreA(const QJsonObject& setting);
  // "W4 A8 H8 dsq", "W4 group:64 A8 static H4 tensor +1 layer": the legend's short form.
  static QString shortDescription(const QJsonObject& setting);
  QPushButton* pinButton() const { return m_pinA; }
  QPushButton* swapButton() const { return m_swap; }
  QPushButton* clearAButton() const { return m_clearA; }

  // For tests and scripts: the controls.
  QSlider* bitsSlider(char which) const;  // 'W', 'A' or 'H'
  QComboBox* scopeBox() const { return m_scope; }
  QComboBox* stateMethodBox() const { return m_stateMethod; }

  // Slider position <-> bits: a position is its bit width, 2..16 (16: float); out-of-range
  // values (an old workspace, a hand-written setting) clamp to the ends.
  static int bitsOf(int position) { return std::clamp(position, 2, 16); }
  static int positionOf(int bits) { return std::clamp(bits, 2, 16); }

 Q_SIGNALS:
  void snapshotChanged(std::shared_ptr<const ms::views::error::Snapshot> snapshot);
  void failed(const QString& message);
  void comparisonChanged(std::shared_ptr<const ms::views::error::Comparison> comparison);

 private:
  struct LayerBits {
    int w = 0, a = 0, h = 0;  // 0: the global value
  };
  void onSliderMoved(char which, int position);
  void onScopeChanged();
  void updateLabels();
  void sendSetting();
  int currentScopeLayer() const;  // -1: global
  void rebuildComparison();
  void updateAbControls();

  RequantProcess* m_process = nullptr;
  QString m_model, m_tokenizer;
  int m_layers = 0;
  int m_w = 4, m_a = 8, m_h = 8;  // global bits: a first look with visible but bearable error
  std::map<int, LayerBits> m_overrides;
  bool m_updating = false;  // controls set programmatically: no request

  QComboBox* m_scope = nullptr;
  QSlider* m_wSlider = nullptr;
  QSlider* m_aSlider = nullptr;
  QSlider* m_hSlider = nullptr;
  QLabel* m_wValue = nullptr;
  QLabel* m_aValue = nullptr;
  QLabel* m_hValue = nullptr;
  QPushButton* m_clearLayer = nullptr;
  QComboBox* m_granularity = nullptr;
  QCheckBox* m_symmetric = nullptr;
  QComboBox* m_stateMethod = nullptr;
  QComboBox* m_actScale = nullptr;
  QComboBox* m_actGranularity = nullptr;
  QLabel* m_status = nullptr;
  std::shared_ptr<const views::error::Snapshot> m_snapshot;
  QString m_lastError;
  QHash<qint64, QJsonObject> m_requested;  // id -> setting, until its reply (or a newer one) arrives
  QJsonObject m_snapshotSetting;

  QPushButton* m_pinA = nullptr;
  QPushButton* m_swap = nullptr;
  QPushButton* m_clearA = nullptr;
  QLabel* m_abLabel = nullptr;
  std::shared_ptr<const views::error::Snapshot> m_pinned;
  QJsonObject m_pinnedSetting;
  qint64 m_pinRequest = 0;  // restoreA(): the request whose result becomes A (0: none)
  QJsonObject m_afterPin;   // restoreA(): B's setting, back on the controls once A is pinned
  QJsonObject m_pinSetting; // restoreA(): A's setting
  std::shared_ptr<const views::error::Comparison> m_comparison;
};

}  // namespace ms::app
