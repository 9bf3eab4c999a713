// Byte counts mirror what the code allocates: MambaModel::load_from (mamba_model.cpp) for the
// resident weights, PinnedLayers (layer_streamer.cpp) for a streamed layer, FusedCalibrator's
// point()/states_ for the accumulators, and the tensors alive inside mamba1_layer/mamba2_layer
// for the activations. tests/engine/tst_gpu_scale.cpp checks the first three against the real
// allocations on the CPU.
#include "core/engine/gpu_memory_plan.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>

#include "core/engine/calib_stats.h"
#include "core/util/error.h"

namespace ms {

int64_t parse_byte_size(std::string_view text, std::string_view flag) {
  const std::string t(text);
  auto bad = [&](const std::string& why) -> UsageError {
    return UsageError(std::string(flag) + ": '" + t + "' " + why +
                      " (a size such as 8G, 512M, 1.5G or a number of bytes)");
  };
  size_t i = 0;
  while (i < t.size() && (std::isdigit(static_cast<unsigned char>(t[i])) || t[i] == '.')) ++i;
  if (i == 0) throw bad("is not a size");
  const std::string number = t.substr(0, i);
  if (std::count(number.begin(), number.end(), '.') > 1) throw bad("is not a size");
  std::string unit = t.substr(i);
  for (char& ch : unit) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
  if (unit.size() > 1 && (unit.ends_with("IB"))) unit.resize(unit.size() - 2);
  else if (unit.size() > 1 && unit.back() == 'B') unit.pop_back();
  double scale = 1;
  if (unit.empty() || unit == "B") scale = 1;
  else if (unit == "K") scale = 1024.0;
  else if (unit == "M") scale = 1024.0 * 1024;
  else if (unit == "G") scale = 1024.0 * 1024 * 1024;
  else if (unit == "T") scale = 1024.0 * 1024 * 1024 * 1024;
  else throw bad("has an unknown unit");
  const double value = std::stod(number) * scale;
  if (!(value >= 1)) throw bad("is less than one byte");
  if (value > 9.0e18) throw bad("is too large");
  return static_cast<int64_t>(std::llround(value));
}

std::string format_bytes(int64_t bytes) {
  char buf[32];
  const double b = static_cast<double>(bytes);
  if (b >= 1024.0 * 1024 * 1024) std::snprintf(buf, sizeof buf, "%.2f GiB", b / (1024.0 * 1024 * 1024));
  else if (b >= 1024.0 * 1024) std::snprintf(buf, sizeof buf, "%.1f MiB", b / (1024.0 * 1024));
  else if (b >= 1024.0) std::snprintf(buf, sizeof buf, "%.1f KiB", b / 1024.0);
  else std::snprintf(buf, sizeof buf, "%lld B", static_cast<long long>(bytes));
  return buf;
}

int64_t allocation_bytes(int64_t bytes) { return (bytes + 511) / 512 * 512; }

namespace {

int64_t aligned(int64_t bytes) { return (bytes + kStreamAlign - 1) / kStreamAlign * kStreamAlign; }

// Visits every tensor of one layer as LayerWeights holds it: (elements, bytes per element).
// `conv_fp32`: the conv weight and bias counted as the fused kernel's fp32 operands.
template <typename Fn>
void for_each_layer_tensor(const ModelConfig& c, int64_t s, bool conv_fp32, Fn&& fn) {
  const int64_t d = c.d_model, E = c.d_inner, N = c.d_state, K = c.d_conv;
  const int64_t cs = conv_fp32 ? 4 : s;
  fn(d, s);                                         // norm
  fn(c.in_proj_rows * d, s);                        // in_proj
  if (c.proj_bias) fn(c.in_proj_rows, s);           // in_proj_bias
  fn(c.conv_dim * K, cs);                           // conv [C, K]
  if (c.conv_bias) fn(c.conv_dim, cs);              // conv_bias
  fn(d * E, s);                                     // out_proj
  if (c.proj_bias) fn(d, s);                        // out_proj_bias
  if (c.is_mamba2()) {
    const int64_t H = c.n_heads;
    fn(H, 4);                                       // A
    fn(H, 4);                                       // D
    fn(H, 4);                                       // dt_bias
    fn(E, s);                                       // gated_norm
  } else {
    const int64_t R = c.dt_rank;
    fn(E * N, 4);                                   // A
    fn(E, 4);                                       // D
    fn(c.x_proj_rows() * E, s);                     // x_proj
    fn(E * R, s);                                   // dt_proj
    fn(E, 4);                                       // dt_proj_bias
  }
}

}  // namespace

int64_t resident_weight_bytes(const ModelConfig& c, int64_t s) {
  int64_t total = allocation_bytes(c.padded_vocab * c.d_model * s)  // embedding
                  + allocation_bytes(c.d_model * s);                // norm_f
  if (!c.tie_embeddings) total += allocation_bytes(c.padded_vocab * c.d_model * s);
  int64_t layer = 0;
  for_each_layer_tensor(c, s, false, [&](int64_t n, int64_t b) { layer += allocation_bytes(n * b); });
  if (s != 4) {  // FusedCalibrator's fp32 conv copies (in fp32 the .to() returns the same tensor)
    layer += allocation_bytes(c.conv_dim * c.d_conv * 4);
    if (c.conv_bias) layer += allocation_bytes(c.conv_dim * 4);
  }
  return total + c.n_layer * layer;
}

int64_t streamed_layer_bytes(const ModelConfig& c, int64_t s) {
  int64_t bytes = 0;
  for_each_layer_tensor(c, s, true, [&](int64_t n, int64_t b) { bytes += aligned(n * b); });
  return bytes;
}

int64_t accumulator_bytes(const ModelConfig& c, bool covariance) {
  auto point = [&](int64_t C) {
    int64_t b = 3 * allocation_bytes(C * 4) + 2 * allocation_bytes(C * 8) + allocation_bytes(kHistBins * 8);
    if (covariance) b += allocation_bytes(C * C * 8);
    return b;
  };
  auto state = [&](int64_t n) { return allocation_bytes(n * 4) + allocation_bytes(n * 8); };
  const int64_t d = c.d_model, E = c.d_inner, N = c.d_state;
  int64_t layer = 0;
  if (c.is_mamba2()) layer = point(d) + point(E) + state(c.n_heads * c.head_dim * N);
  else layer = point(d) + point(E) + point(c.dt_rank) + point(E) + state(E * N);
  return c.n_layer * layer;
}

int64_t activation_bytes(const ModelConfig& c, int64_t s, int64_t rows, bool covariance) {
  const int64_t d = c.d_model, E = c.d_inner, N = c.d_state;
  const int64_t rf = c.residual_in_fp32 ? 4 : s;
  // r, h, the previous block's output and this block's output, plus the ids.
  int64_t per_row = rf * d + 3 * s * d + 8;
  if (c.is_mamba2()) {
    // zxbcdt and xbc in the compute dtype; y, silu(z), g, g², the normed g and its fp32 result
    // (six fp32 [rows, E]) and its cast for out_proj.
    per_row += s * (c.in_proj_rows + c.conv_dim) + 6 * 4 * E + s * E;
  } else {
    // xz [2E], x, dt_raw, y [E each], x_proj's output [R + 2N].
    per_row += s * (5 * E + c.x_proj_rows());
    if (c.arch == Arch::FalconMamba) per_row += (s + 12) * c.x_proj_rows();  // the weightless norms
  }
  int64_t fixed = 0;
  if (covariance) {
    const int64_t C = std::max(d, E);
    per_row += 4 * C;       // the fp32 copy multiplied
    fixed += C * C * 12;    // its fp32 product and the fp64 cast
  }
  (void)N;
  return rows * per_row + fixed;
}

GpuMemoryPlan plan_gpu_memory(const ModelConfig& c, int64_t s, int64_t batch, int64_t seq_len,
                              bool covariance, int64_t bound) {
  GpuMemoryPlan p;
  p.bound = bound;
  p.weights = resident_weight_bytes(c, s);
  p.layer = streamed_layer_bytes(c, s);
  p.accumulators = accumulator_bytes(c, covariance);
  p.activations = activation_bytes(c, s, batch * seq_len, covariance);
  const int64_t rest = p.accumulators + p.activations + kGpuReserveBytes;
  p.resident_need = p.weights + rest;
  p.stream_need = 2 * p.layer + rest;
  const std::string of_batch = " for a batch of " + std::to_string(batch) + " x " +
                               std::to_string(seq_len) + " tokens";
  if (p.resident_need <= bound) {
    p.placement = GpuPlacement::Resident;
    p.message = "the model fits under --max-gpu-mem " + format_bytes(bound) + " (" +
                format_bytes(p.resident_need) + " with its activations" + of_batch + "): resident";
  } else if (p.stream_need <= bound) {
    p.placement = GpuPlacement::Stream;
    p.message = "layer streaming on: model " + format_bytes(p.weights) + " + " +
                format_bytes(rest) + of_batch + " > --max-gpu-mem " + format_bytes(bound) +
                "; weights stay in pinned host memory, 2 layers of " + format_bytes(p.layer) +
                " on the GPU (" + format_bytes(p.stream_need) + " in all)";
  } else {
    p.placement = GpuPlacement::Refuse;
    p.message = "--max-gpu-mem " + format_bytes(bound) + " is too small even with layer streaming: " +
                "2 layers " + format_bytes(2 * p.layer) + " + activations " +
                format_bytes(p.activations) + of_batch + " + statistics " +
                format_bytes(p.accumulators) + " + reserve " + format_bytes(kGpuReserveBytes) +
                " = " + format_bytes(p.stream_need) + "; use a smaller --batch or --seq-len" +
                (covariance ? " (or drop --cov)" : "");
  }
  return p;
}

}  // namespace ms
