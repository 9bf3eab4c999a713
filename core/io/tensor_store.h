// A read-only set of named tensors backed by memory-mapped files. Safetensors (single or sharded)
// and state-spaces pytorch_model.bin both produce one; the engine copies what it needs into LibTorch.
#pragma once

#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "core/io/mapped_file.h"
#include "core/io/tensor_view.h"

namespace ms {

class TensorStore {
 public:
  // Keeps the mapping alive as long as the store lives; views point into it.
  void add_mapping(std::shared_ptr<const MappedFile> file);
  // Throws InputError (naming `source`) when the name is already present.
  void add(TensorView view, const std::filesystem::path& source);

  const TensorView* find(const std::string& name) const;  // nullptr when absent
  const TensorView& at(const std::string& name) const;    // throws InputError when absent
  const std::map<std::string, TensorView>& tensors() const { return tensors_; }
  std::size_t total_bytes() const;
  // Where a tensor came from (the shard or .bin), for error messages.
  const std::filesystem::path& source_of(const std::string& name) const;
  // Renames keys (used to map a layout's names to canonical ones). Missing keys are ignored.
  void rename(const std::string& from, const std::string& to);

 private:
  std::vector<std::shared_ptr<const MappedFile>> mappings_;
  std::map<std::string, TensorView> tensors_;
  std::map<std::string, std::filesystem::path> sources_;
};

}  // namespace ms
