// The original state-spaces checkpoint: `pytorch_model.bin`, a zip archive written by torch.save
// holding `<prefix>/data.pkl` (a pickle of an OrderedDict of tensors) and `<prefix>/data/<key>`
// (raw little-endian storages). We read it through a restricted unpickler (core/io/unpickler.h)
// that accepts only the opcodes and globals tensor storage needs; nothing in the file is executed.
// Storages shared by several tensors (the tied lm_head) map to the same bytes.
#pragma once

#include <filesystem>

#include "core/io/tensor_store.h"

namespace ms {

// Adds every tensor of the state dict to `store`. Non-contiguous views (strides other than the
// row-major ones) are refused with a clear message. Throws InputError naming the file.
void read_torch_bin(const std::filesystem::path& file, TensorStore& store);

}  // namespace ms
