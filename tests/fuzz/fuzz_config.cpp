// libFuzzer harness: config.json in both layouts (HF and state-spaces). An accepted config must
// be usable without overflow or a huge allocation: the derived sizes, the parameter count and the
// list of expected tensors are computed (UBSan aborts on signed overflow), and what we accept we
// must be able to write back and read again.
#include "core/model/checkpoint.h"
#include "core/model/config.h"
#include "core/util/error.h"
#include "tests/fuzz/fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  ms::ModelConfig c;
  try {
    c = ms::ModelConfig::from_json_text(text, "config.json");
  } catch (const ms::InputError& e) {
    const std::string msg = e.what();
    MS_FUZZ_ASSERT(msg.rfind("config.json: ", 0) == 0);
    MS_FUZZ_ASSERT(msg.find('\n') == std::string::npos);
    return 0;
  }
  MS_FUZZ_ASSERT(c.parameter_count() > 0);
  const auto expected = ms::expected_tensors(c);
  MS_FUZZ_ASSERT(!expected.empty());
  for (const auto& t : expected)
    for (int64_t d : t.shape) MS_FUZZ_ASSERT(d > 0);
  // Written back in its own layout, the config reads again with the same shapes.
  const std::string again =
      c.layout == ms::Layout::HF ? c.to_hf_json() : c.to_state_spaces_json();
  const ms::ModelConfig c2 = ms::ModelConfig::from_json_text(again, "rewritten config.json");
  MS_FUZZ_ASSERT(c2.parameter_count() == c.parameter_count());
  MS_FUZZ_ASSERT(c2.arch == c.arch && c2.n_layer == c.n_layer && c2.d_inner == c.d_inner);
  return 0;
}
