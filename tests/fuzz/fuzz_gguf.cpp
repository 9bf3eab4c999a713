// libFuzzer harness: GGUF files (our exports read back, and anything a user downloads). Accepted
// files must have every tensor's bytes inside the input, at its offset, with a byte count that
// matches its type and dims for the types we know; refused ones a one-line error naming the file.
#include "core/io/gguf.h"
#include "core/util/error.h"
#include "tests/fuzz/fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const auto* bytes = reinterpret_cast<const std::byte*>(data);
  try {
    const ms::GgufFile f = ms::parse_gguf(bytes, size, "fuzz.gguf");
    for (const auto& t : f.tensors) {
      if (t.data == nullptr) {  // a type we do not know: kept opaque, no bytes handed out
        MS_FUZZ_ASSERT(t.nbytes == 0);
        continue;
      }
      MS_FUZZ_ASSERT(t.data >= bytes && t.nbytes <= size &&
                     t.data + t.nbytes <= bytes + size);
      int64_t rows = 1;
      for (std::size_t d = 1; d < t.ne.size(); ++d) rows *= t.ne[d];
      const bool known = t.type == 0 || t.type == 1 || t.type == 2 || t.type == 8;
      if (known && !t.ne.empty())
        MS_FUZZ_ASSERT(t.nbytes == ms::ggml_row_size(static_cast<ms::GgmlType>(t.type), t.ne[0]) *
                                       static_cast<std::size_t>(rows));
      unsigned char acc = 0;
      for (std::size_t i = 0; i < t.nbytes; ++i) acc ^= static_cast<unsigned char>(t.data[i]);
      volatile unsigned char sink = acc;
      (void)sink;
    }
    for (const auto& [key, v] : f.kv) MS_FUZZ_ASSERT(f.find(key) != nullptr);
  } catch (const ms::InputError& e) {
    const std::string msg = e.what();
    MS_FUZZ_ASSERT(msg.rfind("fuzz.gguf: ", 0) == 0);
    MS_FUZZ_ASSERT(msg.find('\n') == std::string::npos);
  }
  return 0;
}
