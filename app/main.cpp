// mambascope: the desktop application. Parses the command line before any window exists (so
// --help and --version need no display), then runs either the interactive window or the headless
// screenshot mode. The only place that exits: 0 success, 1 failure (one-line error), 2 usage.
#include <cstdio>
#include <memory>

#include <QApplication>
#include <QSurfaceFormat>
#include <QTimer>

#include "app/app_style.h"
#include "app/command_line.h"
#include "app/data_dir.h"
#include "app/demo_drag.h"
#include "app/frame_stats.h"
#include "app/main_window.h"
#include "app/screenshot_runner.h"
#include "app/teaching_tour.h"

#ifndef MAMBASCOPE_VERSION
#define MAMBASCOPE_VERSION "0.0.0"
#endif

int main(int argc, char** argv) {
  ms::app::FrameStats::markMainEntered();  // --frame-stats: the reference for main() → first frame
  QCoreApplication::setOrganizationName(QStringLiteral("MambaScope"));
  QCoreApplication::setApplicationName(QStringLiteral("mambascope"));
  QCoreApplication::setApplicationVersion(QStringLiteral(MAMBASCOPE_VERSION));

  QStringList arguments;
  for (int i = 0; i < argc; ++i) arguments << QString::fromLocal8Bit(argv[i]);
  // Without a model, the shipped demo Mamba-1 (resources/models/demo-mamba) opens, so a first
  // start or a classroom sees a real model at once, offline.
  const ms::app::CommandLine cl = ms::app::parseCommandLine(arguments, ms::app::demoModelPath());
  if (cl.help) {
    std::fputs(qPrintable(cl.helpText), stdout);
    return 0;
  }
  if (cl.version) {
    std::printf("mambascope %s\n", MAMBASCOPE_VERSION);
    return 0;
  }
  if (!cl.error.isEmpty()) {
    std::fprintf(stderr, "mambascope: error: %s (see --help)\n", qPrintable(cl.error));
    return 2;
  }

  // ImGui's OpenGL3 backend wants a 3.3 core context; shared contexts let docks float without
  // losing GL resources.
  QSurfaceFormat format;
  format.setVersion(3, 3);
  format.setProfile(QSurfaceFormat::CoreProfile);
  format.setDepthBufferSize(0);
  format.setStencilBufferSize(0);
  QSurfaceFormat::setDefaultFormat(format);
  QCoreApplication::setAttribute(Qt::AA_ShareOpenGLContexts);

  QApplication app(argc, argv);
  ms::app::applyAppStyle(app);

  ms::app::MainWindow::Options options;
  options.interactive = cl.screenshot.isEmpty();
  options.view = cl.view;
  options.layer = cl.layer;
  options.tokenizer = cl.tokenizer;
  options.method = cl.method;
  options.sequenceToken = cl.sequenceToken;
  ms::app::MainWindow window(options);
  // What a statistics view calibrates on when no --stats is given.
  ms::app::CalibrationChoice calibration;
  calibration.textFile = cl.text.isEmpty() ? ms::app::defaultCalibrationText() : cl.text;
  calibration.maxTokens = cl.maxTokens > 0 ? cl.maxTokens : ms::app::kDefaultCalibrationTokens;
  calibration.device = cl.device;
  const bool calibrate = ms::app::viewNeedsStats(cl.view) && cl.stats.isEmpty();

  if (!cl.screenshot.isEmpty()) {
    ms::app::ScreenshotRunner::Request request;
    request.model = cl.model;
    request.output = cl.screenshot;
    request.size = cl.size;
    request.stats = cl.stats;
    request.layer = cl.layer;
    request.calibrate = calibrate;
    request.calibration = calibration;
    if (!cl.select.isEmpty()) request.select = ms::QuantPoint::parse(cl.select.toStdString());
    request.tourStep = cl.tourStep - 1;
    request.presentation = cl.presentation;
    ms::app::ScreenshotRunner runner(&window, request);
    QObject::connect(&runner, &ms::app::ScreenshotRunner::finished, &app, [&app](int code, const QString& error) {
      if (code != 0) std::fprintf(stderr, "mambascope: error: %s\n", qPrintable(error));
      app.exit(code);
    });
    // Started from the event loop: a failure found at once must reach app.exit() inside exec().
    QTimer::singleShot(0, &runner, &ms::app::ScreenshotRunner::start);
    return app.exec();
  }

  // --frame-stats, --quit-after-frames, --demo-drag: measurement (tests/bench/app_frames.sh).
  std::unique_ptr<ms::app::FrameStats> frameStats;
  std::unique_ptr<ms::app::DemoDrag> demoDrag;
  int demoDragCode = 0;
  if (!cl.frameStats.isEmpty() || cl.quitAfterFrames > 0 || cl.demoDrag > 0) {
    frameStats = std::make_unique<ms::app::FrameStats>(cl.frameStats);
    frameStats->attach(window.canvas());
    frameStats->setQuitAfterFrames(cl.quitAfterFrames);
    const auto opened = [&frameStats] { frameStats->markModelOpened(); };
    QObject::connect(&window, &ms::app::MainWindow::modelOpened, frameStats.get(), opened);
    QObject::connect(&window, &ms::app::MainWindow::modelFailed, frameStats.get(), opened);  // the failure is shown
  }
  if (cl.demoDrag > 0) {
    demoDrag = std::make_unique<ms::app::DemoDrag>(&window, cl.demoDrag, frameStats.get());
    QObject::connect(demoDrag.get(), &ms::app::DemoDrag::finished, &app, [&app, &demoDragCode](int code, const QString& error) {
      if (code != 0) std::fprintf(stderr, "mambascope: error: %s\n", qPrintable(error));
      demoDragCode = code;
      app.quit();
    });
  }

  window.show();
  if (cl.tourStep > 0) {  // the step's view shows at once; the model and statistics fill it in
    window.teachingTour()->setCalibratesWhenNeeded(cl.stats.isEmpty() && !calibrate);  // else main does it
    window.teachingTour()->start(cl.tourStep - 1);
    if (cl.presentation) window.teachingTour()->setPresentation(true);
  }
  if (!cl.model.isEmpty()) window.openModel(cl.model);
  if (!cl.stats.isEmpty()) {
    const QString stats = cl.stats;
    QObject::connect(&window, &ms::app::MainWindow::modelOpened, &window, [&window, stats] { window.openStats(stats); },
                     Qt::SingleShotConnection);
  }
  if (calibrate && !calibration.textFile.isEmpty()) {
    QObject::connect(&window, &ms::app::MainWindow::modelOpened, &window,
                     [&window, calibration] { window.calibrate(calibration); }, Qt::SingleShotConnection);
  }
  if (!cl.select.isEmpty()) {
    const auto point = ms::QuantPoint::parse(cl.select.toStdString());
    QObject::connect(&window, &ms::app::MainWindow::modelOpened, &window, [&window, point] {
      if (point) window.selectPoint(*point);
    }, Qt::SingleShotConnection);
  }
  const int code = app.exec();
  if (frameStats && !cl.frameStats.isEmpty()) {
    const QString error = frameStats->write();
    if (!error.isEmpty()) {
      std::fprintf(stderr, "mambascope: error: %s\n", qPrintable(error));
      return 1;
    }
  }
  return code != 0 ? code : demoDragCode;
}
