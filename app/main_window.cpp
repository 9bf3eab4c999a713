// MainWindow (see main_window.h).
#include "app/main_window.h"

#include <algorithm>

#include <QAction>
#include <QActionGroup>
#include <QApplication>
#include <QCloseEvent>
#include <QDir>
#include <QDockWidget>
#include <QDragEnterEvent>
#include <QDropEvent>
#include <QFileDialog>
#include <QFileInfo>
#include <QHeaderView>
#include <QKeySequence>
#include <QLabel>
#include <QLocale>
#include <QMenuBar>
#include <QMessageBox>
#include <QMimeData>
#include <QProgressBar>
#include <QSaveFile>
#include <QSettings>
#include <QStatusBar>
#include <QTemporaryDir>
#include <QTimer>
#include <QToolBar>
#include <QTreeView>

#include <imgui.h>

#include "app/data_dir.h"
#include "app/export_dialog.h"
#include "app/state_sequence_process.h"
#include "app/imgui_canvas.h"
#include "app/preview_process.h"
#include "app/recent_files.h"
#include "app/status_monitor.h"
#include "app/structure_model.h"
#include "app/summary_panel.h"
#include "app/table_export.h"
#include "app/teaching_tour.h"
#include "core/model/checkpoint.h"
#include "core/util/error.h"

#ifndef MAMBASCOPE_VERSION
#define MAMBASCOPE_VERSION "0.0.0"
#endif

namespace ms::app {

LoadedModel loadModel(const QString& path) {
  const std::string p = path.toStdString();
  auto checkpoint = std::make_shared<const Checkpoint>(open_checkpoint(p));
  return LoadedModel{checkpoint, make_model_snapshot(*checkpoint, p)};
}

std::shared_ptr<const StatsSnapshot> loadStats(const QString& path, const ModelConfig& config) {
  const std::string p = path.toStdString();
  std::shared_ptr<const StatsSnapshot> stats = read_stats_file(p);
  if (const std::optional<std::string> why = stats_mismatch(*stats, config))
    throw InputError(p, *why + " (statistics of another model? calibrate this one with mambascope-cli calibrate)");
  return stats;
}

bool isModelPath(const QString& path) {
  const QFileInfo info(path);
  if (info.isDir()) return true;
  if (!info.isFile()) return false;
  const QString suffix = info.suffix().toLower();
  return suffix == QLatin1String("json") || suffix == QLatin1String("safetensors") || suffix == QLatin1String("bin");
}

MainWindow::MainWindow(Options options, QWidget* parent) : QMainWindow(parent), m_options(std::move(options)) {
  setObjectName(QStringLiteral("MainWindow"));
  setWindowTitle(QStringLiteral("MambaScope"));
  setAcceptDrops(true);
  if (m_options.interactive) m_settings = std::make_unique<QSettings>();

  m_jobs = new JobTracker(this);
  m_statsJobs = new JobTracker(this);
  m_calibration = new CalibrationProcess(this);
  m_view = m_options.view;
  m_canvas = new ImGuiCanvas(this);
  setCentralWidget(m_canvas);
  m_empty = {"No model open", "File › Open (Ctrl+O), or drop a model folder, config.json or .safetensors here"};
  m_canvas->setFrameFunction([this] { drawFrame(); });
  m_preview = new PreviewProcess(this);
  connect(m_preview, &PreviewProcess::snapshotReady, m_canvas, [this] { m_canvas->requestFrames(); });
  connect(m_preview, &PreviewProcess::failed, m_canvas, [this] { m_canvas->requestFrames(); });
  m_sequence = new StateSequenceProcess(this);
  connect(m_sequence, &StateSequenceProcess::snapshotReady, m_canvas, [this] { m_canvas->requestFrames(); });
  connect(m_sequence, &StateSequenceProcess::failed, m_canvas, [this] { m_canvas->requestFrames(); });

  createDocks();
  createActions();

  m_pathLabel = new QLabel(tr("No model"), this);
  m_pathLabel->setTextInteractionFlags(Qt::TextSelectableByMouse);
  m_busy = new QProgressBar(this);
  m_busy->setRange(0, 0);  // indeterminate: open_checkpoint reports no progress yet
  m_busy->setMaximumWidth(140);
  m_busy->setMaximumHeight(14);
  m_busy->setTextVisible(false);
  m_busy->hide();
  statusBar()->addWidget(m_pathLabel, 1);
  statusBar()->addPermanentWidget(m_busy);
  m_statusMonitor = new StatusMonitor(this, this);
  statusBar()->addPermanentWidget(m_statusMonitor->memoryWidget());
  statusBar()->addPermanentWidget(m_statusMonitor->deviceWidget());
  // Screenshots and tests ask for the device themselves: no extra process unless wanted.
  if (m_options.interactive) QTimer::singleShot(0, m_statusMonitor, &StatusMonitor::probeDevice);

  resize(1400, 900);
  if (m_settings) {
    restoreGeometry(m_settings->value(QStringLiteral("window/geometry")).toByteArray());
    restoreState(m_settings->value(QStringLiteral("window/state")).toByteArray());
  }
}

MainWindow::~MainWindow() = default;

void MainWindow::createDocks() {
  m_model = new StructureModel(this);
  m_tree = new QTreeView(this);
  m_tree->setObjectName(QStringLiteral("structureTree"));
  m_tree->setModel(m_model);
  m_tree->setUniformRowHeights(true);
  m_tree->setAlternatingRowColors(true);
  m_tree->setSelectionMode(QAbstractItemView::SingleSelection);
  m_tree->setAllColumnsShowFocus(true);
  m_tree->header()->setStretchLastSection(false);
  m_tree->header()->setSectionResizeMode(StructureModel::NameColumn, QHeaderView::Stretch);
  for (const int c : {StructureModel::ShapeColumn, StructureModel::DTypeColumn, StructureModel::SizeColumn})
    m_tree->header()->setSectionResizeMode(c, QHeaderView::ResizeToContents);
  connect(m_tree->selectionModel(), &QItemSelectionModel::currentChanged, this, &MainWindow::onTreeSelectionChanged);

  auto* treeDock = new QDockWidget(tr("Structure"), this);
  treeDock->setObjectName(QStringLiteral("structureDock"));  // saveState() keys docks by name
  treeDock->setWidget(m_tree);
  addDockWidget(Qt::LeftDockWidgetArea, treeDock);

  m_summary = new SummaryPanel(this);
  auto* summaryDock = new QDockWidget(tr("Summary"), this);
  summaryDock->setObjectName(QStringLiteral("summaryDock"));
  summaryDock->setWidget(m_summary);
  addDockWidget(Qt::LeftDockWidgetArea, summaryDock);
  splitDockWidget(summaryDock, treeDock, Qt::Vertical);
  resizeDocks({treeDock}, {470}, Qt::Horizontal);

  m_calibrationPanel = new CalibrationPanel(this);
  m_calibrationPanel->setShippedTexts(shippedTexts(), defaultCalibrationText());
  auto* calibrationDock = new QDockWidget(tr("Calibration"), this);
  calibrationDock->setObjectName(QStringLiteral("calibrationDock"));
  calibrationDock->setWidget(m_calibrationPanel);
  addDockWidget(Qt::LeftDockWidgetArea, calibrationDock);
  tabifyDockWidget(summaryDock, calibrationDock);

  m_quantPanel = new QuantPanel(this);
  auto* quantDock = new QDockWidget(tr("Quantization"), this);
  quantDock->setObjectName(QStringLiteral("quantizationDock"));
  quantDock->setWidget(m_quantPanel);
  addDockWidget(Qt::LeftDockWidgetArea, quantDock);
  tabifyDockWidget(summaryDock, quantDock);
  connect(m_quantPanel, &QuantPanel::snapshotChanged, m_canvas, [this] { m_canvas->requestFrames(); });
  connect(m_quantPanel, &QuantPanel::comparisonChanged, m_canvas, [this] { m_canvas->requestFrames(); });
  summaryDock->raise();
  connect(m_calibrationPanel, &CalibrationPanel::calibrateRequested, this, &MainWindow::calibrate);
  connect(m_calibrationPanel, &CalibrationPanel::cancelRequested, this, &MainWindow::cancelCalibration);
  connect(m_calibration, &CalibrationProcess::runningChanged, m_calibrationPanel, &CalibrationPanel::setRunning);
  connect(m_calibration, &CalibrationProcess::progressChanged, this,
          [this](quint64, const CalibrationProgress& progress) { m_calibrationPanel->setProgress(progress); });
  connect(m_calibration, &CalibrationProcess::finished, this,
          [this](quint64, const QString& path, bool cancelled) { onCalibrationFinished(path, cancelled); });
  connect(m_calibration, &CalibrationProcess::failed, this,
          [this](quint64, const QString& message) { onCalibrationFailed(message); });
}

void MainWindow::calibrate(const CalibrationChoice& choice) {
  if (!m_snapshot) {
    onCalibrationFailed(tr("open a model before calibrating it"));
    return;
  }
  if (!m_tempDir) m_tempDir = std::make_unique<QTemporaryDir>(QDir::tempPath() + QStringLiteral("/mambascope-XXXXXX"));
  if (!m_tempDir->isValid()) {
    onCalibrationFailed(tr("%1: cannot create a temporary directory").arg(QDir::tempPath()));
    return;
  }
  const int run = ++m_calibrationRuns;
  CalibrationRequest request;
  request.model = m_modelPath;
  request.text = choice.textFile;
  if (request.text.isEmpty()) {
    // Typed text goes to the CLI as a file, byte for byte (UTF-8).
    request.text = m_tempDir->filePath(QStringLiteral("typed-%1.txt").arg(run));
    QFile file(request.text);
    if (!file.open(QIODevice::WriteOnly) || file.write(choice.typedText.toUtf8()) < 0) {
      onCalibrationFailed(tr("%1: cannot write the typed text").arg(request.text));
      return;
    }
  }
  request.out = m_tempDir->filePath(QStringLiteral("stats-%1.safetensors").arg(run));
  request.maxTokens = choice.maxTokens;
  request.device = choice.device == QLatin1String("auto") ? QString() : choice.device;
  request.tokenizer = m_options.tokenizer;
  statusBar()->showMessage(tr("Calibrating on %1…").arg(QFileInfo(request.text).fileName()));
  m_calibration->start(request);
}

void MainWindow::cancelCalibration() {
  if (!m_calibration->isRunning()) return;
  if (m_calibration->isCancelling()) statusBar()->showMessage(tr("Stopping calibration at once…"));
  else
    statusBar()->showMessage(tr("Cancelling calibration after the current batch (Cancel again: stop at once, "
                                "keeping nothing)…"));
  m_calibration->cancel();
}

void MainWindow::onCalibrationFinished(const QString& path, bool cancelled) {
  if (path.isEmpty()) {  // cancelled before the first batch
    m_calibrationPanel->setOutcome(tr("Cancelled before any statistics were collected."), false);
    statusBar()->showMessage(tr("Calibration cancelled"), 10000);
    return;
  }
  m_calibrationPanel->setOutcome(cancelled ? tr("Cancelled: showing the statistics collected so far.")
                                           : tr("Done."),
                                 false);
  openStats(path);
}

void MainWindow::onCalibrationFailed(const QString& message) {
  m_calibrationPanel->setOutcome(message, true);
  statusBar()->showMessage(tr("Calibration failed"), 10000);
  Q_EMIT calibrationFailed(message);
  if (m_options.interactive) {
    QMessageBox box(QMessageBox::Critical, tr("Calibration failed"), tr("MambaScope could not calibrate the model."),
                    QMessageBox::Ok, this);
    box.setInformativeText(message);
    box.exec();
  }
}

void MainWindow::createActions() {
  QMenu* file = menuBar()->addMenu(tr("&File"));
  QAction* open = file->addAction(tr("&Open…"), this, &MainWindow::showOpenDialog);
  open->setShortcut(QKeySequence::Open);
  QAction* openWorkspace = file->addAction(tr("Open &Workspace…"), this, &MainWindow::showOpenWorkspaceDialog);
  openWorkspace->setShortcut(QKeySequence(Qt::CTRL | Qt::SHIFT | Qt::Key_W));  // Ctrl+Shift+O opens statistics
  QAction* saveWorkspace = file->addAction(tr("Sa&ve Workspace…"), this, &MainWindow::showSaveWorkspaceDialog);
  saveWorkspace->setShortcut(QKeySequence::Save);
  m_recentMenu = file->addMenu(tr("Open &Recent"));
  updateRecentMenu();
  m_openStats = file->addAction(tr("Open &Statistics…"), this, &MainWindow::showOpenStatsDialog);
  m_openStats->setShortcut(QKeySequence(Qt::CTRL | Qt::SHIFT | Qt::Key_O));
  m_openStats->setEnabled(false);  // statistics belong to a model: open one first
  // Ctrl+E is the quantized export (issue 7); the PNG of a view moved to Ctrl+Shift+E.
  QAction* exportQuantized = file->addAction(tr("Export &Quantized…"), this, &MainWindow::showExportQuantizedDialog);
  exportQuantized->setShortcut(QKeySequence(Qt::CTRL | Qt::Key_E));
  QAction* exportView = file->addAction(tr("&Export View as PNG…"), this, &MainWindow::showExportViewDialog);
  exportView->setShortcut(QKeySequence(Qt::CTRL | Qt::SHIFT | Qt::Key_E));
  QAction* exportTable = file->addAction(tr("Export &Table as CSV…"), this, [this] { showExportTableDialog(false); });
  exportTable->setShortcut(QKeySequence(Qt::CTRL | Qt::SHIFT | Qt::Key_C));  // C for CSV
  // The Summary dock is a table too: its context menu saves it.
  QAction* exportSummary = new QAction(tr("Export Summary as CSV…"), m_summary);
  connect(exportSummary, &QAction::triggered, this, [this] { showExportTableDialog(true); });
  m_summary->addAction(exportSummary);
  m_summary->setContextMenuPolicy(Qt::ActionsContextMenu);
  file->addSeparator();
  QAction* quit = file->addAction(tr("&Quit"), this, &QWidget::close);
  quit->setShortcut(QKeySequence(Qt::CTRL | Qt::Key_Q));  // QKeySequence::Quit is empty on some platforms
  quit->setMenuRole(QAction::QuitRole);

  m_viewMenu = menuBar()->addMenu(tr("&View"));
  m_viewGroup = new QActionGroup(this);
  const std::pair<QString, QString> views[] = {{QStringLiteral("structure"), tr("&Structure")},
                                               {QStringLiteral("channel-maxima"), tr("&Channel Maxima")},
                                               {QStringLiteral("state-heatmap"), tr("State &Heatmap")},
                                               {QStringLiteral("distributions"), tr("&Distributions")},
                                               {QStringLiteral("error"), tr("&Error")}};
  int key = Qt::Key_1;
  for (const auto& [name, text] : views) {
    QAction* action = m_viewMenu->addAction(text, this, [this, name = name] { setView(name); });
    action->setCheckable(true);
    action->setChecked(name == m_view);
    action->setData(name);
    action->setShortcut(QKeySequence(Qt::CTRL | static_cast<Qt::Key>(key++)));
    m_viewGroup->addAction(action);
  }
  m_viewMenu->addSeparator();
  // The same choice one click away, above the canvas it switches.
  QToolBar* bar = addToolBar(tr("Views"));
  bar->setObjectName(QStringLiteral("viewToolBar"));  // saveState() keys toolbars by name
  bar->setMovable(false);
  bar->setToolButtonStyle(Qt::ToolButtonTextOnly);
  bar->addActions(m_viewGroup->actions());
  bar->addSeparator();
  bar->addAction(m_openStats);
  for (QDockWidget* dock : findChildren<QDockWidget*>()) m_viewMenu->addAction(dock->toggleViewAction());

  QMenu* help = menuBar()->addMenu(tr("&Help"));
  QAction* about = help->addAction(tr("&About MambaScope"), this, &MainWindow::showAbout);
  about->setShortcut(QKeySequence(Qt::Key_F1));
  help->addAction(tr("About &Qt"), qApp, &QApplication::aboutQt);
  help->addSeparator();
  m_tour = new TeachingTour(this);  // after the View menu's dock list: its dock shows with the tour only
  // F1 is About; T for tour. Its keys (arrows, Space, Esc) are live only while it runs.
  QAction* tour = help->addAction(tr("&Teaching Tour"), this, [this] { m_tour->start(0); });
  tour->setShortcut(QKeySequence(Qt::CTRL | Qt::Key_T));
  QAction* present = help->addAction(tr("&Presentation Mode"), this, [this](bool on) {
    if (on && !m_tour->isActive()) m_tour->start(m_tour->current());
    m_tour->setPresentation(on);
  });
  present->setCheckable(true);
  present->setShortcut(QKeySequence(Qt::Key_F11));
  connect(m_tour, &TeachingTour::presentationChanged, present, &QAction::setChecked);
}

void MainWindow::updateRecentMenu() {
  m_recentMenu->clear();
  RecentFiles recent(m_settings.get());
  const QStringList paths = recent.paths();
  for (int i = 0; i < paths.size(); ++i) {
    const QString& path = paths[i];
    // &1…&9 make the first entries reachable from the keyboard.
    const QString text = i < 9 ? QStringLiteral("&%1  %2").arg(i + 1).arg(path) : path;
    m_recentMenu->addAction(text, this, [this, path] {
      if (path.endsWith(kWorkspaceSuffix)) openWorkspace(path);
      else openModel(path);
    });
  }
  if (!paths.isEmpty()) m_recentMenu->addSeparator();
  QAction* clear = m_recentMenu->addAction(tr("Clear Recent"), this, [this] {
    RecentFiles(m_settings.get()).clear();
    updateRecentMenu();
  });
  clear->setEnabled(!paths.isEmpty());
}

void MainWindow::showOpenDialog() {
  // A model is a folder in most layouts, but a single config.json or .safetensors works too, so
  // the dialog picks files; choosing a folder is one level up in the same dialog.
  const QString start = m_snapshot ? QString::fromStdString(m_snapshot->dir) : QString();
  const QString path = QFileDialog::getOpenFileName(
      this, tr("Open Mamba Model"), start,
      tr("Mamba models (config.json *.safetensors *.bin);;All files (*)"));
  if (!path.isEmpty()) openModel(path);
}

void MainWindow::showOpenStatsDialog() {
  const QString path = QFileDialog::getOpenFileName(
      this, tr("Open Statistics"), m_statsPath.isEmpty() ? QString() : QFileInfo(m_statsPath).absolutePath(),
      tr("Statistics (*.safetensors);;All files (*)"));
  if (!path.isEmpty()) openStats(path);
}

void MainWindow::showExportViewDialog() {
  const QString path = QFileDialog::getSaveFileName(this, tr("Export View"), m_view + QStringLiteral(".png"),
                                                    tr("PNG images (*.png)"));
  if (path.isEmpty()) return;
  const QString error = exportView(path);
  if (error.isEmpty()) statusBar()->showMessage(tr("Saved %1").arg(QDir::toNativeSeparators(path)), 5000);
  else QMessageBox::critical(this, tr("Cannot export the view"), error);
}

void MainWindow::showExportTableDialog(bool summary) {
  QString name = QStringLiteral("summary.csv"), why;
  if (!summary && !currentTable(&name, &why)) {
    statusBar()->showMessage(why, 8000);
    return;
  }
  if (summary && !m_snapshot) return;
  const QString path = QFileDialog::getSaveFileName(this, tr("Export Table as CSV"), name, tr("CSV tables (*.csv)"));
  if (path.isEmpty()) return;
  const QString error = exportTable(path, summary);
  if (error.isEmpty()) statusBar()->showMessage(tr("Saved %1").arg(QDir::toNativeSeparators(path)), 5000);
  else QMessageBox::critical(this, tr("Cannot export the table"), error);
}

std::optional<views::Table> MainWindow::currentTable(QString* name, QString* why) const {
  const auto refuse = [why](const QString& reason) {
    if (why) *why = reason;
    return std::nullopt;
  };
  if (!m_snapshot) return refuse(tr("Open a model first: its views' tables are what File › Export Table saves"));
  if (m_view == QLatin1String("structure")) {
    if (name) *name = QStringLiteral("summary.csv");
    return summaryTable(*m_snapshot);
  }
  if (m_view == QLatin1String("error")) {
    const auto& error = m_quantPanel->snapshot();
    if (!error) return refuse(tr("The error preview has no result yet: its table appears with the first one"));
    if (const auto ab = m_quantPanel->comparison()) {  // A/B mode: the table the view shows
      if (name) *name = QStringLiteral("error-ab-points.csv");
      return ab->table;
    }
    if (name) *name = QStringLiteral("error-points.csv");
    return views::error_point_table(*error);
  }
  if (m_view == QLatin1String("channel-maxima")) {
    if (!m_stats || m_stats->series.empty() || m_stats->n_layers < 1)
      return refuse(tr("No statistics yet: the channel maxima's outlier list comes with them"));
    // The point and layer the view shows (it falls back to the first point as draw() does).
    const PointSeries* series = m_stats->find(m_channelState.module);
    if (!series) series = &m_stats->series.front();
    const int layer = std::clamp(m_channelState.layer, 0, static_cast<int>(m_stats->n_layers) - 1);
    const ChannelMaxima& maxima = series->layers[static_cast<std::size_t>(layer)];
    if (name) *name = QStringLiteral("outliers-%1.csv").arg(QString::fromStdString(maxima.point.str()));
    return views::outlier_table(maxima);
  }
  return refuse(tr("The %1 view has no table (the structure, channel maxima and error views have one)").arg(m_view));
}

QString MainWindow::exportTable(const QString& path, bool summary) {
  if (summary) {
    if (!m_snapshot) return tr("%1: no model open, so no summary to save").arg(path);
    return writeCsv(path, summaryTable(*m_snapshot));
  }
  QString why;
  const std::optional<views::Table> table = currentTable(nullptr, &why);
  if (!table) return tr("%1: nothing written: %2").arg(path, why);
  return writeCsv(path, *table);
}

void MainWindow::showExportQuantizedDialog() {
  if (m_modelPath.isEmpty()) {
    statusBar()->showMessage(tr("Open a model to export it quantized"), 5000);
    return;
  }
  auto* dialog = new ExportDialog(m_modelPath, m_options.tokenizer, this);  // runs mambascope-cli quantize
  dialog->setAttribute(Qt::WA_DeleteOnClose);
  dialog->show();
}

QString MainWindow::exportView(const QString& path) {
  const QImage image = m_canvas->renderNow(3);
  if (image.isNull()) return tr("%1: the view has not been drawn yet (no OpenGL context)").arg(path);
  // QSaveFile writes beside the target and renames on commit: no half-written PNG.
  QSaveFile file(path);
  if (!file.open(QIODevice::WriteOnly) || !image.save(&file, "PNG") || !file.commit())
    return tr("%1: cannot write: %2").arg(path, file.errorString());
  return {};
}

void MainWindow::openStats(const QString& path) {
  if (!m_snapshot) {
    onStatsFailed(path, tr("%1: open a model before its statistics").arg(path));
    return;
  }
  setBusy(true, tr("Reading statistics %1…").arg(QDir::toNativeSeparators(path)));
  const ModelConfig config = m_snapshot->config;  // the job checks against a copy, not the window
  m_statsJobs->start([path, config](const JobTracker::Context&) { return loadStats(path, config); },
                     [this, path](const std::shared_ptr<const StatsSnapshot>& stats) { onStatsLoaded(path, stats); },
                     [this, path](const QString& message) { onStatsFailed(path, message); });
}

void MainWindow::onStatsLoaded(const QString& path, const std::shared_ptr<const StatsSnapshot>& stats) {
  setBusy(false);
  m_stats = stats;
  m_statsPath = path;
  // Open on the asked layer, else where the outliers are: that is what the view is for.
  const int layer = m_options.layer >= 0 ? std::min<int>(m_options.layer, static_cast<int>(stats->n_layers) - 1)
                                         : stats->layer_with_most_outliers();
  m_channelState = {};
  m_channelState.layer = layer;
  m_channelState.module = stats->point_with_most_outliers(layer);
  m_stateState = {};
  m_stateState.layer = m_options.layer >= 0 ? layer : stats->state_layer_with_most_outliers();
  m_distributionsState = {};
  m_distributionsState.layer = layer;
  m_distributionsState.module = m_channelState.module;
  m_distributionsState.method = m_options.method.toStdString();
  if (m_options.method == QLatin1String("dsq") && m_options.layer < 0) m_distributionsState.layer = m_stateState.layer;
  if (m_options.sequenceToken >= 0) {  // --sequence-token: the state heatmap's sequence mode at that token
    m_stateState.sequence = true;
    m_stateState.token = m_options.sequenceToken;
  }
  // The statistics views stay where they are; from the structure, show the channel maxima.
  if (m_view == QLatin1String("structure")) setView(QStringLiteral("channel-maxima"));
  syncTreeFromStatsView();
  updatePathLabel();
  Q_EMIT statsOpened(path);
  if (m_pendingWorkspace && m_pendingWorkspace->stats.value(0) == path) finishWorkspace();
}

void MainWindow::onStatsFailed(const QString& path, const QString& message) {
  setBusy(false);
  statusBar()->showMessage(tr("Could not open statistics %1").arg(QDir::toNativeSeparators(path)), 10000);
  m_canvas->requestFrames();
  Q_EMIT statsFailed(path, message);
  if (m_pendingWorkspace && m_pendingWorkspace->stats.value(0) == path) finishWorkspace(message);
  if (m_options.interactive) {
    QMessageBox box(QMessageBox::Critical, tr("Cannot open statistics"),
                    tr("MambaScope could not open\n%1").arg(QDir::toNativeSeparators(path)), QMessageBox::Ok, this);
    box.setInformativeText(message);
    box.exec();
  }
}

void MainWindow::setView(const QString& name) {
  m_view = name;
  if (name == QLatin1String("error")) m_quantPanel->activate();  // starts the preview's worker
  for (QAction* action : m_viewGroup->actions()) action->setChecked(action->data().toString() == name);
  m_canvas->requestFrames();
}

void MainWindow::setDistributionsBits(int bits) {
  m_distributionsState.bits = std::clamp(bits, 2, 15);  // the view's slider range
  m_canvas->requestFrames();
}

void MainWindow::setDistributionsMethod(const QString& method, double alpha) {
  m_distributionsState.method = method.toStdString();
  m_distributionsState.alpha = alpha;
  if (m_snapshot) {
    PreviewProcess::Options options;
    options.model = m_modelPath;
    options.tokenizer = m_options.tokenizer;
    m_preview->request(options, views::distributions::preview_request(m_distributionsState));
  }
  m_canvas->requestFrames();
}

void MainWindow::updatePathLabel() {
  QString text = QDir::toNativeSeparators(QFileInfo(m_modelPath).absoluteFilePath());
  if (m_stats && m_tempDir && m_statsPath.startsWith(m_tempDir->path()))
    text += tr("   ·   calibrated in the app on %1 tokens%2")
                .arg(QLocale(QLocale::English).toString(static_cast<qlonglong>(m_stats->tokens)),
                     m_stats->cancelled ? tr(" (cancelled)") : QString());
  else if (m_stats)
    text += tr("   ·   statistics: %1").arg(QDir::toNativeSeparators(QFileInfo(m_statsPath).absoluteFilePath()));
  m_pathLabel->setText(text);
}

void MainWindow::openModel(const QString& path) {
  setBusy(true, tr("Opening %1…").arg(QDir::toNativeSeparators(path)));
  m_empty = {QStringLiteral("Opening %1…").arg(QFileInfo(path).fileName()).toStdString(), ""};
  m_canvas->requestFrames();
  // A newer open supersedes this one: its result is dropped (JobTracker), so double-clicking two
  // recent entries shows the second.
  m_jobs->start([path](const JobTracker::Context&) { return loadModel(path); },
                [this, path](const LoadedModel& model) { onLoaded(path, model); },
                [this, path](const QString& message) { onFailed(path, message); });
}

void MainWindow::onLoaded(const QString& path, const LoadedModel& model) {
  setBusy(false);
  m_checkpoint = model.checkpoint;
  m_snapshot = model.snapshot;
  m_modelPath = path;
  // Statistics describe the previous model; a stats load or calibration still running is for it too.
  m_statsJobs->cancel();
  m_calibration->stop();
  m_preview->stop();  // its server holds the previous model in memory
  m_stats.reset();
  m_statsPath.clear();
  m_structureState = {};
  m_channelState = {};
  m_stateState = {};
  m_distributionsState = {};
  m_model->setSnapshot(m_snapshot);
  m_summary->setSnapshot(m_snapshot);
  m_openStats->setEnabled(true);
  m_calibrationPanel->setModelOpen(true);
  m_errorState = {};
  m_quantPanel->setModel(path, static_cast<int>(m_snapshot->layers.size()), m_options.tokenizer);
  if (m_view == QLatin1String("error")) m_quantPanel->activate();
  selectLayer(m_options.layer >= 0 ? std::min<int>(m_options.layer, static_cast<int>(m_snapshot->layers.size()) - 1) : 0);
  updatePathLabel();
  setWindowTitle(tr("%1 — MambaScope").arg(QFileInfo(QString::fromStdString(m_snapshot->dir)).fileName()));
  if (m_settings) {
    RecentFiles(m_settings.get()).add(path);
    updateRecentMenu();
  }
  m_canvas->requestFrames();
  Q_EMIT modelOpened(path);
  if (m_pendingWorkspace && m_pendingWorkspace->model == path) continueWorkspace();
}

void MainWindow::onFailed(const QString& path, const QString& message) {
  setBusy(false);
  // The previous model (if any) stays on screen; an empty canvas says what went wrong.
  if (!m_snapshot) m_empty = {"Could not open the model", message.toStdString()};
  statusBar()->showMessage(tr("Could not open %1").arg(QDir::toNativeSeparators(path)), 10000);
  if (m_settings && !QFileInfo::exists(path)) {  // a vanished recent entry is dead weight
    RecentFiles(m_settings.get()).remove(path);
    updateRecentMenu();
  }
  m_canvas->requestFrames();
  Q_EMIT modelFailed(path, message);
  if (m_pendingWorkspace && m_pendingWorkspace->model == path) finishWorkspace(message);
  if (m_options.interactive) {
    QMessageBox box(QMessageBox::Critical, tr("Cannot open model"),
                    tr("MambaScope could not open\n%1").arg(QDir::toNativeSeparators(path)), QMessageBox::Ok, this);
    box.setInformativeText(message);
    box.exec();
  }
}

void MainWindow::setBusy(bool busy, const QString& message) {
  m_busy->setVisible(busy);
  if (busy) statusBar()->showMessage(message);
  else statusBar()->clearMessage();
}

void MainWindow::selectLayer(int layer) {
  const QModelIndex index = m_model->indexOfLayer(layer);
  if (!index.isValid()) return;
  m_tree->expand(index);
  m_tree->setCurrentIndex(index);
  m_tree->scrollTo(index);
}

void MainWindow::selectPoint(const QuantPoint& point) {
  const QModelIndex index = m_model->indexOfPoint(point);
  if (!index.isValid()) return;
  m_tree->expand(index.parent());
  m_tree->setCurrentIndex(index);
  m_tree->scrollTo(index);
}

void MainWindow::onTreeSelectionChanged() {
  const QModelIndex index = m_tree->currentIndex();
  const int layer = m_model->layerOf(index);
  if (layer >= 0) m_structureState.layer = layer;
  // A global tensor (embedding, norm_f) keeps the current layer on the canvas.
  if (layer >= 0 || !index.isValid()) m_structureState.selected = m_model->pointOf(index);
  // The statistics views follow: same layer, and an activation input they have becomes their point.
  if (layer >= 0) m_channelState.layer = m_stateState.layer = m_distributionsState.layer = layer;
  if (layer >= 0) m_quantPanel->setCurrentLayer(layer);
  const std::optional<QuantPoint> point = m_model->pointOf(index);
  if (point && point->site == Site::Input && (!m_stats || m_stats->find(point->module)))
    m_channelState.module = m_distributionsState.module = point->module;
  m_canvas->requestFrames();
}

void MainWindow::drawFrame() {
  if (!m_snapshot) {
    views::empty::draw(m_empty, m_emptyState);
    return;
  }
  if (m_view == QLatin1String("error")) {  // needs no statistics: the preview runs its own batch
    const auto ab = m_quantPanel->comparison();  // a copy: the frame holds both snapshots
    if (const auto& error = m_quantPanel->snapshot()) views::error::draw(*error, m_errorState, ab.get());
    else if (!m_quantPanel->lastError().isEmpty())
      views::empty::draw({"The error preview failed", m_quantPanel->lastError().toStdString()}, m_emptyState);
    else views::empty::draw({"Error preview starting…", "mambascope-cli requant-serve loads the model and runs the float batch once;\n"
                             "the Quantization dock's sliders then update this view."}, m_emptyState);
    return;
  }
  if (m_view != QLatin1String("structure") && !m_stats) {
    const views::empty::Snapshot hint{
        m_calibration->isRunning() ? "Calibrating…" : "No statistics yet",
        m_calibration->isRunning()
            ? "The view appears when the calibration in the Calibration dock is done."
            : "Calibrate in the Calibration dock, or File › Open Statistics (Ctrl+Shift+O) for a file made by\n"
              "mambascope-cli calibrate MODEL --file TEXT --out stats.safetensors"};
    views::empty::draw(hint, m_emptyState);
    return;
  }
  if (m_view == QLatin1String("channel-maxima")) {
    views::channel_maxima::draw(*m_stats, m_channelState);
    if (m_channelState.user_changed) {
      m_channelState.user_changed = false;
      QTimer::singleShot(0, this, &MainWindow::syncTreeFromStatsView);
    }
    return;
  }
  if (m_view == QLatin1String("state-heatmap")) {
    views::state_heatmap::draw(*m_stats, m_stateState, m_sequence->sequence());
    // Sequence mode: latest wins (another layer or H replaces the run in flight); off cancels it.
    if (m_stateState.sequence)
      m_sequence->request({m_modelPath, m_options.tokenizer, {}, m_stateState.layer, m_stateState.sequence_tokens,
                           m_stateState.sequence_hbits, QString::fromStdString(m_stateState.sequence_method),
                           QString::fromStdString(m_stateState.sequence_variant)});
    else if (m_sequence->isRunning()) m_sequence->stop();
    if (m_stateState.sequence && m_stateState.playing) m_canvas->requestFrames();  // the next step is due by time
    if (m_stateState.user_changed) {
      m_stateState.user_changed = false;
      QTimer::singleShot(0, this, &MainWindow::syncTreeFromStatsView);
    }
    return;
  }
  if (m_view == QLatin1String("distributions")) {
    views::distributions::draw(*m_stats, m_distributionsState, m_preview->preview());
    // Latest wins: a changed method, point or bit width replaces the run in flight.
    PreviewProcess::Options preview;
    preview.model = m_modelPath;
    preview.tokenizer = m_options.tokenizer;
    m_preview->request(preview, views::distributions::preview_request(m_distributionsState));
    return;
  }
  views::structure::draw(*m_snapshot, m_structureState);
  if (m_structureState.user_changed) {
    m_structureState.user_changed = false;
    // Changing the tree emits signals that request frames; do it after this frame, not inside it.
    QTimer::singleShot(0, this, &MainWindow::syncTreeFromCanvas);
  }
}

void MainWindow::setStateSequence(bool on) {
  m_stateState.sequence = on;
  m_canvas->requestFrames();
}

void MainWindow::setStateSequenceQuantizer(const QString& method, const QString& dsqVariant) {
  m_stateState.sequence_method = method.toStdString();
  if (!dsqVariant.isEmpty()) m_stateState.sequence_variant = dsqVariant.toStdString();
  m_canvas->requestFrames();
}

void MainWindow::syncTreeFromCanvas() {
  if (m_syncing) return;
  m_syncing = true;
  const std::optional<QuantPoint> point = m_structureState.selected;
  const int layer = m_structureState.layer;
  if (point) selectPoint(*point);
  else selectLayer(layer);
  m_structureState.selected = point;  // the tree echo must not change what the user picked
  m_structureState.layer = layer;
  m_syncing = false;
}

void MainWindow::syncTreeFromStatsView() {
  if (m_syncing) return;
  m_syncing = true;
  // The tree echo must not change what the user picked in any view.
  const views::channel_maxima::ViewState channel = m_channelState;
  const views::state_heatmap::ViewState state = m_stateState;
  const views::distributions::ViewState distributions = m_distributionsState;
  if (m_view == QLatin1String("state-heatmap")) selectPoint(QuantPoint{state.layer, Module::Ssm, Site::State});
  else if (m_view == QLatin1String("distributions"))
    selectPoint(QuantPoint{distributions.layer, distributions.module, Site::Input});
  else selectPoint(QuantPoint{channel.layer, channel.module, Site::Input});
  m_channelState = channel;
  m_stateState = state;
  m_distributionsState = distributions;
  m_syncing = false;
}

void MainWindow::showAbout() {
  QMessageBox::about(this, tr("About MambaScope"),
                     tr("<h3>MambaScope %1</h3>"
                        "<p>Inspect and quantize Mamba (selective state-space) language models.</p>"
                        "<p>Qt %2 · Dear ImGui %3</p>")
                         .arg(QStringLiteral(MAMBASCOPE_VERSION), QString::fromLatin1(qVersion()),
                              QString::fromLatin1(IMGUI_VERSION)));
}

void MainWindow::closeEvent(QCloseEvent* event) {
  if (m_settings) {
    m_settings->setValue(QStringLiteral("window/geometry"), saveGeometry());
    m_settings->setValue(QStringLiteral("window/state"), saveState());
  }
  m_jobs->cancel();
  m_statsJobs->cancel();
  m_calibration->stop();
  m_preview->stop();
  QMainWindow::closeEvent(event);
}

void MainWindow::dragEnterEvent(QDragEnterEvent* event) {
  const QList<QUrl> urls = event->mimeData()->urls();
  if (urls.size() == 1 && urls.first().isLocalFile() &&
      (isModelPath(urls.first().toLocalFile()) || urls.first().toLocalFile().endsWith(kWorkspaceSuffix)))
    event->acceptProposedAction();
}

void MainWindow::dropEvent(QDropEvent* event) {
  const QList<QUrl> urls = event->mimeData()->urls();
  if (urls.size() != 1 || !urls.first().isLocalFile()) return;
  event->acceptProposedAction();
  if (urls.first().toLocalFile().endsWith(kWorkspaceSuffix)) openWorkspace(urls.first().toLocalFile());
  else openModel(urls.first().toLocalFile());
}

}  // namespace ms::app
