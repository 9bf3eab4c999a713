// Command-line parsing (see command_line.h).
#include "app/command_line.h"

#include <QCommandLineParser>
#include <QRegularExpression>

#include "app/teaching_tour.h"
#include "core/model/quant_point.h"

namespace ms::app {

QStringList viewNames() {
  return {QStringLiteral("structure"), QStringLiteral("channel-maxima"), QStringLiteral("state-heatmap"),
          QStringLiteral("distributions"), QStringLiteral("error")};
}

// The error view runs its own cached batch (requant-serve), not the calibration statistics.
bool viewNeedsStats(const QString& view) { return view != QLatin1String("structure") && view != QLatin1String("error"); }

CommandLine parseCommandLine(const QStringList& arguments, const QString& defaultModel) {
  CommandLine result;
  QCommandLineParser parser;
  parser.setApplicationDescription(
      QStringLiteral("MambaScope: inspect and quantize Mamba language models.\n\n"
                     "Opens MODEL (a model folder, its config.json, a .safetensors or a pytorch_model.bin)\n"
                     "and shows its layers, quant points and tensors; calibrated (in the app, or with\n"
                     "--stats from mambascope-cli calibrate), the per-channel activation maxima and outlier\n"
                     "channels, the SSM state heatmap and the activation distributions. Without MODEL it\n"
                     "opens the shipped demo model (a Mamba-1 trained on Jane Austen's novels)."));
  const QCommandLineOption helpOption({QStringLiteral("h"), QStringLiteral("help")},
                                      QStringLiteral("Show this help and exit."));
  const QCommandLineOption versionOption({QStringLiteral("v"), QStringLiteral("version")},
                                         QStringLiteral("Show the version and exit."));
  const QCommandLineOption screenshotOption(
      QStringLiteral("screenshot"),
      QStringLiteral("Open MODEL, render one frame, save the window as PNG to <file> and exit "
                     "(0 on success, 1 with a one-line error). Needs a display (Xvfb works)."),
      QStringLiteral("file"));
  const QCommandLineOption viewOption(
      QStringLiteral("view"),
      QStringLiteral("The canvas view to show: %1 (default: structure).").arg(viewNames().join(QStringLiteral(", "))),
      QStringLiteral("name"), QStringLiteral("structure"));
  const QCommandLineOption selectOption(
      QStringLiteral("select"), QStringLiteral("Select a quant point, e.g. layers.0.x_proj.weight."),
      QStringLiteral("point"));
  const QCommandLineOption statsOption(
      QStringLiteral("stats"),
      QStringLiteral("Open a statistics file made by `mambascope-cli calibrate MODEL --file TEXT --out <file>` "
                     "instead of calibrating (the statistics views calibrate on the default text without it)."),
      QStringLiteral("file"));
  const QCommandLineOption layerOption(
      QStringLiteral("layer"),
      QStringLiteral("Show layer <n> (default: 0; statistics views: the layer with the most outlier channels)."),
      QStringLiteral("n"));
  const QCommandLineOption textOption(
      QStringLiteral("text"),
      QStringLiteral("Calibration text for the statistics views (default: the shipped Austen novels, "
                     "resources/texts/austen.txt)."),
      QStringLiteral("file"));
  const QCommandLineOption tokensOption(
      QStringLiteral("max-tokens"),
      QStringLiteral("Calibrate on at most <n> tokens from the start of the text (default: 16384)."),
      QStringLiteral("n"));
  const QCommandLineOption deviceOption(QStringLiteral("device"),
                                        QStringLiteral("Calibration device: cpu, cuda or auto (default: auto)."),
                                        QStringLiteral("device"));
  const QCommandLineOption tokenizerOption(
      QStringLiteral("tokenizer"),
      QStringLiteral("tokenizer.json for calibrating a model that ships none (the state-spaces layout)."),
      QStringLiteral("file"));
  const QCommandLineOption sizeOption(QStringLiteral("size"),
                                      QStringLiteral("Window size for --screenshot (default: 1400x900)."),
                                      QStringLiteral("WxH"), QStringLiteral("1400x900"));
  const int tourSteps = static_cast<int>(teachingTourSteps().size());
  const QCommandLineOption tourOption(
      QStringLiteral("tour"),
      QStringLiteral("Start the teaching tour (Help > Teaching Tour) at step <n> of %1; it sets the view, "
                     "so --view is not needed. With --screenshot, renders that step.")
          .arg(tourSteps),
      QStringLiteral("n"));
  const QCommandLineOption presentationOption(
      QStringLiteral("presentation"),
      QStringLiteral("With --tour: presentation mode (large fonts, only the view and the narration; "
                     "full screen unless --screenshot)."));
  parser.addOptions({helpOption, versionOption, screenshotOption, viewOption, selectOption, statsOption, layerOption,
                     textOption, tokensOption, deviceOption, tokenizerOption, sizeOption, tourOption,
                     presentationOption});
  parser.addPositionalArgument(QStringLiteral("model"), QStringLiteral("The model to open."),
                               QStringLiteral("[MODEL]"));
  const QCommandLineOption sequenceOption(
      QStringLiteral("sequence-token"),
      QStringLiteral("With --view state-heatmap: the sequence mode (the state token by token, float vs quantized, "
                     "from mambascope-cli states) at token <n>."),
      QStringLiteral("n"));
  parser.addOption(sequenceOption);
  // Measurement (tests/bench/app_frames.sh); see app/frame_stats.h and app/demo_drag.h.
  const QCommandLineOption frameStatsOption(
      QStringLiteral("frame-stats"),
      QStringLiteral("Record the time from process start to the first frame and every frame's CPU time and "
                     "interval; written as JSON to <file> when the app quits."),
      QStringLiteral("file"));
  const QCommandLineOption quitAfterOption(
      QStringLiteral("quit-after-frames"),
      QStringLiteral("Quit after <n> frames have been presented with the model shown."), QStringLiteral("n"));
  const QCommandLineOption demoDragOption(
      QStringLiteral("demo-drag"),
      QStringLiteral("Open the error view and, once it has a result, drag the W bits slider back and forth "
                     "(a step every 16 ms) for <seconds>, then quit."),
      QStringLiteral("seconds"));
  parser.addOptions({frameStatsOption, quitAfterOption, demoDragOption});
  // Parsed before QApplication exists, so helpText() cannot know the program name yet.
  // and in tests it would name the test binary: the usage line always names the tool.
  result.helpText = parser.helpText().replace(QRegularExpression(QStringLiteral("^Usage: \\S+")),
                                              QStringLiteral("Usage: mambascope"));

  const QCommandLineOption methodOption(
      QStringLiteral("method"),
      QStringLiteral("With --view distributions: show a method's before and after (hadamard, klt, smoothquant, "
                     "dsq; dsq on the SSM state)."),
      QStringLiteral("name"));
  parser.addOption(methodOption);
  if (!parser.parse(arguments)) {
    result.error = parser.errorText();
    return result;
  }
  result.help = parser.isSet(helpOption);
  result.version = parser.isSet(versionOption);
  result.screenshot = parser.value(screenshotOption);
  result.view = parser.value(viewOption);
  result.select = parser.value(selectOption);
  result.stats = parser.value(statsOption);
  result.text = parser.value(textOption);
  result.device = parser.value(deviceOption);
  result.tokenizer = parser.value(tokenizerOption);
  result.method = parser.value(methodOption);
  if (!result.method.isEmpty() && !QStringList{"hadamard", "klt", "smoothquant", "dsq"}.contains(result.method)) {
    result.error = QStringLiteral("unknown --method '%1' (known: hadamard, klt, smoothquant, dsq)").arg(result.method);
    return result;
  }

  if (parser.isSet(sequenceOption)) {
    bool ok = false;
    result.sequenceToken = parser.value(sequenceOption).toInt(&ok);
    if (!ok || result.sequenceToken < 0) {
      result.error = QStringLiteral("--sequence-token expects a token index (0 or more), got '%1'").arg(parser.value(sequenceOption));
      return result;
    }
  }
  const QStringList positional = parser.positionalArguments();
  if (positional.size() > 1) {
    result.error = QStringLiteral("expected one MODEL, got %1").arg(positional.size());
    return result;
  }
  result.model = positional.isEmpty() ? defaultModel : positional.first();

  if (parser.isSet(tourOption)) {
    bool ok = false;
    const int step = parser.value(tourOption).toInt(&ok);
    if (!ok || step < 1 || step > tourSteps) {
      result.error = QStringLiteral("--tour expects a step from 1 to %1, got '%2'").arg(tourSteps).arg(parser.value(tourOption));
      return result;
    }
    result.tourStep = step;
    result.view = teachingTourSteps()[static_cast<size_t>(step - 1)].view;  // the step decides
  }
  result.presentation = parser.isSet(presentationOption);
  if (result.presentation && result.tourStep < 0) {
    result.error = QStringLiteral("--presentation needs --tour N (presentation mode belongs to the teaching tour)");
    return result;
  }
  if (!viewNames().contains(result.view)) {
    result.error = QStringLiteral("unknown view '%1' (known: %2)").arg(result.view, viewNames().join(QStringLiteral(", ")));
    return result;
  }
  if (parser.isSet(layerOption)) {
    bool ok = false;
    result.layer = parser.value(layerOption).toInt(&ok);
    if (!ok || result.layer < 0) {
      result.error = QStringLiteral("--layer expects a layer index (0, 1, ...), got '%1'").arg(parser.value(layerOption));
      return result;
    }
  }
  if (parser.isSet(tokensOption)) {
    bool ok = false;
    result.maxTokens = parser.value(tokensOption).toLongLong(&ok);
    if (!ok || result.maxTokens < 1) {
      result.error = QStringLiteral("--max-tokens expects a positive token count, got '%1'").arg(parser.value(tokensOption));
      return result;
    }
  }
  if (!result.device.isEmpty() && !QStringList{QStringLiteral("cpu"), QStringLiteral("cuda"), QStringLiteral("auto")}.contains(result.device)) {
    result.error = QStringLiteral("--device expects cpu, cuda or auto, got '%1'").arg(result.device);
    return result;
  }
  const QRegularExpression sizePattern(QStringLiteral("^(\\d{2,5})x(\\d{2,5})$"));
  const QRegularExpressionMatch match = sizePattern.match(parser.value(sizeOption));
  if (!match.hasMatch()) {
    result.error = QStringLiteral("--size expects WIDTHxHEIGHT, e.g. 1400x900, got '%1'").arg(parser.value(sizeOption));
    return result;
  }
  result.size = QSize(match.captured(1).toInt(), match.captured(2).toInt());
  if (!result.select.isEmpty() && !QuantPoint::parse(result.select.toStdString())) {
    result.error = QStringLiteral("--select expects a quant point such as layers.0.x_proj.weight, got '%1'")
                       .arg(result.select);
    return result;
  }
  result.frameStats = parser.value(frameStatsOption);
  if (parser.isSet(quitAfterOption)) {
    bool ok = false;
    result.quitAfterFrames = parser.value(quitAfterOption).toInt(&ok);
    if (!ok || result.quitAfterFrames < 1) {
      result.error = QStringLiteral("--quit-after-frames expects a frame count (1 or more), got '%1'").arg(parser.value(quitAfterOption));
      return result;
    }
  }
  if (parser.isSet(demoDragOption)) {
    bool ok = false;
    result.demoDrag = parser.value(demoDragOption).toDouble(&ok);
    if (!ok || !(result.demoDrag > 0)) {
      result.error = QStringLiteral("--demo-drag expects seconds (more than 0), got '%1'").arg(parser.value(demoDragOption));
      return result;
    }
    if (parser.isSet(viewOption) && result.view != QLatin1String("error")) {
      result.error = QStringLiteral("--demo-drag drags the error view's W slider; it cannot run with --view %1").arg(result.view);
      return result;
    }
    result.view = QStringLiteral("error");
  }
  if (!result.screenshot.isEmpty() && (result.quitAfterFrames > 0 || result.demoDrag > 0)) {
    result.error = QStringLiteral("--quit-after-frames and --demo-drag need the interactive window, not --screenshot");
    return result;
  }
  if (!result.screenshot.isEmpty() && result.model.isEmpty() && !result.help && !result.version) {
    result.error = QStringLiteral("--screenshot needs a MODEL to open (no demo model is installed)");
    return result;
  }
  return result;
}

}  // namespace ms::app
