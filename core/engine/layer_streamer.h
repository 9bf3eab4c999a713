// Layer streaming for the fused calibration (`calibrate --max-gpu-mem`): the model stays on the
// host and each layer's weights reach the GPU just before that layer runs.
//
//   PinnedLayers   every layer packed once into one page-locked block (its tensors at fixed
//                  256-byte offsets, the same layout for every layer; the conv weight and bias
//                  already fp32, as the kernel takes them). Shared by the devices of a run.
//   LayerStreamer  per GPU: two device blocks (the layer running and the next one arriving) and a
//                  non-blocking side stream. acquire(i) makes the default stream wait for layer
//                  i's copy, then starts copying layer i+1 (cyclically: after the last layer,
//                  layer 0 of the next batch) into the other block on the side stream, so the
//                  copy overlaps layer i's kernels; release(i) marks the block free once layer
//                  i's kernels (queued on the default stream) are done with it.
//
// The tensors handed out are views of a device block with the model's shapes, strides and dtypes,
// so the fused layer functions run unchanged on them: same kernels, same cuBLAS calls, same
// arithmetic as the resident path (fused_calibration.cpp).
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <vector>

#include <ATen/core/Tensor.h>
#include <c10/core/Device.h>

#include "core/engine/mamba_model.h"

namespace ms {

// What the fused layer functions read for one layer: the weights, and the conv weight/bias as
// the kernel's fp32 operands (bias undefined when the model has none).
struct LayerOperands {
  const LayerWeights* weights = nullptr;
  at::Tensor conv_w, conv_b;  // [C, K], [C] fp32 contiguous
};

class PinnedLayers {
 public:
  // model: on the CPU. Pins one block per layer (falls back to pageable memory, slower copies,
  // when the host cannot pin; pinned() says which).
  explicit PinnedLayers(const MambaModel& model);
  PinnedLayers(const PinnedLayers&) = delete;
  PinnedLayers& operator=(const PinnedLayers&) = delete;

  int64_t layers() const { return static_cast<int64_t>(blocks_.size()); }
  int64_t block_bytes() const { return block_bytes_; }  // = streamed_layer_bytes(config, dtype)
  bool pinned() const { return pinned_; }
  const at::Tensor& block(int64_t i) const { return blocks_.at(static_cast<size_t>(i)); }  // uint8
  // Views of a block (host or device) laid out as every layer is: the weights and operands.
  void view(const at::Tensor& block, LayerWeights& w, LayerOperands& ops) const;

 private:
  struct Field {
    at::Tensor LayerWeights::*member;
    int64_t offset = 0, bytes = 0;
    std::vector<int64_t> sizes;
    at::ScalarType dtype;
  };
  std::vector<Field> fields_;
  std::vector<at::Tensor> blocks_;
  int64_t block_bytes_ = 0;
  bool pinned_ = false;
};

// Which of the two device blocks holds which layer, and when to copy: pure bookkeeping, so its
// one rule (never copy into the block of an acquired, unreleased layer) is tested on the CPU.
class StreamSchedule {
 public:
  explicit StreamSchedule(int64_t layers) : layers_(layers) {}
  struct Step {
    int slot = -1;             // the block layer `layer` runs from
    bool copy_first = false;   // nothing prefetched it: copy it into `slot` first
    int64_t prefetch = -1;     // then copy this layer (the next, cyclically) ...
    int prefetch_slot = -1;    // ... into the other block; -1: it is there already
  };
  Step acquire(int64_t layer);
  int release(int64_t layer);  // the block now free; throws when `layer` is not the one running

 private:
  int64_t layers_;
  std::array<int64_t, 2> holds_{-1, -1};  // the layer each block holds or is receiving
  int running_ = 1;                        // the block of the layer acquired last
  bool acquired_ = false;
};

class LayerStreamer {
 public:
  // Runs on (and creates its stream and events on) the current CUDA device = `device`.
  LayerStreamer(std::shared_ptr<const PinnedLayers> host, c10::Device device);
  ~LayerStreamer();  // waits for a copy still in flight before freeing its block
  LayerStreamer(const LayerStreamer&) = delete;
  LayerStreamer& operator=(const LayerStreamer&) = delete;

  const LayerOperands& acquire(int64_t layer);
  void release(int64_t layer);
  int64_t bytes_copied() const { return bytes_copied_; }

 private:
  void issue(int64_t layer, int slot);

  std::shared_ptr<const PinnedLayers> host_;
  void* side_ = nullptr;                  // cudaStream_t
  std::array<void*, 2> copied_{}, free_{};  // cudaEvent_t per slot
  std::array<at::Tensor, 2> blocks_;
  std::array<LayerWeights, 2> weights_;
  std::array<LayerOperands, 2> ops_;
  StreamSchedule schedule_;
  int64_t bytes_copied_ = 0;
};

}  // namespace ms
