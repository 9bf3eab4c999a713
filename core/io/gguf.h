// GGUF (llama.cpp's model file, version 3) reading and writing, torch-free, and the two ggml block
// encodings MambaScope exports (Q8_0, Q4_0) with their fp16 scale.
//
// Layout (little-endian): "GGUF", u32 version, u64 tensor_count, u64 kv_count; kv_count entries
// {string key, u32 value type, value}; tensor_count infos {string name, u32 n_dims,
// u64 ne[n_dims] (ne[0] = the row length: ggml order, the reverse of torch's), u32 ggml type,
// u64 offset}; zero padding to `general.alignment` (default 32); the data section, each tensor at
// its offset (a multiple of the alignment). A string is u64 length + bytes (no terminator); an
// array is u32 element type + u64 count + elements.
//
// The reader treats the file as untrusted: every count and length is checked against the bytes
// left before anything is allocated, types and dims are range-checked, tensor data must lie inside
// the file, not overlap and sit on the alignment; duplicates are refused. Messages name the file.
//
// Not here: the Mamba name mapping and tokenizer metadata (core/export/gguf_export.h), any ggml
// type beyond F32, F16, Q4_0, Q8_0 (other types are read as opaque bytes, never decoded).
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace ms {

class MappedFile;

enum class GgufType : uint32_t {
  U8 = 0, I8 = 1, U16 = 2, I16 = 3, U32 = 4, I32 = 5, F32 = 6, Bool = 7, String = 8, Array = 9,
  U64 = 10, I64 = 11, F64 = 12,
};

// A metadata value. Scalars live in the member their type names (unsigned in `u`, signed in `i`,
// floats in `f`, Bool in `u` as 0/1); arrays keep their element type and elements.
struct GgufValue {
  GgufType type = GgufType::U32;
  uint64_t u = 0;
  int64_t i = 0;
  double f = 0;
  std::string s;
  GgufType elem_type = GgufType::U32;  // Array only
  std::vector<GgufValue> arr;          // Array only

  static GgufValue u32(uint32_t v);
  static GgufValue i32(int32_t v);
  static GgufValue f32(float v);
  static GgufValue boolean(bool v);
  static GgufValue str(std::string v);
  static GgufValue strings(const std::vector<std::string>& v);
  static GgufValue i32s(const std::vector<int32_t>& v);
  static GgufValue f32s(const std::vector<float>& v);
};

// ggml tensor types we know the block size of. Others are refused by the writer and read opaquely.
enum class GgmlType : uint32_t { F32 = 0, F16 = 1, Q4_0 = 2, Q8_0 = 8 };
const char* ggml_type_name(uint32_t type);       // "F32", "Q4_0", ... ("type 23" when unknown)
// Bytes of a row of `n` elements; 0 when n is not a multiple of the block (32 for Q4_0/Q8_0).
std::size_t ggml_row_size(GgmlType type, int64_t n);
constexpr int64_t kGgmlBlock = 32;  // elements per Q4_0 / Q8_0 block

// IEEE binary16 <-> binary32, round to nearest even (what ggml's FP32_TO_FP16 does with F16C and
// numpy's astype(float16) do); NaN stays NaN, overflow goes to infinity.
uint16_t fp32_to_fp16(float x);
float fp16_to_fp32(uint16_t h);

// ggml's reference quantizers (ggml-quants.c, quantize_row_*_ref), bit for bit:
//   Q8_0 block: fp16 d = amax/127, int8 q = roundf(x * (1/d)) (half away from zero); 34 bytes.
//   Q4_0 block: d = m / -8 where m is the first value of largest magnitude, fp16 d, then
//     q = min(15, (int)(x * (1/d) + 8.5)); byte j holds element j (low nibble) and element j+16
//     (high nibble); 18 bytes. Value (q - 8)·d.
// The scale used to round is the fp32 d; the stored (and dequantizing) one is fp16(d). n must be
// a multiple of 32; `out` holds ggml_row_size(type, n) bytes.
void ggml_quantize_row(GgmlType type, const float* x, std::byte* out, int64_t n);
void ggml_dequantize_row(GgmlType type, const std::byte* in, float* y, int64_t n);

struct GgufTensorInfo {
  std::string name;
  uint32_t type = 0;         // a ggml type id (GgmlType when known)
  std::vector<int64_t> ne;   // ggml order: ne[0] is the row length
  uint64_t offset = 0;       // from the start of the data section
  std::size_t nbytes = 0;
  const std::byte* data = nullptr;  // into the reader's mapping

  int64_t numel() const;
};

struct GgufFile {
  uint32_t version = 3;
  uint64_t alignment = 32;
  std::vector<std::pair<std::string, GgufValue>> kv;  // in file order
  std::vector<GgufTensorInfo> tensors;                // in file order
  std::shared_ptr<const MappedFile> mapping;          // keeps tensor data alive (read_gguf only)

  const GgufValue* find(const std::string& key) const;          // nullptr when absent
  const GgufTensorInfo* find_tensor(const std::string& name) const;
};

// Parses a whole GGUF image. `source` names it in errors. Tensor data pointers point into `data`,
// which must outlive the result. Throws InputError("<source>: <problem>").
GgufFile parse_gguf(const std::byte* data, std::size_t size, const std::string& source);
// Maps `path` and parses it; the result keeps the mapping.
GgufFile read_gguf(const std::filesystem::path& path);

// What the writer needs to know of a tensor before its bytes exist.
struct GgufTensorSpec {
  std::string name;
  GgmlType type = GgmlType::F32;
  std::vector<int64_t> ne;  // ggml order
};

// Writes a GGUF file atomically (temporary file beside it, renamed at the end). Tensor bytes come
// from produce(index), called once per tensor in order, so a large model is never whole in memory;
// it must return exactly the tensor's size (checked). An exception from produce (a Cancelled)
// removes the temporary file. `general.alignment`, when among `kv`, must be a power of two.
void write_gguf(const std::filesystem::path& path,
                const std::vector<std::pair<std::string, GgufValue>>& kv,
                const std::vector<GgufTensorSpec>& tensors,
                const std::function<std::vector<std::byte>(std::size_t index)>& produce);
// Bytes the file will take (header + padded data), for the free-space check before writing.
uint64_t gguf_file_size(const std::vector<std::pair<std::string, GgufValue>>& kv,
                        const std::vector<GgufTensorSpec>& tensors);

}  // namespace ms
