// `calibrate --max-gpu-mem`: what the fused calibration keeps on one GPU, and whether a model runs
// resident (every weight on the GPU), streams its layers (weights in pinned host memory, two
// layers' worth of device buffers: the one running and the next one arriving), or cannot run at
// all under the bound. Pure functions of the config, so tests pin them to exact numbers
// (tests/engine/tst_gpu_scale.cpp) and `info` could quote them. Torch-free.
//
// "On the GPU" counts what our code allocates: weights, the statistics accumulators, the
// activations of one batch (the fused forward's largest set of live tensors, from
// fused_calibration.cpp), plus a fixed reserve for cuBLAS's workspace and the caching
// allocator's rounding. Not the CUDA context (~0.5 GB, the driver's), which no flag can bound.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "core/model/config.h"

namespace ms {

// "8G", "512M", "1.5G", "64K", "123456" (bytes); K/M/G/T are powers of 1024, an optional
// trailing "B"/"iB" is accepted. Throws UsageError naming `flag` for anything else or for 0.
int64_t parse_byte_size(std::string_view text, std::string_view flag = "--max-gpu-mem");
// "11.09 GiB" / "512.0 MiB": the unit that keeps 1-4 digits before the point.
std::string format_bytes(int64_t bytes);

constexpr int64_t kGpuReserveBytes = int64_t{256} << 20;  // cuBLAS workspace + allocator rounding
// Offset alignment of each tensor in a streamed layer block: LibTorch tells cuBLASLt each
// operand's alignment up to 256 bytes, so views at 256-byte offsets get the kernels (and the
// roundings) the resident tensors, allocated at 512, get.
constexpr int64_t kStreamAlign = 256;

// Bytes of one tensor as the caching allocator hands them out (rounded up to 512).
int64_t allocation_bytes(int64_t bytes);

// What MambaModel::load puts on the device (embedding, norm_f, an untied lm_head, every layer)
// plus the fp32 conv copies the fused calibrator makes when the compute dtype is bf16.
// dtype_bytes: 4 (fp32) or 2 (bf16).
int64_t resident_weight_bytes(const ModelConfig& c, int64_t dtype_bytes);
// One layer's block as it streams (layer_streamer.h): its tensors at kStreamAlign offsets, the
// conv weight and bias already in fp32 (the kernel's operands).
int64_t streamed_layer_bytes(const ModelConfig& c, int64_t dtype_bytes);
// The statistics accumulators of every point (fused_calibration.h PointAcc/StateAcc).
int64_t accumulator_bytes(const ModelConfig& c, bool covariance);
// The fused forward's live activations for one batch of `rows` = batch·seq_len tokens.
int64_t activation_bytes(const ModelConfig& c, int64_t dtype_bytes, int64_t rows, bool covariance);

enum class GpuPlacement { Resident, Stream, Refuse };

struct GpuMemoryPlan {
  GpuPlacement placement = GpuPlacement::Resident;
  int64_t bound = 0;          // the --max-gpu-mem bytes
  int64_t resident_need = 0;  // weights + accumulators + activations + reserve
  int64_t stream_need = 0;    // 2 layers + accumulators + activations + reserve
  int64_t weights = 0, layer = 0, accumulators = 0, activations = 0;
  std::string message;        // one line: why streaming, or why it cannot run
};

// Resident when everything fits the bound, else streaming when two layers and the rest fit,
// else Refuse with a message suggesting a smaller --batch or --seq-len.
GpuMemoryPlan plan_gpu_memory(const ModelConfig& c, int64_t dtype_bytes, int64_t batch,
                              int64_t seq_len, bool covariance, int64_t bound);

}  // namespace ms
