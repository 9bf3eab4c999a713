// A restricted unpickler for torch state dicts. It interprets the pickle opcodes of protocols
// 2..5 as *data*: it builds a small value tree (None, bool, int, float, str, bytes, tuple, list,
// dict, and storage/tensor nodes) and never executes anything. Only the globals a torch state
// dict needs are accepted (collections.OrderedDict, torch._utils._rebuild_tensor_v2,
// _rebuild_parameter[_with_state], torch.<T>Storage); REDUCE is interpreted only for those
// functions, BUILD only for the OrderedDict's `_metadata` state. Everything else — os.system,
// builtins.eval, NEWOBJ, INST, extension codes — is refused with an InputError naming it.
// Not supported on purpose: protocol 0/1 text opcodes, out-of-band buffers, sets, big ints.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "core/io/tensor_view.h"

namespace ms {

enum class PickleKind {
  None,
  Bool,
  Int,
  Float,
  Str,
  Bytes,
  Tuple,
  List,
  Dict,
  Global,
  Storage,
  Tensor
};

struct PickleValue;

// A storage named by a persistent id ('storage', torch.<T>Storage, key, location, numel).
struct PickleStorage {
  std::string key;  // the archive entry is "<prefix>/data/<key>"
  DType dtype = DType::F32;
  std::string location;  // "cpu", "cuda:0": informational only
  int64_t numel = 0;     // in elements of dtype
};

// torch._utils._rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad, ...).
struct PickleTensor {
  const PickleValue* storage = nullptr;  // a PickleKind::Storage node (shared between tensors)
  int64_t storage_offset = 0;            // in elements
  std::vector<int64_t> size, stride;
  bool requires_grad = false;
};

// One node. Children are non-owning pointers into the document's arena, so shared and even
// cyclic references (legal in pickles through the memo) cost nothing and never leak. Code that
// walks the tree recursively must bound its depth.
struct PickleValue {
  PickleKind kind = PickleKind::None;
  bool boolean = false;
  int64_t integer = 0;
  double real = 0.0;
  std::string text;                                            // Str, Bytes, Global ("module.name")
  std::vector<PickleValue*> items;                             // Tuple, List
  std::vector<std::pair<PickleValue*, PickleValue*>> entries;  // Dict, in insertion order
  std::unordered_map<std::string, std::size_t> str_index;      // Dict: str key -> entry index
  PickleStorage storage;
  PickleTensor tensor;

  const PickleValue* get(
      const std::string& key) const;  // Dict lookup by str key; nullptr if absent
};

class PickleDocument {
 public:
  const PickleValue& root() const { return *root_; }

 private:
  friend class Unpickler;
  std::vector<std::unique_ptr<PickleValue>> arena_;
  PickleValue* root_ = nullptr;
};

// Each opcode byte can create a node of a few hundred bytes, so the node count is capped as well:
// a real data.pkl (10k tensors) needs ~200k nodes; the cap bounds a hostile file to about 1 GB.
struct UnpickleLimits {
  std::size_t max_memo = 1u << 20;
  std::size_t max_stack = 1u << 20;
  std::size_t max_nodes = 1u << 22;
};

// Interprets `bytes` (a whole pickle, ending in STOP). `where` prefixes every error message (the
// file and the archive entry). Throws InputError; never executes code from the input.
PickleDocument unpickle(std::span<const std::byte> bytes, const std::string& where,
                        const UnpickleLimits& limits = {});

}  // namespace ms
