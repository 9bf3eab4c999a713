// A tensor as the readers see it: a name, a dtype, a shape and a span of bytes inside a mapped file.
// No LibTorch here: readers stay torch-free so they fuzz and sanitize cheaply (issue 9).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace ms {

// Storage dtypes we can meet in checkpoints. Only F32/F16/BF16 are weights; the rest appear in
// pickles (int64 position tensors) or our own statistics files.
enum class DType { F64, F32, F16, BF16, I64, I32, I16, I8, U8, Bool };

std::size_t dtype_size(DType dtype);
std::string_view dtype_name(DType dtype);           // safetensors spelling: "F32", "BF16", ...
bool dtype_from_name(std::string_view name, DType& out);  // false for an unknown name

struct TensorView {
  std::string name;
  DType dtype = DType::F32;
  std::vector<int64_t> shape;
  const std::byte* data = nullptr;  // points into a mapping owned by the TensorStore
  std::size_t nbytes = 0;           // == numel * dtype_size, checked by the reader

  int64_t numel() const;
  std::string shape_str() const;    // "[768, 1536]"
};

}  // namespace ms
