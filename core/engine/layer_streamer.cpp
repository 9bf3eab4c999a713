#include "core/engine/layer_streamer.h"

#include <cstring>
#include <string>

#include <ATen/ATen.h>

#include "core/engine/gpu_memory_plan.h"
#include "core/util/error.h"
#include "kernels/cuda_stream.h"

namespace ms {
namespace k = ms::kernels;

namespace {

// Every tensor a layer may hold, in block order. conv and conv_bias are stored in fp32 (the
// conv kernel's operands; fused_calibration.cpp makes the same fp32 copies when resident).
struct Member {
  at::Tensor LayerWeights::*member;
  bool fp32;
};
constexpr Member kMembers[] = {
    {&LayerWeights::norm, false},      {&LayerWeights::in_proj, false},
    {&LayerWeights::in_proj_bias, false}, {&LayerWeights::conv, true},
    {&LayerWeights::conv_bias, true},  {&LayerWeights::out_proj, false},
    {&LayerWeights::out_proj_bias, false}, {&LayerWeights::A, false},
    {&LayerWeights::D, false},         {&LayerWeights::dt_bias, false},
    {&LayerWeights::gated_norm, false}, {&LayerWeights::x_proj, false},
    {&LayerWeights::dt_proj, false},   {&LayerWeights::dt_proj_bias, false},
};

}  // namespace

PinnedLayers::PinnedLayers(const MambaModel& model) {
  if (!model.options().device.is_cpu())
    throw UsageError("layer streaming: the model's weights must be on the host");
  const int64_t L = model.config().n_layer;
  const LayerWeights& first = model.layer(0);
  for (const Member& m : kMembers) {
    const at::Tensor& t = first.*m.member;
    if (!t.defined()) continue;
    Field f;
    f.member = m.member;
    f.dtype = m.fp32 ? at::kFloat : t.scalar_type();
    f.sizes.assign(t.sizes().begin(), t.sizes().end());
    f.bytes = t.numel() * static_cast<int64_t>(c10::elementSize(f.dtype));
    f.offset = block_bytes_;
    block_bytes_ += (f.bytes + kStreamAlign - 1) / kStreamAlign * kStreamAlign;
    fields_.push_back(std::move(f));
  }
  pinned_ = true;
  for (int64_t i = 0; i < L; ++i) {
    at::Tensor block;
    if (void* p = pinned_ ? k::pinned_alloc(static_cast<size_t>(block_bytes_)) : nullptr)
      block = at::from_blob(p, {block_bytes_}, [](void* q) { k::pinned_free(q); }, at::kByte);
    else {
      pinned_ = false;
      block = at::empty({block_bytes_}, at::kByte);
    }
    uint8_t* base = block.data_ptr<uint8_t>();
    std::memset(base, 0, static_cast<size_t>(block_bytes_));
    const LayerWeights& w = model.layer(i);
    for (const Field& f : fields_) {
      const at::Tensor& t = w.*f.member;
      if (!t.defined() || t.sizes().vec() != f.sizes)
        throw UsageError("layer streaming: layer " + std::to_string(i) +
                         " is shaped unlike layer 0");
      at::Tensor src = t.to(f.dtype).contiguous();  // the same tensor unless conv in bf16
      std::memcpy(base + f.offset, src.data_ptr(), static_cast<size_t>(f.bytes));
    }
    blocks_.push_back(std::move(block));
  }
}

void PinnedLayers::view(const at::Tensor& block, LayerWeights& w, LayerOperands& ops) const {
  w = LayerWeights{};
  for (const Field& f : fields_)
    w.*f.member = block.narrow(0, f.offset, f.bytes).view(f.dtype).view(f.sizes);
  ops.weights = &w;
  ops.conv_w = w.conv;
  ops.conv_b = w.conv_bias;
}

LayerStreamer::LayerStreamer(std::shared_ptr<const PinnedLayers> host, c10::Device device)
    : host_(std::move(host)), schedule_(host_->layers()) {
  side_ = k::stream_create_nonblocking();
  for (int s = 0; s < 2; ++s) {
    copied_[size_t(s)] = k::event_create();
    free_[size_t(s)] = k::event_create();
    blocks_[size_t(s)] = at::empty({host_->block_bytes()}, at::TensorOptions().dtype(at::kByte).device(device));
    host_->view(blocks_[size_t(s)], weights_[size_t(s)], ops_[size_t(s)]);
  }
}

LayerStreamer::~LayerStreamer() {
  try {
    k::stream_synchronize(side_);  // a prefetch may still be writing into a block
  } catch (...) {
  }
  for (int s = 0; s < 2; ++s) {
    k::event_destroy(copied_[size_t(s)]);
    k::event_destroy(free_[size_t(s)]);
  }
  k::stream_destroy(side_);
}

StreamSchedule::Step StreamSchedule::acquire(int64_t layer) {
  if (acquired_) throw UsageError("layer streaming: layer acquired before the last one was released");
  Step st;
  const int other = 1 - running_;
  st.slot = holds_[size_t(other)] == layer ? other : holds_[size_t(running_)] == layer ? running_ : -1;
  if (st.slot < 0) {  // nothing prefetched it (the first layer of a run)
    st.slot = other;
    st.copy_first = true;
    holds_[size_t(st.slot)] = layer;
  }
  running_ = st.slot;
  acquired_ = true;
  const int64_t next = (layer + 1) % layers_;
  if (holds_[size_t(1 - st.slot)] != next) {
    st.prefetch = next;
    st.prefetch_slot = 1 - st.slot;
    holds_[size_t(st.prefetch_slot)] = next;
  }
  return st;
}

int StreamSchedule::release(int64_t layer) {
  if (!acquired_ || holds_[size_t(running_)] != layer)
    throw UsageError("layer streaming: release of layer " + std::to_string(layer) + " out of order");
  acquired_ = false;
  return running_;
}

void LayerStreamer::issue(int64_t layer, int slot) {
  const size_t s = static_cast<size_t>(slot);
  k::stream_wait_event(side_, free_[s]);  // the block's previous layer has finished running
  k::copy_to_device_async(blocks_[s].data_ptr(), host_->block(layer).data_ptr(),
                          static_cast<size_t>(host_->block_bytes()), side_);
  k::event_record(copied_[s], side_);
  bytes_copied_ += host_->block_bytes();
}

const LayerOperands& LayerStreamer::acquire(int64_t layer) {
  const StreamSchedule::Step st = schedule_.acquire(layer);
  if (st.copy_first) issue(layer, st.slot);
  k::stream_wait_event(nullptr, copied_[size_t(st.slot)]);  // the default stream runs the layer after its copy
  if (st.prefetch >= 0) issue(st.prefetch, st.prefetch_slot);  // overlaps this layer's kernels
  return ops_[size_t(st.slot)];
}

void LayerStreamer::release(int64_t layer) {
  // Recorded behind the layer's kernels on the default stream: the next copy into this block
  // waits for it.
  k::event_record(free_[size_t(schedule_.release(layer))], nullptr);
}

}  // namespace ms
