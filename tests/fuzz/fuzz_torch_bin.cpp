// libFuzzer harness: pytorch_model.bin, the whole torch.save zip (zip reader + unpickler + the
// join of tensors to storages). Accepted tensors must be views inside the file.
#include "core/io/torch_bin.h"
#include "core/util/error.h"
#include "tests/fuzz/fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const auto file = ms::fuzz::input_file(data, size, "pytorch_model.bin");
  try {
    ms::TensorStore store;
    ms::read_torch_bin(file, store);
    ms::fuzz::touch_all(store);
  } catch (const ms::InputError& e) {
    const std::string msg = e.what();
    MS_FUZZ_ASSERT(msg.rfind(file.string() + ": ", 0) == 0 || msg.rfind(file.string() + " (", 0) == 0);
    MS_FUZZ_ASSERT(msg.find('\n') == std::string::npos);
  }
  return 0;
}
