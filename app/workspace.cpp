// Workspaces (see workspace.h).
#include "app/workspace.h"

#include <QCheckBox>
#include <QComboBox>
#include <QDir>
#include <QFile>
#include <QFileInfo>
#include <QJsonArray>
#include <QJsonDocument>
#include <QPlainTextEdit>
#include <QSaveFile>
#include <QSlider>
#include <QSpinBox>

#include "app/quant_panel.h"

namespace ms::app {
namespace {

const QString kFormat = QStringLiteral("mambascope-workspace");

// Relative to `base` when the path lies under it, else absolute; '/' separators either way.
QString storedPath(const QString& path, const QDir& base) {
  if (path.isEmpty()) return {};
  const QString absolute = QFileInfo(path).absoluteFilePath();
  const QString relative = base.relativeFilePath(absolute);
  return relative.startsWith(QLatin1String("..")) || QDir::isAbsolutePath(relative) ? QDir::cleanPath(absolute) : relative;
}

QString resolvedPath(const QString& stored, const QDir& base) {
  if (stored.isEmpty()) return {};
  return QDir::cleanPath(QDir::isAbsolutePath(stored) ? stored : base.absoluteFilePath(stored));
}

QString moduleText(Module m) { return QString::fromLatin1(module_name(m).data(), static_cast<int>(module_name(m).size())); }

std::optional<Module> moduleFrom(const QJsonValue& v) {
  for (const Module m : {Module::InProj, Module::Conv1d, Module::XProj, Module::DtProj, Module::OutProj, Module::Ssm})
    if (v.toString() == moduleText(m)) return m;
  return std::nullopt;
}

}  // namespace

QJsonObject workspaceToJson(const Workspace& w, const QString& workspacePath) {
  const QDir base = QFileInfo(workspacePath).absoluteDir();
  QJsonArray stats;
  for (const QString& s : w.stats) stats.append(storedPath(s, base));
  const auto& st = w.structure;
  QJsonObject views{
      {QStringLiteral("structure"),
       QJsonObject{{QStringLiteral("layer"), st.layer},
                   {QStringLiteral("point"), st.selected ? QJsonValue(QString::fromStdString(st.selected->str())) : QJsonValue()}}},
      {QStringLiteral("channel_maxima"), QJsonObject{{QStringLiteral("layer"), w.channelMaxima.layer},
                                                     {QStringLiteral("module"), moduleText(w.channelMaxima.module)},
                                                     {QStringLiteral("log_scale"), w.channelMaxima.log_scale}}},
      {QStringLiteral("state_heatmap"),
       QJsonObject{{QStringLiteral("layer"), w.stateHeatmap.layer},
                   {QStringLiteral("statistic"), w.stateHeatmap.statistic == views::state_heatmap::Statistic::MeanAbs
                                                     ? QStringLiteral("mean_abs") : QStringLiteral("absmax")},
                   {QStringLiteral("log_scale"), w.stateHeatmap.log_scale}}},
      {QStringLiteral("distributions"), QJsonObject{{QStringLiteral("layer"), w.distributions.layer},
                                                    {QStringLiteral("module"), moduleText(w.distributions.module)},
                                                    {QStringLiteral("bits"), w.distributions.bits},
                                                    {QStringLiteral("log_counts"), w.distributions.log_counts},
                                                    {QStringLiteral("method"), QString::fromStdString(w.distributions.method)},
                                                    {QStringLiteral("alpha"), w.distributions.alpha},
                                                    {QStringLiteral("baseline"), QString::fromStdString(w.distributions.baseline)}}},
      {QStringLiteral("error"), QJsonObject{{QStringLiteral("per_point"), w.error.per_point},
                                            {QStringLiteral("token"), w.error.selected_token}}}};
  return QJsonObject{
      {QStringLiteral("format"), kFormat},
      {QStringLiteral("version"), Workspace::kVersion},
      {QStringLiteral("model"), storedPath(w.model, base)},
      {QStringLiteral("stats"), stats},
      {QStringLiteral("view"), w.view},
      {QStringLiteral("views"), views},
      {QStringLiteral("quantization"), w.quant},
      {QStringLiteral("quantization_a"), w.quantA},  // A's setting only: its result is asked for again
      {QStringLiteral("calibration"), QJsonObject{{QStringLiteral("text_file"), storedPath(w.calibration.textFile, base)},
                                                  {QStringLiteral("typed_text"), w.calibration.typedText},
                                                  {QStringLiteral("max_tokens"), static_cast<double>(w.calibration.maxTokens)},
                                                  {QStringLiteral("device"), w.calibration.device}}},
      {QStringLiteral("window_state"), QString::fromLatin1(w.windowState.toBase64())}};
}

QString workspaceFromJson(const QByteArray& json, const QString& workspacePath, Workspace* out) {
  QJsonParseError parseError;
  const QJsonDocument doc = QJsonDocument::fromJson(json, &parseError);
  if (!doc.isObject())
    return parseError.error != QJsonParseError::NoError
               ? QStringLiteral("not JSON (%1 at byte %2)").arg(parseError.errorString()).arg(parseError.offset)
               : QStringLiteral("not a JSON object");
  const QJsonObject o = doc.object();
  if (o.value(QStringLiteral("format")).toString() != kFormat)
    return QStringLiteral("not a MambaScope workspace (\"format\" is not \"%1\")").arg(kFormat);
  const QJsonValue version = o.value(QStringLiteral("version"));
  if (!version.isDouble()) return QStringLiteral("no \"version\": cannot tell which fields it has");
  const int v = version.toInt(-1);
  if (v > Workspace::kVersion)
    return QStringLiteral("workspace version %1 is newer than this MambaScope reads (%2): open it with a newer MambaScope")
        .arg(version.toDouble())
        .arg(Workspace::kVersion);
  if (v != Workspace::kVersion) return QStringLiteral("unknown workspace version %1").arg(version.toDouble());
  const QDir base = QFileInfo(workspacePath).absoluteDir();
  Workspace w;
  w.model = resolvedPath(o.value(QStringLiteral("model")).toString(), base);
  if (w.model.isEmpty()) return QStringLiteral("no \"model\"");
  for (const QJsonValue& s : o.value(QStringLiteral("stats")).toArray())
    if (!s.toString().isEmpty()) w.stats << resolvedPath(s.toString(), base);
  w.view = o.value(QStringLiteral("view")).toString(QStringLiteral("structure"));

  const QJsonObject views = o.value(QStringLiteral("views")).toObject();
  const QJsonObject st = views.value(QStringLiteral("structure")).toObject();
  w.structure.layer = st.value(QStringLiteral("layer")).toInt(0);
  if (const auto point = QuantPoint::parse(st.value(QStringLiteral("point")).toString().toStdString())) w.structure.selected = point;
  const QJsonObject cm = views.value(QStringLiteral("channel_maxima")).toObject();
  w.channelMaxima.layer = cm.value(QStringLiteral("layer")).toInt(0);
  w.channelMaxima.module = moduleFrom(cm.value(QStringLiteral("module"))).value_or(Module::InProj);
  w.channelMaxima.log_scale = cm.value(QStringLiteral("log_scale")).toBool(false);
  const QJsonObject sh = views.value(QStringLiteral("state_heatmap")).toObject();
  w.stateHeatmap.layer = sh.value(QStringLiteral("layer")).toInt(0);
  w.stateHeatmap.statistic = sh.value(QStringLiteral("statistic")).toString() == QLatin1String("mean_abs")
                                 ? views::state_heatmap::Statistic::MeanAbs : views::state_heatmap::Statistic::Absmax;
  w.stateHeatmap.log_scale = sh.value(QStringLiteral("log_scale")).toBool(true);
  const QJsonObject d = views.value(QStringLiteral("distributions")).toObject();
  w.distributions.layer = d.value(QStringLiteral("layer")).toInt(0);
  w.distributions.module = moduleFrom(d.value(QStringLiteral("module"))).value_or(Module::InProj);
  w.distributions.bits = std::clamp(d.value(QStringLiteral("bits")).toInt(8), 2, 15);  // older files held 16
  w.distributions.log_counts = d.value(QStringLiteral("log_counts")).toBool(true);
  w.distributions.method = d.value(QStringLiteral("method")).toString().toStdString();
  w.distributions.alpha = d.value(QStringLiteral("alpha")).toDouble(0.5);
  w.distributions.baseline = d.value(QStringLiteral("baseline")).toString(QStringLiteral("tensor")).toStdString();
  const QJsonObject e = views.value(QStringLiteral("error")).toObject();
  w.error.per_point = e.value(QStringLiteral("per_point")).toBool(false);
  w.error.selected_token = e.value(QStringLiteral("token")).toInt(-1);

  w.quant = o.value(QStringLiteral("quantization")).toObject();
  w.quantA = o.value(QStringLiteral("quantization_a")).toObject();  // absent in older files: no A
  const QJsonObject c = o.value(QStringLiteral("calibration")).toObject();
  w.calibration.textFile = resolvedPath(c.value(QStringLiteral("text_file")).toString(), base);
  w.calibration.typedText = c.value(QStringLiteral("typed_text")).toString();
  w.calibration.maxTokens = static_cast<qint64>(c.value(QStringLiteral("max_tokens")).toDouble(0));
  w.calibration.device = c.value(QStringLiteral("device")).toString(QStringLiteral("auto"));
  w.windowState = QByteArray::fromBase64(o.value(QStringLiteral("window_state")).toString().toLatin1());
  *out = std::move(w);
  return {};
}

QString writeWorkspace(const QString& path, const Workspace& workspace) {
  const QByteArray bytes = QJsonDocument(workspaceToJson(workspace, path)).toJson(QJsonDocument::Indented);
  QSaveFile file(path);
  if (!file.open(QIODevice::WriteOnly) || file.write(bytes) != bytes.size() || !file.commit())
    return QStringLiteral("%1: cannot write: %2").arg(path, file.errorString());
  return {};
}

QString readWorkspace(const QString& path, Workspace* out) {
  QFile file(path);
  if (!file.open(QIODevice::ReadOnly)) return QStringLiteral("%1: cannot read: %2").arg(path, file.errorString());
  const QString why = workspaceFromJson(file.readAll(), path, out);
  return why.isEmpty() ? QString() : QStringLiteral("%1: %2").arg(path, why);
}

void applyQuantSetting(QuantPanel* panel, const QJsonObject& s) {
  if (s.isEmpty()) return;
  const auto combo = [panel](const char* name, const QJsonValue& value) {
    auto* box = panel->findChild<QComboBox*>(QLatin1String(name));
    const int index = box ? box->findData(value.toString()) : -1;
    if (index >= 0) box->setCurrentIndex(index);
  };
  // Moves a slider to `bits` so that the panel records it even when it already shows that value
  // (a layer override equal to the global bits is still an override).
  const auto slide = [panel](char which, const QJsonValue& value, bool force) {
    if (!value.isDouble()) return;
    QSlider* slider = panel->bitsSlider(which);
    const int position = QuantPanel::positionOf(value.toInt());
    if (force && slider->value() == position) slider->setValue(position == slider->minimum() ? position + 1 : position - 1);
    slider->setValue(position);
  };
  QComboBox* scope = panel->scopeBox();
  scope->setCurrentIndex(0);  // all layers
  slide('W', s.value(QStringLiteral("wbits")), false);
  slide('A', s.value(QStringLiteral("abits")), false);
  slide('H', s.value(QStringLiteral("hbits")), false);
  combo("weightGranularity", s.value(QStringLiteral("granularity")));
  if (auto* symmetric = panel->findChild<QCheckBox*>(); symmetric && s.value(QStringLiteral("symmetric")).isBool())
    symmetric->setChecked(s.value(QStringLiteral("symmetric")).toBool());
  combo("stateMethod", s.value(QStringLiteral("state_method")));
  combo("actScale", s.value(QStringLiteral("act_scale")));  // static forces per-tensor granularity: set it first
  combo("actGranularity", s.value(QStringLiteral("act_granularity")));
  const QJsonObject layers = s.value(QStringLiteral("layers")).toObject();
  for (auto it = layers.begin(); it != layers.end(); ++it) {
    const int index = scope->findData(it.key().toInt());
    if (index < 0) continue;  // a layer this model lacks
    scope->setCurrentIndex(index);
    const QJsonObject bits = it.value().toObject();
    slide('W', bits.value(QStringLiteral("wbits")), true);
    slide('A', bits.value(QStringLiteral("abits")), true);
    slide('H', bits.value(QStringLiteral("hbits")), true);
  }
  scope->setCurrentIndex(0);
}

void applyCalibrationChoice(CalibrationPanel* panel, const CalibrationChoice& c) {
  QComboBox* source = panel->sourceBox();
  constexpr int kKindRole = Qt::UserRole + 1;  // the panel's item kinds: 0 shipped, 1 file, 2 typed
  const auto itemOfKind = [source](int kind) {
    for (int i = 0; i < source->count(); ++i)
      if (source->itemData(i, kKindRole).toInt() == kind) return i;
    return -1;
  };
  if (!c.typedText.isEmpty()) {
    panel->typedTextEdit()->setPlainText(c.typedText);
    source->setCurrentIndex(itemOfKind(2));
  } else if (!c.textFile.isEmpty()) {
    int index = source->findData(c.textFile);
    if (index < 0 && (index = itemOfKind(1)) >= 0) {  // a file of the user's: the "Text file…" entry holds it
      source->setItemData(index, c.textFile);
      source->setItemText(index, QFileInfo(c.textFile).fileName());
      source->setItemData(index, QDir::toNativeSeparators(c.textFile), Qt::ToolTipRole);
    }
    if (index >= 0) source->setCurrentIndex(index);
  }
  if (c.maxTokens > 0) panel->tokensBox()->setValue(static_cast<int>(c.maxTokens));
  for (QComboBox* box : panel->findChildren<QComboBox*>())
    if (box != source && box->findText(QStringLiteral("cuda")) >= 0 && box->findText(c.device) >= 0)
      box->setCurrentText(c.device);
}

}  // namespace ms::app
