// MainWindow: the shell. Menus and shortcuts, the structure tree and summary docks, the ImGui
// canvas in the middle, the status bar; opens models in a background job (JobTracker) from the
// command line, File > Open, Open Recent, or a drop of a model folder or file. Keeps selection in
// the tree and the canvas in step. Remembers recent files, geometry and dock layout in QSettings.
//
// Statistics files (File > Open Statistics, --stats) load in their own background job, after the
// model (they are checked against it: layer count and channel widths), and feed the statistics
// views (channel maxima, state heatmap, distributions). The Calibration dock makes them: it runs
// `mambascope-cli calibrate` (CalibrationProcess) into a temporary file and loads the result the
// same way. The canvas shows one view at a time (View menu, --view).
//
// File › Save/Open Workspace records and restores all of that (app/workspace.h); File › Export
// Table as CSV saves the current view's table (views/tables.h); the status bar's right side shows
// the CLI's device and memory (app/status_monitor.h).
//
// It holds no model knowledge: opening is core's (ms::open_checkpoint, ms::read_stats_file), the
// structure is the snapshot's (views/model_snapshot.h), drawing is the views'.
#pragma once

#include <memory>
#include <optional>

#include <QMainWindow>
#include <QString>

#include "app/calibration_panel.h"
#include "app/calibration_process.h"
#include "app/job_tracker.h"
#include "app/quant_panel.h"
#include "app/workspace.h"
#include "core/model/quant_point.h"
#include "core/model/stats_file.h"
#include "views/channel_maxima_view.h"
#include "views/distributions_view.h"
#include "views/empty_view.h"
#include "views/error_view.h"
#include "views/model_snapshot.h"
#include "views/state_heatmap_view.h"
#include "views/structure_view.h"
#include "views/tables.h"

class QAction;
class QActionGroup;
class QLabel;
class QMenu;
class QProgressBar;
class QSettings;
class QTemporaryDir;
class QTreeView;

namespace ms {
struct Checkpoint;
}

namespace ms::app {

class ImGuiCanvas;
class PreviewProcess;
class StateSequenceProcess;
class StatusMonitor;
class StructureModel;
class TeachingTour;
class SummaryPanel;

// What an open job hands to the UI: the checkpoint (its mappings stay alive for later views) and
// the snapshot every view draws from.
struct LoadedModel {
  std::shared_ptr<const Checkpoint> checkpoint;
  std::shared_ptr<const ModelSnapshot> snapshot;
};

// Opens and snapshots a model; the body of the open job (synchronous, throws ms::InputError).
LoadedModel loadModel(const QString& path);
// Reads a statistics file and checks it against the model's config; the body of the stats job
// (synchronous, throws ms::InputError naming the file).
std::shared_ptr<const StatsSnapshot> loadStats(const QString& path, const ModelConfig& config);
// Whether a dropped or chosen path looks like something open_checkpoint takes.
bool isModelPath(const QString& path);

class MainWindow : public QMainWindow {
  Q_OBJECT

 public:
  struct Options {
    bool interactive = true;       // false (screenshot mode): no dialogs, no settings read or written
    QString view = QStringLiteral("structure");   // one of viewNames()
    int layer = -1;                                 // --layer: shown once the model (or stats) opens
    QString tokenizer;                              // --tokenizer: passed to calibration
    QString method;                                 // --method: the distributions view's method once stats open
    int sequenceToken = -1;                         // --sequence-token: the state heatmap's sequence mode there
  };

  explicit MainWindow(Options options, QWidget* parent = nullptr);
  ~MainWindow() override;

  void openModel(const QString& path);
  void selectPoint(const QuantPoint& point);  // in tree and canvas
  void selectLayer(int layer);
  // Opens a statistics file for the open model (background job) and shows the channel-maxima view.
  void openStats(const QString& path);
  void setView(const QString& name);   // one of viewNames()
  // The state heatmap's Sequence toggle (its first frame starts mambascope-cli states).
  void setStateSequence(bool on);
  // The sequence mode's state quantizer, as its combo boxes set it (dsq, tensor, channel, state;
  // DSQ's variant, empty: unchanged).
  void setStateSequenceQuantizer(const QString& method, const QString& dsqVariant = {});
  // The distributions view's bit width (its A bits slider); the teaching tour sets it.
  void setDistributionsBits(int bits);
  // The distributions view's method ("" none, hadamard, klt, smoothquant, dsq) and SmoothQuant's
  // α; the teaching tour sets them. Asks for the preview at once (not at the next frame), so the
  // preview runs while the view is hidden or the window not drawn.
  void setDistributionsMethod(const QString& method, double alpha = 0.5);
  // Calibrates the open model on the chosen text (mambascope-cli calibrate in a QProcess) and opens
  // the statistics when done; a cancelled run opens what it collected. Supersedes a running one.
  void calibrate(const CalibrationChoice& choice);
  void cancelCalibration();
  // Saves what the canvas shows now (the current view, without the docks) as a PNG, atomically.
  // Returns an empty string, or the one-line reason it could not.
  QString exportView(const QString& path);
  // The table the current view shows, built as the view builds it (views/tables.h): the error
  // view's points and weights, the channel maxima's outlier list, the structure view's summary.
  // Without one (another view, no result yet), nullopt and `why`. `name`: a file name to suggest.
  std::optional<views::Table> currentTable(QString* name = nullptr, QString* why = nullptr) const;
  // Saves currentTable() (or the Summary dock's table: summary = true) as CSV, atomically.
  // Returns an empty string, or the one-line reason it could not.
  QString exportTable(const QString& path, bool summary = false);
  // Saves the workspace (model, statistics, view and selections, the Quantization and
  // Calibration docks, the layout) as JSON, atomically; statistics calibrated in the app (a
  // temporary file) are copied beside it first. Returns an empty string or the one-line reason.
  QString saveWorkspace(const QString& path);
  // Restores a saved workspace: layout and Calibration dock at once, then reopens the model,
  // sets the Quantization dock, loads the statistics and puts back the view and selections.
  // workspaceOpened() follows with the problems met (a missing file: named, the rest restored),
  // or workspaceFailed() for a file that is not a workspace this version reads.
  void openWorkspace(const QString& path);

  const std::shared_ptr<const ModelSnapshot>& snapshot() const { return m_snapshot; }
  ImGuiCanvas* canvas() const { return m_canvas; }
  StructureModel* structureModel() const { return m_model; }
  QTreeView* tree() const { return m_tree; }
  JobTracker* jobs() const { return m_jobs; }
  const views::structure::ViewState& structureState() const { return m_structureState; }
  const std::shared_ptr<const StatsSnapshot>& stats() const { return m_stats; }
  const views::channel_maxima::ViewState& channelMaximaState() const { return m_channelState; }
  const views::state_heatmap::ViewState& stateHeatmapState() const { return m_stateState; }
  CalibrationProcess* calibration() const { return m_calibration; }
  CalibrationPanel* calibrationPanel() const { return m_calibrationPanel; }
  QuantPanel* quantPanel() const { return m_quantPanel; }
  const views::error::ViewState& errorState() const { return m_errorState; }
  QString view() const { return m_view; }
  const views::distributions::ViewState& distributionsState() const { return m_distributionsState; }
  TeachingTour* teachingTour() const { return m_tour; }  // Help › Teaching Tour
  PreviewProcess* previewProcess() const { return m_preview; }  // the distributions view's "after" side
  StateSequenceProcess* stateSequenceProcess() const { return m_sequence; }  // the state heatmap's sequence mode
  StatusMonitor* statusMonitor() const { return m_statusMonitor; }  // device and memory in the status bar

 Q_SIGNALS:
  void modelOpened(const QString& path);
  void modelFailed(const QString& path, const QString& message);
  void statsOpened(const QString& path);
  void statsFailed(const QString& path, const QString& message);
  void calibrationFailed(const QString& message);
  void workspaceOpened(const QString& path, const QStringList& problems);
  void workspaceFailed(const QString& path, const QString& message);

 protected:
  void closeEvent(QCloseEvent* event) override;
  void dragEnterEvent(QDragEnterEvent* event) override;
  void dropEvent(QDropEvent* event) override;

 private Q_SLOTS:
  void showOpenDialog();
  void showOpenStatsDialog();
  void showExportViewDialog();
  void showExportTableDialog(bool summary);
  void showSaveWorkspaceDialog();
  void showOpenWorkspaceDialog();  // File › Export Table as CSV…; the Summary dock's menu
  void showExportQuantizedDialog();  // File › Export Quantized… (ExportDialog)
  void showAbout();
  void onTreeSelectionChanged();

 private:
  void createActions();
  void createDocks();
  void updateRecentMenu();
  void drawFrame();
  void syncTreeFromCanvas();
  void syncTreeFromStatsView();
  void onCalibrationFinished(const QString& path, bool cancelled);
  void onCalibrationFailed(const QString& message);
  void onStatsLoaded(const QString& path, const std::shared_ptr<const StatsSnapshot>& stats);
  void onStatsFailed(const QString& path, const QString& message);
  void updatePathLabel();
  void onLoaded(const QString& path, const LoadedModel& model);
  void onFailed(const QString& path, const QString& message);
  void setBusy(bool busy, const QString& message = {});
  void continueWorkspace();  // the workspace's model opened: docks, then its statistics
  void finishWorkspace(const QString& problem = {});  // views and selections; workspaceOpened()

  Options m_options;
  std::unique_ptr<QSettings> m_settings;   // null when not interactive
  JobTracker* m_jobs = nullptr;
  JobTracker* m_statsJobs = nullptr;       // its own tracker: a stats load must not supersede a model open
  ImGuiCanvas* m_canvas = nullptr;
  StructureModel* m_model = nullptr;
  QTreeView* m_tree = nullptr;
  SummaryPanel* m_summary = nullptr;
  CalibrationPanel* m_calibrationPanel = nullptr;
  CalibrationProcess* m_calibration = nullptr;
  QuantPanel* m_quantPanel = nullptr;      // the bit-width sliders and the error preview's worker
  TeachingTour* m_tour = nullptr;
  PreviewProcess* m_preview = nullptr;     // mambascope-cli preview runs for the distributions view
  StateSequenceProcess* m_sequence = nullptr;  // mambascope-cli states runs for the state heatmap
  std::unique_ptr<QTemporaryDir> m_tempDir;  // calibration outputs and typed texts, gone with the window
  int m_calibrationRuns = 0;
  QMenu* m_recentMenu = nullptr;
  QMenu* m_viewMenu = nullptr;
  QAction* m_openStats = nullptr;
  QActionGroup* m_viewGroup = nullptr;
  QLabel* m_pathLabel = nullptr;
  QProgressBar* m_busy = nullptr;
  StatusMonitor* m_statusMonitor = nullptr;

  std::shared_ptr<const Checkpoint> m_checkpoint;
  std::shared_ptr<const ModelSnapshot> m_snapshot;
  std::shared_ptr<const StatsSnapshot> m_stats;
  QString m_modelPath, m_statsPath;
  QString m_view;
  views::structure::ViewState m_structureState;
  views::channel_maxima::ViewState m_channelState;
  views::state_heatmap::ViewState m_stateState;
  views::distributions::ViewState m_distributionsState;
  views::error::ViewState m_errorState;
  views::empty::Snapshot m_empty;
  views::empty::ViewState m_emptyState;
  std::optional<Workspace> m_pendingWorkspace;  // being restored: waits for its model and statistics
  QString m_pendingWorkspacePath;
  QStringList m_workspaceProblems;
  bool m_syncing = false;  // tree selection set from the canvas: don't echo it back
};

}  // namespace ms::app
