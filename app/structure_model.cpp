// StructureModel (see structure_model.h).
#include "app/structure_model.h"

#include <QColor>
#include <QFontDatabase>
#include <QIcon>
#include <QLocale>
#include <QPainter>
#include <QPixmap>

#include "views/theme.h"

namespace ms::app {
namespace {

QString qs(const std::string& s) { return QString::fromStdString(s); }

QString formatBytes(std::size_t bytes) {
  return QLocale::system().formattedDataSize(static_cast<qint64>(bytes), 1, QLocale::DataSizeIecFormat);
}

// A small rounded square in the colour the canvas gives this kind of point.
QIcon kindIcon(PointKind kind) {
  QPixmap pixmap(14, 14);
  pixmap.fill(Qt::transparent);
  QPainter painter(&pixmap);
  painter.setRenderHint(QPainter::Antialiasing);
  const QColor colour = QColor::fromRgba(views::kind_colour(kind));
  QColor fill = colour;
  fill.setAlphaF(0.45f);
  painter.setBrush(fill);
  painter.setPen(QPen(colour, 1.5));
  painter.drawRoundedRect(QRectF(1.5, 1.5, 11, 11), 3, 3);
  return QIcon(pixmap);
}

}  // namespace

StructureModel::StructureModel(QObject* parent) : QAbstractItemModel(parent) {}
StructureModel::~StructureModel() = default;

void StructureModel::setSnapshot(std::shared_ptr<const ModelSnapshot> snapshot) {
  beginResetModel();
  m_snapshot = std::move(snapshot);
  build();
  endResetModel();
}

int StructureModel::addNode(Node node) {
  const int id = static_cast<int>(m_nodes.size());
  if (node.parent < 0) {
    node.row = static_cast<int>(m_top.size());
    m_top.push_back(id);
  } else {
    node.row = static_cast<int>(m_nodes[static_cast<std::size_t>(node.parent)].children.size());
    m_nodes[static_cast<std::size_t>(node.parent)].children.push_back(id);
  }
  m_nodes.push_back(std::move(node));
  return id;
}

void StructureModel::build() {
  m_nodes.clear();
  m_top.clear();
  m_layerNodes.clear();
  if (!m_snapshot) return;
  const auto addTensor = [this](const TensorInfo& tensor, int parent, int layer) {
    Node n;
    n.kind = RowKind::Tensor;
    n.parent = parent;
    n.layer = layer;
    n.tensor = &tensor;
    addNode(n);
  };
  for (const TensorInfo& tensor : m_snapshot->before_layers) addTensor(tensor, -1, -1);
  for (const LayerInfo& layer : m_snapshot->layers) {
    Node ln;
    ln.kind = RowKind::Layer;
    ln.layer = layer.index;
    ln.layerInfo = &layer;
    const int layerId = addNode(ln);
    m_layerNodes.push_back(layerId);
    for (const PointInfo& point : layer.points) {
      Node pn;
      pn.kind = RowKind::Point;
      pn.parent = layerId;
      pn.layer = layer.index;
      pn.point = &point;
      const int pointId = addNode(pn);
      for (const TensorInfo& tensor : point.tensors) addTensor(tensor, pointId, layer.index);
    }
    for (const TensorInfo& tensor : layer.unassigned) addTensor(tensor, layerId, layer.index);
  }
  for (const TensorInfo& tensor : m_snapshot->after_layers) addTensor(tensor, -1, -1);
}

const StructureModel::Node* StructureModel::node(const QModelIndex& index) const {
  if (!index.isValid() || index.model() != this) return nullptr;
  const auto id = static_cast<std::size_t>(index.internalId());
  return id < m_nodes.size() ? &m_nodes[id] : nullptr;
}

StructureModel::RowKind StructureModel::rowKind(const QModelIndex& index) const {
  const Node* n = node(index);
  return n ? n->kind : RowKind::Tensor;
}

int StructureModel::layerOf(const QModelIndex& index) const {
  const Node* n = node(index);
  return n ? n->layer : -1;
}

std::optional<QuantPoint> StructureModel::pointOf(const QModelIndex& index) const {
  const Node* n = node(index);
  if (!n) return std::nullopt;
  if (n->point) return n->point->point;
  if (n->kind == RowKind::Tensor && n->parent >= 0) {
    const Node& parent = m_nodes[static_cast<std::size_t>(n->parent)];
    if (parent.point) return parent.point->point;
  }
  return std::nullopt;
}

QModelIndex StructureModel::indexOfLayer(int layer) const {
  if (layer < 0 || layer >= static_cast<int>(m_layerNodes.size())) return {};
  const int id = m_layerNodes[static_cast<std::size_t>(layer)];
  return createIndex(m_nodes[static_cast<std::size_t>(id)].row, 0, static_cast<quintptr>(id));
}

QModelIndex StructureModel::indexOfPoint(const QuantPoint& point) const {
  if (point.layer < 0 || point.layer >= static_cast<int>(m_layerNodes.size())) return {};
  const Node& layer = m_nodes[static_cast<std::size_t>(m_layerNodes[static_cast<std::size_t>(point.layer)])];
  for (const int id : layer.children) {
    const Node& n = m_nodes[static_cast<std::size_t>(id)];
    if (n.point && n.point->point == point) return createIndex(n.row, 0, static_cast<quintptr>(id));
  }
  return {};
}

QModelIndex StructureModel::index(int row, int column, const QModelIndex& parent) const {
  if (row < 0 || column < 0 || column >= ColumnCount) return {};
  const std::vector<int>* children = &m_top;
  if (parent.isValid()) {
    const Node* p = node(parent);
    if (!p) return {};
    children = &p->children;
  }
  if (row >= static_cast<int>(children->size())) return {};
  return createIndex(row, column, static_cast<quintptr>((*children)[static_cast<std::size_t>(row)]));
}

QModelIndex StructureModel::parent(const QModelIndex& child) const {
  const Node* n = node(child);
  if (!n || n->parent < 0) return {};
  const Node& p = m_nodes[static_cast<std::size_t>(n->parent)];
  return createIndex(p.row, 0, static_cast<quintptr>(n->parent));
}

int StructureModel::rowCount(const QModelIndex& parent) const {
  if (!parent.isValid()) return static_cast<int>(m_top.size());
  if (parent.column() != 0) return 0;
  const Node* n = node(parent);
  return n ? static_cast<int>(n->children.size()) : 0;
}

int StructureModel::columnCount(const QModelIndex&) const { return ColumnCount; }

QVariant StructureModel::displayData(const Node& n, int column) const {
  switch (n.kind) {
    case RowKind::Tensor:
      switch (column) {
        case NameColumn: return qs(n.tensor->local_name);
        case ShapeColumn: return qs(n.tensor->shape_text());
        case DTypeColumn: return qs(std::string(dtype_name(n.tensor->dtype)));
        case SizeColumn: return formatBytes(n.tensor->nbytes);
      }
      break;
    case RowKind::Layer:
      switch (column) {
        case NameColumn: return QStringLiteral("layers.%1").arg(n.layer);
        case ShapeColumn: {
          const auto count = static_cast<int>(n.layerInfo->quant_point_count());
          return count == 1 ? tr("1 quant point") : tr("%1 quant points").arg(count);
        }
        case SizeColumn: return formatBytes(n.layerInfo->nbytes);
      }
      break;
    case RowKind::Point: {
      const PointInfo& p = *n.point;
      switch (column) {
        case NameColumn: return qs(p.label);
        case ShapeColumn: return qs(p.shape_text);
        case DTypeColumn:
          if ((p.kind == PointKind::Weight || p.kind == PointKind::Module) && !p.tensors.empty()) return qs(std::string(dtype_name(p.tensors.front().dtype)));
          return QString::fromUtf8(views::kind_name(p.kind));
        case SizeColumn: {
          std::size_t bytes = 0;
          for (const TensorInfo& t : p.tensors) bytes += t.nbytes;
          return bytes ? formatBytes(bytes) : QVariant();
        }
      }
      break;
    }
  }
  return {};
}

QVariant StructureModel::toolTip(const Node& n) const {
  switch (n.kind) {
    case RowKind::Tensor:
      return tr("%1\n%2 %3, %4").arg(qs(n.tensor->key), qs(n.tensor->shape_text()),
                                     qs(std::string(dtype_name(n.tensor->dtype))), formatBytes(n.tensor->nbytes));
    case RowKind::Layer:
      return tr("Mamba block %1").arg(n.layer);
    case RowKind::Point: {
      QString tip = tr("%1\n%2, %3").arg(qs(n.point->canonical), QString::fromUtf8(views::kind_name(n.point->kind)),
                                         qs(n.point->shape_text));
      if (n.point->keys) tip += tr("\nHF: %1\nGGUF: %2").arg(qs(n.point->keys->hf), qs(n.point->keys->gguf));
      return tip;
    }
  }
  return {};
}

QVariant StructureModel::data(const QModelIndex& index, int role) const {
  const Node* n = node(index);
  if (!n) return {};
  switch (role) {
    case Qt::DisplayRole: return displayData(*n, index.column());
    case Qt::ToolTipRole: return toolTip(*n);
    case Qt::DecorationRole:
      if (index.column() == NameColumn && n->point) return kindIcon(n->point->kind);
      return {};
    case Qt::FontRole:
      if (index.column() == ShapeColumn || index.column() == DTypeColumn) {
        if (n->kind == RowKind::Layer) return {};
        return QFontDatabase::systemFont(QFontDatabase::FixedFont);
      }
      return {};
    case Qt::ForegroundRole:
      // Activation and state points have no dtype; their kind word is dimmed so it does not read as one.
      if (index.column() == DTypeColumn && n->point && (n->point->kind == PointKind::Activation || n->point->kind == PointKind::State))
        return QColor::fromRgba(views::kind_colour(n->point->kind));
      if (n->kind == RowKind::Layer && index.column() != NameColumn) return QColor::fromRgba(views::Palette::text_dim);
      return {};
    case Qt::TextAlignmentRole:
      if (index.column() == SizeColumn) return int(Qt::AlignRight | Qt::AlignVCenter);
      return {};
  }
  return {};
}

QVariant StructureModel::headerData(int section, Qt::Orientation orientation, int role) const {
  if (orientation != Qt::Horizontal || role != Qt::DisplayRole) return {};
  switch (section) {
    case NameColumn: return tr("Name");
    case ShapeColumn: return tr("Shape");
    case DTypeColumn: return tr("DType");
    case SizeColumn: return tr("Size");
  }
  return {};
}

}  // namespace ms::app
