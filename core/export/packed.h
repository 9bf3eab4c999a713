// The packed safetensors export (`quantize --format packed`, METHODS.md section 6): integer codes,
// scales and zeros of every quantized Linear, everything else as it was. The byte layout (the
// README's "Export formats" repeats it for users):
//
//   X.qweight  bits 5..8: [out, in], I8 (symmetric codes in [-2^(b-1), 2^(b-1)-1]) or U8
//              (asymmetric codes in [0, 2^b-1]), one code a byte, row-major.
//              bits 2..4: U8 [out, ceil(in/2)], two codes a byte, input column 2k in the low
//              nibble and 2k+1 in the high nibble; an odd row's last high nibble is 0. Symmetric
//              codes are stored as 4-bit two's complement (q & 0xF; -8..7), asymmetric as is.
//   X.scales   F32 [out, groups]: per channel groups = 1; per tensor one value repeated over rows;
//              group:G groups = in / G, input column j in group j / G.
//   X.zeros    I32 [out, groups], asymmetric only (may lie outside [0, 2^b-1]: the range is
//              [min, max], see core/quant/rtn.h).
//   X.g_idx    I32 [in], only with act-order: the group of input column j (replaces j / G).
//   value      symmetric q·s, asymmetric (q - z)·s, in fp32, s and z of the column's group.
//
// Names are the HF ones with `.weight` replaced (`backbone.layers.0.mixer.in_proj.qweight`).
// config.json is the source's, untouched; mambascope.json beside it says which tensors are packed
// and how ("packing": {"bits", "symmetric", "group_size", "act_order", "modules"}).
//
// Not here: choosing codes (the quantizers), fake-quant forwards (the engine).
#pragma once

#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <ATen/core/Tensor.h>

#include "core/model/checkpoint.h"
#include "core/quant/weight_quant.h"

namespace ms {

struct PackedLinear {
  int bits = 8;
  bool symmetric = true;
  at::Tensor codes;   // [out, in] int8 (symmetric) or uint8 (asymmetric), unpacked
  at::Tensor scales;  // [out, groups] fp32
  at::Tensor zeros;   // [out, groups], integer-valued (any dtype); undefined when symmetric
  at::Tensor g_idx;   // [in] int32 group per input column; undefined: column j is in j / (in/groups)

  void validate(const std::string& name) const;  // shapes, dtypes, code ranges; InputError naming `name`
};

// The packed layout holds 2..8-bit codes; RTN also rounds to 9..15. Throws a one-line UsageError
// naming the limit and the alternative (--format hf) for any other width; quantize calls it
// before it starts, write_packed_checkpoint again.
void check_packed_bits(int bits);

// codes [out, in] -> qweight as laid out above (uint8 [out, ceil(in/2)] for bits <= 4).
at::Tensor pack_codes(const at::Tensor& codes, int bits, bool symmetric);
// qweight -> codes [out, in] (int8 or uint8). `in` recovers an odd width.
at::Tensor unpack_codes(const at::Tensor& qweight, int bits, bool symmetric, int64_t in);
// fp32 [out, in]: q·s or (q - z)·s with the column's group.
at::Tensor packed_dequantize(const PackedLinear& linear);

// The tensors of one quantized Linear, named from its HF weight key (`...in_proj.weight`):
// qweight, scales, zeros (asymmetric), g_idx (act-order), all CPU and contiguous.
std::vector<std::pair<std::string, at::Tensor>> packed_tensors(const std::string& hf_weight_key,
                                                               const PackedLinear& linear);

// Writes `dir`/model.safetensors (HF names): the chosen Linears of `checkpoint` RTN-quantized with
// `spec` and packed, every other tensor as rtn_quantize_checkpoint stores it (a tied lm_head left
// out; `dtype` converts float tensors). Returns the per-weight errors of the dequantized values
// (forward order). progress(done, total) returning false throws Cancelled. The caller writes
// config.json, the tokenizer and mambascope.json (with a "packing" section: packing_scheme()).
// `precomputed` (canonical key -> codes), when given, supplies every chosen Linear's codes instead
// of RTN (GPTQ's, with act-order's g_idx); a chosen Linear missing from it is an error.
std::vector<WeightError> write_packed_checkpoint(const Checkpoint& checkpoint, const RtnSpec& spec,
                                                 const std::vector<Module>& modules,
                                                 std::optional<at::ScalarType> dtype,
                                                 const std::filesystem::path& dir,
                                                 const std::function<bool(int64_t, int64_t)>& progress = {},
                                                 const std::map<std::string, PackedLinear>* precomputed = nullptr);

// Reads a packed export directory (model.safetensors + config.json + mambascope.json) and returns
// every tensor under its canonical key, quantized Linears dequantized to fp32 (what the fake-quant
// forward multiplies by). Throws InputError naming the file: not a packed export, a packed tensor
// missing or misshapen, codes out of range.
std::vector<std::pair<std::string, at::Tensor>> read_packed_dequantized(const std::filesystem::path& dir);

}  // namespace ms
