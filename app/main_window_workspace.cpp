// MainWindow's workspaces (see main_window.h): saving the session to a .mambascope-workspace file
// and opening one again in steps (the model, then its statistics, then the views' state), each
// step continuing when the previous one's job has answered. The file format is app/workspace.h's.
#include "app/main_window.h"

#include <QDir>
#include <QFile>
#include <QFileDialog>
#include <QFileInfo>
#include <QMessageBox>
#include <QStatusBar>
#include <QTemporaryDir>

#include "app/calibration_panel.h"
#include "app/imgui_canvas.h"
#include "app/quant_panel.h"
#include "app/recent_files.h"
#include "app/workspace.h"

namespace ms::app {

void MainWindow::showSaveWorkspaceDialog() {
  if (!m_snapshot) {
    statusBar()->showMessage(tr("Open a model first: a workspace starts with one"), 5000);
    return;
  }
  const QString start = QFileInfo(QString::fromStdString(m_snapshot->dir)).fileName() + kWorkspaceSuffix;
  QString path = QFileDialog::getSaveFileName(this, tr("Save Workspace"), start,
                                              tr("MambaScope workspaces (*%1)").arg(kWorkspaceSuffix));
  if (path.isEmpty()) return;
  if (!path.endsWith(kWorkspaceSuffix)) path += kWorkspaceSuffix;
  const QString error = saveWorkspace(path);
  if (error.isEmpty()) statusBar()->showMessage(tr("Saved workspace %1").arg(QDir::toNativeSeparators(path)), 5000);
  else QMessageBox::critical(this, tr("Cannot save the workspace"), error);
}

void MainWindow::showOpenWorkspaceDialog() {
  const QString path = QFileDialog::getOpenFileName(this, tr("Open Workspace"), QString(),
                                                    tr("MambaScope workspaces (*%1);;All files (*)").arg(kWorkspaceSuffix));
  if (!path.isEmpty()) openWorkspace(path);
}

QString MainWindow::saveWorkspace(const QString& path) {
  if (!m_snapshot) return tr("%1: nothing to save: no model is open").arg(path);
  Workspace w;
  w.model = m_modelPath;
  if (!m_statsPath.isEmpty()) {
    QString stats = m_statsPath;
    if (m_tempDir && stats.startsWith(m_tempDir->path())) {
      // Calibrated in the app: the file goes with the window, so the workspace keeps a copy.
      const QFileInfo info(path);
      stats = info.absoluteDir().filePath(info.completeBaseName() + QStringLiteral("-stats.safetensors"));
      if (QFileInfo::exists(stats)) QFile::remove(stats);
      if (!QFile::copy(m_statsPath, stats)) return tr("%1: cannot copy the app's statistics to %2").arg(path, stats);
    }
    w.stats << stats;
  }
  w.view = m_view;
  w.structure = m_structureState;
  w.channelMaxima = m_channelState;
  w.stateHeatmap = m_stateState;
  w.distributions = m_distributionsState;
  w.error = m_errorState;
  w.quant = m_quantPanel->setting();
  w.quantA = m_quantPanel->pinnedSetting();
  w.calibration = m_calibrationPanel->choice();
  w.windowState = saveState();
  const QString error = writeWorkspace(path, w);
  if (error.isEmpty() && m_settings) {
    RecentFiles(m_settings.get()).add(path);
    updateRecentMenu();
  }
  return error;
}

void MainWindow::openWorkspace(const QString& path) {
  Workspace w;
  const QString why = readWorkspace(path, &w);
  if (!why.isEmpty()) {
    statusBar()->showMessage(tr("Could not open workspace %1").arg(QDir::toNativeSeparators(path)), 10000);
    Q_EMIT workspaceFailed(path, why);
    if (m_options.interactive) QMessageBox::critical(this, tr("Cannot open workspace"), why);
    return;
  }
  if (!w.windowState.isEmpty()) restoreState(w.windowState);
  applyCalibrationChoice(m_calibrationPanel, w.calibration);
  m_workspaceProblems.clear();
  m_pendingWorkspace = w;
  m_pendingWorkspacePath = path;
  if (!QFileInfo::exists(w.model)) {
    finishWorkspace(tr("%1: the model is not there (the layout and the Calibration dock are restored)").arg(w.model));
    return;
  }
  openModel(w.model);  // continueWorkspace() when it opens
}

void MainWindow::continueWorkspace() {
  applyQuantSetting(m_quantPanel, m_pendingWorkspace->quant);
  m_quantPanel->restoreA(m_pendingWorkspace->quantA);  // A's result is computed again, then pinned
  if (m_pendingWorkspace->stats.isEmpty()) {
    finishWorkspace();
    return;
  }
  const QString stats = m_pendingWorkspace->stats.front();
  if (!QFileInfo::exists(stats)) {
    finishWorkspace(tr("%1: the statistics file is not there (the model and the rest are restored)").arg(stats));
    return;
  }
  openStats(stats);  // finishWorkspace() when it loads or fails
}

void MainWindow::finishWorkspace(const QString& problem) {
  if (!m_pendingWorkspace) return;
  if (!problem.isEmpty()) m_workspaceProblems << problem;
  const Workspace w = *m_pendingWorkspace;
  const QString path = m_pendingWorkspacePath;
  m_pendingWorkspace.reset();
  if (m_snapshot && m_modelPath == w.model) {
    setView(w.view);
    // The tree follows the view shown (its selection sets every view's layer), then each view gets
    // its own selection back.
    if (w.view == QLatin1String("state-heatmap")) selectPoint(QuantPoint{w.stateHeatmap.layer, Module::Ssm, Site::State});
    else if (w.view == QLatin1String("distributions"))
      selectPoint(QuantPoint{w.distributions.layer, w.distributions.module, Site::Input});
    else if (w.view == QLatin1String("channel-maxima"))
      selectPoint(QuantPoint{w.channelMaxima.layer, w.channelMaxima.module, Site::Input});
    else if (w.structure.selected) selectPoint(*w.structure.selected);
    else selectLayer(w.structure.layer);
    m_structureState = w.structure;
    if (m_stats) {
      m_channelState = w.channelMaxima;
      m_stateState = w.stateHeatmap;
      m_distributionsState = w.distributions;
    }
    m_errorState.per_point = w.error.per_point;  // not the token: the batch may differ
    m_canvas->requestFrames();
  }
  if (m_settings) {
    RecentFiles(m_settings.get()).add(path);
    updateRecentMenu();
  }
  statusBar()->showMessage(m_workspaceProblems.isEmpty() ? tr("Opened workspace %1").arg(QDir::toNativeSeparators(path))
                                                         : tr("Opened workspace %1 with problems").arg(QDir::toNativeSeparators(path)),
                           8000);
  const QStringList problems = m_workspaceProblems;
  m_workspaceProblems.clear();
  Q_EMIT workspaceOpened(path, problems);
  if (m_options.interactive && !problems.isEmpty()) {
    QMessageBox box(QMessageBox::Warning, tr("Workspace partly restored"),
                    tr("MambaScope opened\n%1\nbut could not restore everything.").arg(QDir::toNativeSeparators(path)),
                    QMessageBox::Ok, this);
    box.setInformativeText(problems.join(QLatin1Char('\n')));
    box.exec();
  }
}

}  // namespace ms::app
