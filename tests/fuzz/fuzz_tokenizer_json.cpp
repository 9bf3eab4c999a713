// libFuzzer harness: tokenizer.json. An accepted file must encode and decode a fixed text that
// covers ASCII, a combining accent, CJK and an emoji without crashing, and every id it gives
// must decode.
#include <string_view>

#include "core/tokenizer/tokenizer.h"
#include "core/util/error.h"
#include "tests/fuzz/fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    const ms::Tokenizer tok = ms::Tokenizer::from_json(
        std::string_view(reinterpret_cast<const char*>(data), size), "tokenizer.json");
    const std::vector<int32_t> ids =
        tok.encode("Hello, world!  It's 2024 -- cafe\xcc\x81 \xe6\x97\xa5\xe6\x9c\xac \xf0\x9f\x98\x80\n\tend");
    for (int32_t id : ids) MS_FUZZ_ASSERT(id >= 0 && static_cast<std::size_t>(id) < tok.vocab_size());
    (void)tok.decode(ids);
    (void)tok.decode(ids, /*skip_special_tokens=*/true);
  } catch (const ms::InputError& e) {
    const std::string msg = e.what();
    MS_FUZZ_ASSERT(msg.rfind("tokenizer.json: ", 0) == 0);
    MS_FUZZ_ASSERT(msg.find('\n') == std::string::npos);
  }
  return 0;
}
