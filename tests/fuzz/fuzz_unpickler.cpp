// libFuzzer harness: the restricted unpickler on raw pickle bytes. Nothing may run (the
// unpickler has no way to call anything; the fuzzer checks it never crashes, never throws
// anything but InputError, and that whatever it accepts is a well-formed tree).
#include <span>

#include "core/io/unpickler.h"
#include "core/util/error.h"
#include "tests/fuzz/fuzz_util.h"

namespace {

// Walks the tree iteratively (pickles may share and cycle through the memo) with a visited set,
// checking each node's invariants.
void check_tree(const ms::PickleValue& root) {
  std::vector<const ms::PickleValue*> todo{&root};
  std::unordered_map<const ms::PickleValue*, bool> seen;
  while (!todo.empty()) {
    const ms::PickleValue* v = todo.back();
    todo.pop_back();
    if (!seen.emplace(v, true).second) continue;
    MS_FUZZ_ASSERT(v != nullptr);
    switch (v->kind) {
      case ms::PickleKind::Global:  // only the allowed names ever become a node
        MS_FUZZ_ASSERT(v->text.rfind("torch.", 0) == 0 || v->text == "collections.OrderedDict");
        break;
      case ms::PickleKind::Tensor:
        MS_FUZZ_ASSERT(v->tensor.storage != nullptr &&
                       v->tensor.storage->kind == ms::PickleKind::Storage);
        MS_FUZZ_ASSERT(v->tensor.size.size() == v->tensor.stride.size());
        break;
      case ms::PickleKind::Storage: MS_FUZZ_ASSERT(v->storage.numel >= 0); break;
      default: break;
    }
    for (const auto* c : v->items) todo.push_back(c);
    for (const auto& [k, x] : v->entries) {
      todo.push_back(k);
      todo.push_back(x);
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    const ms::PickleDocument doc =
        ms::unpickle(std::span(reinterpret_cast<const std::byte*>(data), size), "fuzz.pkl");
    check_tree(doc.root());
  } catch (const ms::InputError& e) {
    const std::string msg = e.what();
    MS_FUZZ_ASSERT(msg.rfind("fuzz.pkl: pickle offset ", 0) == 0);
    MS_FUZZ_ASSERT(msg.find('\n') == std::string::npos);
  }
  return 0;
}
