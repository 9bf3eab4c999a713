// The `pre_tokenizer` of a tokenizer.json, for byte-level BPE: ByteLevel (add_prefix_space,
// use_regex), or a Sequence of Split steps with the GPT-2 pattern (behavior Isolated) before one
// ByteLevel. The GPT-2 regex
//   's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
// is a hand-written scanner (gpt2_split) with Oniguruma's semantics, and the GPT-2 byte-to-unicode
// table maps the pieces' bytes to the vocabulary's characters.
// Deliberately not here: arbitrary Split patterns, Whitespace, Metaspace, Digits, Punctuation;
// those are refused at load time with a message naming them.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json_fwd.hpp>

namespace ms::tok {

// The GPT-2 pattern, as tokenizer.json files spell it.
extern const char* const kGpt2Pattern;

// Splits `s` into the matches of the GPT-2 regex, as [begin, end) code point indices. The matches
// cover `s` entirely, in order.
std::vector<std::pair<std::size_t, std::size_t>> gpt2_split(std::u32string_view s);

// Each byte of `bytes` as its GPT-2 stand-in character (UTF-8 encoded): 'a' -> "a", ' ' -> "Ġ".
std::string byte_level_encode(std::string_view bytes);
// Inverse for one token: appends its bytes to `out` and returns true, or returns false (leaving
// `out` as it was) when a character of the token is not a stand-in.
bool byte_level_decode(std::string_view token, std::string& out);

class PreTokenizer {
 public:
  // `j` is the value of "pre_tokenizer". Throws InputError(source, ...).
  static PreTokenizer from_json(const nlohmann::json& j, const std::string& source);

  // Splits one piece of normalized text (no added tokens in it) into byte-level words, appended
  // to `words`; empty words are dropped, as HF drops empty splits.
  void split(std::string_view text, std::vector<std::string>& words) const;

 private:
  int regex_splits_before_ = 0;  // Split(GPT-2) steps before the ByteLevel step
  bool add_prefix_space_ = false;
  bool use_regex_ = true;        // ByteLevel's own GPT-2 split
};

}  // namespace ms::tok
