// StructureModel: the Qt item model of an opened model's structure, for the tree dock:
//   embedding.weight
//   layers.0                      (layer)
//     in_proj.input   [T, 64]     (quant point: activation)
//     in_proj         [256, 64]   (quant point: weight)
//       in_proj.weight [256, 64] F32    (stored tensor)
//   …
//   norm_f.weight
// Columns: name, shape, dtype, size. Rows point into an immutable ModelSnapshot that the model
// keeps alive; identities are typed (layer number, ms::QuantPoint), never parsed back from text.
#pragma once

#include <memory>
#include <optional>
#include <vector>

#include <QAbstractItemModel>

#include "core/model/quant_point.h"
#include "views/model_snapshot.h"

namespace ms::app {

class StructureModel : public QAbstractItemModel {
  Q_OBJECT

 public:
  enum Column { NameColumn, ShapeColumn, DTypeColumn, SizeColumn, ColumnCount };
  enum class RowKind { Tensor, Layer, Point };

  explicit StructureModel(QObject* parent = nullptr);
  ~StructureModel() override;

  void setSnapshot(std::shared_ptr<const ModelSnapshot> snapshot);
  const std::shared_ptr<const ModelSnapshot>& snapshot() const { return m_snapshot; }

  RowKind rowKind(const QModelIndex& index) const;
  // The layer a row belongs to (a layer, its points, their tensors); -1 for global tensors.
  int layerOf(const QModelIndex& index) const;
  // The quant point of a point row, or of the point a tensor row sits under.
  std::optional<QuantPoint> pointOf(const QModelIndex& index) const;
  QModelIndex indexOfLayer(int layer) const;
  QModelIndex indexOfPoint(const QuantPoint& point) const;

  QModelIndex index(int row, int column, const QModelIndex& parent = {}) const override;
  QModelIndex parent(const QModelIndex& child) const override;
  int rowCount(const QModelIndex& parent = {}) const override;
  int columnCount(const QModelIndex& parent = {}) const override;
  QVariant data(const QModelIndex& index, int role = Qt::DisplayRole) const override;
  QVariant headerData(int section, Qt::Orientation orientation, int role = Qt::DisplayRole) const override;

 private:
  struct Node {
    RowKind kind = RowKind::Tensor;
    int parent = -1;        // node index, -1 for top level
    int row = 0;            // row within the parent
    std::vector<int> children;
    int layer = -1;
    const LayerInfo* layerInfo = nullptr;
    const PointInfo* point = nullptr;
    const TensorInfo* tensor = nullptr;
  };
  int addNode(Node node);
  void build();
  const Node* node(const QModelIndex& index) const;
  QVariant displayData(const Node& n, int column) const;
  QVariant toolTip(const Node& n) const;

  std::shared_ptr<const ModelSnapshot> m_snapshot;
  std::vector<Node> m_nodes;
  std::vector<int> m_top;
  std::vector<int> m_layerNodes;  // node index of each layer
};

}  // namespace ms::app
