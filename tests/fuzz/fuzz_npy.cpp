// libFuzzer harness: .npy files (logits --out and fixtures). Accepted arrays must hold exactly
// the product of their shape in elements.
#include "core/io/npy.h"
#include "core/util/error.h"
#include "tests/fuzz/fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const auto file = ms::fuzz::input_file(data, size, "array.npy");
  try {
    const ms::NpyArray a = ms::read_npy_f32(file);
    uint64_t n = 1;
    for (int64_t d : a.shape) {
      MS_FUZZ_ASSERT(d >= 0);
      MS_FUZZ_ASSERT(!__builtin_mul_overflow(n, static_cast<uint64_t>(d), &n));
    }
    MS_FUZZ_ASSERT(n == a.data.size());
  } catch (const ms::InputError& e) {
    const std::string msg = e.what();
    MS_FUZZ_ASSERT(msg.rfind(file.string() + ": ", 0) == 0);
    MS_FUZZ_ASSERT(msg.find('\n') == std::string::npos);
  }
  return 0;
}
