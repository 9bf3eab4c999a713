// GGUF export for llama.cpp (`quantize --format gguf --gguf-type f16|q8_0|q4_0`), METHODS.md
// section 6, and ggml's Q8_0 / Q4_0 rounding as a fake quantizer, so that our figures and
// llama.cpp's are about the same weights.
//
// Mapping (canonical key -> llama.cpp name, torch shape -> ggml ne, which is reversed):
//   embedding.weight [V, d]        token_embd.weight         F16 (every --gguf-type: see below)
//   norm_f.weight [d]              output_norm.weight        F32
//   lm_head.weight [V, d]          output.weight             F16, only when untied
//   layers.i.norm.weight           blk.i.attn_norm.weight    F32
//   layers.i.in_proj.weight        blk.i.ssm_in.weight       T
//   layers.i.conv1d.weight [C,1,K] blk.i.ssm_conv1d.weight   F32, squeezed to [C, K]
//   layers.i.conv1d.bias           blk.i.ssm_conv1d.bias     F32
//   layers.i.x_proj.weight         blk.i.ssm_x.weight        T  (Mamba-1)
//   layers.i.dt_proj.{weight,bias} blk.i.ssm_dt.{weight,bias} T, F32 (Mamba-1)
//   layers.i.dt_bias [H]           blk.i.ssm_dt.bias         F32 (Mamba-2)
//   layers.i.A_log                 blk.i.ssm_a = -exp(A_log) F32 [E, N] | Mamba-2 [H, 1]
//   layers.i.D                     blk.i.ssm_d               F32 [E] | Mamba-2 [H, 1]
//   layers.i.gated_norm.weight [E] blk.i.ssm_norm.weight     F32 [G, E/G] (Mamba-2)
//   layers.i.out_proj.weight       blk.i.ssm_out.weight      T
// T is the --gguf-type for the Linears being quantized (--modules; default all four), F16 for the
// others and for any Linear whose row (input width) is not a multiple of 32 (130m's dt_proj has
// R = 48), as llama.cpp's converter falls back. The embedding stays F16 so the quantized weights
// are exactly those of our other exports (embedding and lm_head are kept in float there).
// Metadata: general.{architecture, name, file_type, quantization_version}, {arch}.{context_length,
// embedding_length, feed_forward_length, attention.head_count, block_count,
// attention.layer_norm_rms_epsilon, ssm.conv_kernel, ssm.inner_size, ssm.state_size,
// ssm.time_step_rank (R | H), ssm.group_count (Mamba-2), ssm.dt_b_c_rms (Mamba-1)}; tokenizer.ggml
// {model "gpt2", pre "gpt-2", tokens (padded with [PADi] to V), token_type, merges,
// bos/eos/padding ids, add_bos_token false}.
//
// Not here: file layout (core/io/gguf.h), the CLI (core/cli/cmd_quantize.cpp).
#pragma once

#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include <ATen/core/Tensor.h>

#include "core/io/gguf.h"
#include "core/model/checkpoint.h"
#include "core/quant/weight_quant.h"

namespace ms {

// "f16", "q8_0", "q4_0" -> type; throws UsageError naming the flag's value otherwise.
GgmlType parse_gguf_type(const std::string& text);
const char* gguf_type_flag(GgmlType type);  // the inverse

// Each row (last dimension) quantized to `type` and dequantized, exactly as llama.cpp stores and
// reads it: fp32 result, same shape, on the CPU. Q8_0/Q4_0 need rows that are a multiple of 32
// (InputError naming `name` otherwise); F16 rounds to half; F32 copies.
at::Tensor ggml_fake_quant(const at::Tensor& w, GgmlType type, const std::string& name = "weight");

// The type a weight gets in the export (see the table above).
GgmlType gguf_weight_type(GgmlType requested, bool quantized_module, int64_t row_length);

// The whole checkpoint with the chosen Linears through ggml_fake_quant, as rtn_quantize_checkpoint
// does for RTN (same ordering, errors, dtype and cancel rules): what `--format hf --gguf-type T`
// writes and our perplexity then measures, to set beside llama.cpp's on the GGUF.
QuantizedCheckpoint ggml_quantize_checkpoint(const Checkpoint& checkpoint, GgmlType type,
                                             const std::vector<Module>& modules,
                                             std::optional<at::ScalarType> dtype,
                                             const std::function<bool(int64_t, int64_t)>& progress = {});

struct GgufExportResult {
  std::vector<WeightError> errors;  // per quantized weight: source vs what llama.cpp will read
  struct Stored {
    std::string gguf, source, type;  // `blk.0.ssm_in.weight`, `layers.0.in_proj.weight`, "Q4_0"
  };
  std::vector<Stored> tensor_types;  // every tensor, in file order
  uint64_t bytes = 0;
};

// Writes `file` (atomically). `tokenizer_json` supplies tokenizer.ggml.*; without one the file has
// no tokenizer (llama.cpp then refuses to run it, so the CLI requires one). Throws InputError for
// what GGUF/llama.cpp cannot hold (projection biases, a missing tensor) and Cancelled from progress.
GgufExportResult export_gguf(const Checkpoint& checkpoint, const std::filesystem::path& file,
                             GgmlType type, const std::vector<Module>& modules,
                             const std::optional<std::filesystem::path>& tokenizer_json,
                             const std::function<bool(int64_t, int64_t)>& progress = {});

// Bytes export_gguf will write, for the free-space check.
uint64_t gguf_export_size(const Checkpoint& checkpoint, GgmlType type, const std::vector<Module>& modules,
                          const std::optional<std::filesystem::path>& tokenizer_json);

}  // namespace ms
