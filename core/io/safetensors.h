// safetensors reading (memory-mapped, single file or sharded with model.safetensors.index.json)
// and writing (atomic). Format: 8-byte little-endian header length N, N bytes of JSON
// {"name": {"dtype", "shape", "data_offsets": [begin, end]}, "__metadata__": {str: str}}, then
// the data. Every header field is checked against the file size before use; a shard name that
// escapes the index's directory is refused.
#pragma once

#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "core/io/tensor_store.h"

namespace ms {

// Adds every tensor of `file` to `store` (which keeps the mapping). Returns the file's
// `__metadata__` map. Throws InputError naming the file and the problem.
std::map<std::string, std::string> read_safetensors(const std::filesystem::path& file,
                                                    TensorStore& store);

// Reads model.safetensors.index.json and every shard it names; checks that each tensor listed in
// the weight_map is found in the shard the index says.
void read_safetensors_index(const std::filesystem::path& index_json, TensorStore& store);

// A tensor to write: bytes owned by the caller for the duration of the call.
struct TensorToWrite {
  std::string name;
  DType dtype = DType::F32;
  std::vector<int64_t> shape;
  const void* data = nullptr;
  std::size_t nbytes = 0;
};

// Writes a safetensors file atomically (temporary file in the same directory, then rename).
// Tensors are stored in the order given, 8-byte aligned header as the format recommends.
void write_safetensors(const std::filesystem::path& file, const std::vector<TensorToWrite>& tensors,
                       const std::map<std::string, std::string>& metadata = {});

}  // namespace ms
