// ModelSnapshot: the immutable, drawable description of an opened model's structure, built once in
// a background job from an ms::Checkpoint and shared (std::shared_ptr<const ModelSnapshot>) by the
// Qt tree model, the summary panel and the ImGui structure view.
//
// It holds names, shapes, dtypes and sizes only: no tensor data, no mapping, no Qt, no ImGui, so it
// is cheap to copy around and safe to read from any thread. Everything a view shows is decided
// here (which tensor belongs to which quant point, the activation shape of each point, the op
// between two points); views only lay it out. This file is plain C++ on top of mambascope_io and
// could move to core/model/ unchanged.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/io/tensor_view.h"
#include "core/model/config.h"
#include "core/model/quant_point.h"

namespace ms {

struct Checkpoint;

// One stored tensor, as the structure views list it.
struct TensorInfo {
  std::string key;            // canonical key, e.g. "layers.3.in_proj.weight"
  std::string local_name;     // the key without "layers.{i}.", e.g. "in_proj.weight"
  DType dtype = DType::F32;
  std::vector<int64_t> shape;
  std::size_t nbytes = 0;

  std::string shape_text() const;  // "[256, 64]"
};

// What kind of value a quant point observes; it decides the colour of its box. Module is a step of
// the block that stores weights but has no quant point (conv1d: ms::quant_points() leaves the
// depthwise conv in full precision); it is drawn so the data flow reads completely.
enum class PointKind { Activation, Weight, State, Module };

struct PointInfo {
  QuantPoint point;           // for a Module step: the typed id of its weight (layers.i.conv1d.weight)
  PointKind kind = PointKind::Activation;
  std::string canonical;      // "layers.3.in_proj.input"
  std::string label;          // layer-local name, e.g. "in_proj.input", "in_proj" for weights
  // Shape of the observed value. Activations are per token: kTokens stands for T.
  std::vector<int64_t> shape;
  std::string shape_text;     // "[T, 64]", "[256, 64]", "[128, 16]"
  // The op applied to this point's output before the next point sees it ("SiLU",
  // "softplus → Δ"); empty when the value flows on unchanged (an input feeding its Linear).
  std::string op_after;
  std::vector<TensorInfo> tensors;   // stored tensors that belong to this point
  std::optional<WeightKeys> keys;    // HF / state-spaces / GGUF names of a weight point
};

inline constexpr int64_t kTokens = -1;  // "T" in an activation shape

struct LayerInfo {
  int index = 0;
  std::vector<PointInfo> points;     // forward order: ms::quant_points() plus Module steps
  std::size_t quant_point_count() const;  // points that are quant points (not Module steps)
  std::vector<TensorInfo> unassigned;  // layer tensors no quant point claims (never hidden)
  std::size_t nbytes = 0;
};

struct ModelSnapshot {
  std::string path;                  // what the user opened
  std::string dir;                   // the model directory
  ModelConfig config;
  std::vector<TensorInfo> before_layers;   // embedding.*
  std::vector<LayerInfo> layers;
  std::vector<TensorInfo> after_layers;    // norm_f.*, lm_head.*, anything else global
  int64_t parameter_count = 0;       // counted from the stored tensors
  std::size_t weight_bytes = 0;
  std::vector<DType> dtypes;         // distinct stored dtypes, most bytes first
  std::vector<std::string> weight_files;  // file names, relative to dir
  std::optional<std::string> tokenizer_file;

  const LayerInfo* layer(int index) const;  // nullptr when out of range
};

// Builds the snapshot of an opened checkpoint. Never throws for a model that opened.
std::shared_ptr<const ModelSnapshot> make_model_snapshot(const Checkpoint& checkpoint,
                                                         const std::string& opened_path);

// "[T, 64]": shape text with kTokens written as T.
std::string shape_text(const std::vector<int64_t>& shape);

}  // namespace ms
