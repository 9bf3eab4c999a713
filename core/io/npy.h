// NumPy .npy (format 1.0) writing and reading for float32 C-order arrays: `logits --out F.npy`
// and test fixtures. Writes are atomic.
#pragma once

#include <cstdint>
#include <filesystem>
#include <vector>

namespace ms {

void write_npy_f32(const std::filesystem::path& file, const float* data,
                   const std::vector<int64_t>& shape);

struct NpyArray {
  std::vector<int64_t> shape;
  std::vector<float> data;  // converted to float32 from <f4 or <f8
};
// Reads <f4 or <f8, C order. Throws InputError naming the file on anything else.
NpyArray read_npy_f32(const std::filesystem::path& file);

}  // namespace ms
