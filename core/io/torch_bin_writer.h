// Writing a state dict the way torch.save does, so that the original state-spaces layout can be
// produced (init-random --layout state-spaces, exporters): a zip archive (stored, no compression)
// of `archive/data.pkl` (a protocol-2 pickle of a dict of tensors rebuilt through
// torch._utils._rebuild_tensor_v2), `archive/data/<key>` (raw little-endian storages),
// `archive/byteorder` and `archive/version`. Loads with torch.load(weights_only=True) and with
// read_torch_bin. Tensors whose data pointer equals an earlier tensor's share its storage (the tied
// lm_head). ZIP64 records are written when an offset or size needs them. Atomic (AtomicFile).
#pragma once

#include <filesystem>
#include <vector>

#include "core/io/safetensors.h"  // TensorToWrite

namespace ms {

void write_torch_bin(const std::filesystem::path& file, const std::vector<TensorToWrite>& tensors);

}  // namespace ms
