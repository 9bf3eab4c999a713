// libFuzzer harness: a whole .safetensors file (header length, JSON header, data section).
// Accepted files must give views inside the file whose byte counts match their shapes; refused
// ones a one-line InputError that names the file.
#include "core/io/safetensors.h"
#include "core/util/error.h"
#include "tests/fuzz/fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const auto file = ms::fuzz::input_file(data, size, "model.safetensors");
  try {
    ms::TensorStore store;
    ms::read_safetensors(file, store);
    ms::fuzz::touch_all(store);
  } catch (const ms::InputError& e) {
    const std::string msg = e.what();
    MS_FUZZ_ASSERT(msg.rfind(file.string() + ": ", 0) == 0);
    MS_FUZZ_ASSERT(msg.find('\n') == std::string::npos);
  }
  return 0;
}
