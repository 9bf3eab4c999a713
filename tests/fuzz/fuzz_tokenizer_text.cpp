// libFuzzer harness: the tokenizer on arbitrary bytes, with the demo model's real tokenizer
// (NFC, GPT-2 pre-tokenizer, 4,096-token byte-level BPE, <|endoftext|>). Invalid UTF-8 must be
// refused with a one-line error; valid text must give ids in the vocabulary, and for ASCII text
// (which NFC leaves alone) decoding must give the text back exactly.
#include <string_view>

#include "core/tokenizer/tokenizer.h"
#include "core/util/error.h"
#include "tests/fuzz/fuzz_util.h"

namespace {
const ms::Tokenizer& tokenizer() {
  static const ms::Tokenizer tok =
      ms::Tokenizer::from_file(MAMBASCOPE_SOURCE_DIR "/resources/models/demo-mamba/tokenizer.json");
  return tok;
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  const ms::Tokenizer& tok = tokenizer();
  std::vector<int32_t> ids;
  try {
    ids = tok.encode(text);
  } catch (const ms::InputError& e) {
    const std::string msg = e.what();
    MS_FUZZ_ASSERT(msg.find("not valid UTF-8") != std::string::npos);
    MS_FUZZ_ASSERT(msg.find('\n') == std::string::npos);
    return 0;
  }
  for (int32_t id : ids) MS_FUZZ_ASSERT(id >= 0 && static_cast<std::size_t>(id) < tok.vocab_size());
  bool ascii = true;
  for (unsigned char c : text) ascii = ascii && c < 0x80;
  const std::string back = tok.decode(ids);
  if (ascii) MS_FUZZ_ASSERT(back == text);
  return 0;
}
