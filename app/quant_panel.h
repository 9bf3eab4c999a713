// QuantPanel: the Quantization dock. Sliders for the W, A and H bit widths (2–8, and 16 = float,
// the widths the quantizers implement), globally or for one layer (the Scope box; it follows the
// layer selected in the structure tree), the weight granularity and symmetry, the state method
// and the activation scale. Every change is sent at once to the error preview's worker
// (RequantProcess, owned here); the worker answers the newest setting and the panel publishes the
// resulting views::error::Snapshot (snapshotChanged), which the Error view draws.
//
// Keyboard: every control is in the tab order with a mnemonic (Alt+W, Alt+A, Alt+I on the W, A, H
// sliders; Alt+H is the Help menu); arrows and Page Up/Down move a slider one or two steps, and
// each step is a request (latest wins).
//
// The worker starts when a model is open and the preview is wanted (activate(): the Error view
// shown, or a control touched), so opening a model does not load LibTorch unless asked.
#pragma once

#include <map>
#include <memory>

#include <QJsonObject>
#include <QString>
#include <QWidget>

#include "app/requant_process.h"
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

  // For tests and scripts: the controls.
  QSlider* bitsSlider(char which) const;  // 'W', 'A' or 'H'
  QComboBox* scopeBox() const { return m_scope; }
  QComboBox* stateMethodBox() const { return m_stateMethod; }

  // Slider position <-> bits: positions 2..8 are those bits, position 9 is 16 (float).
  static int bitsOf(int position) { return position >= 9 ? 16 : position; }
  static int positionOf(int bits) { return bits >= 16 ? 9 : bits; }

 Q_SIGNALS:
  void snapshotChanged(std::shared_ptr<const ms::views::error::Snapshot> snapshot);
  void failed(const QString& message);

 private:
  struct LayerBits {
    int w = 0, a = 0, h = 0;  // 0: the global value
  };
  void onSliderMoved(char which, int position);
  void onScopeChanged();
  void updateLabels();
  void sendSetting();
  int currentScopeLayer() const;  // -1: global

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
};

}  // namespace ms::app
