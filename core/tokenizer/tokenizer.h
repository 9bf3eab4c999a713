// HF `tokenizer.json` byte-level BPE, reproducing the ids of HF `tokenizers` exactly:
// normalizer (NFC, NFKC, NFD, NFKD, Lowercase, Sequence, and the absence of one), added and special
// tokens matched inside the text (`normalized`, `lstrip`, `rstrip`, `single_word` honoured),
// ByteLevel pre-tokenization with the GPT-2 regex (or a Split with that regex followed by ByteLevel
// without regex), BPE merges in both encodings of the file (strings "a b" and pairs ["a","b"]),
// and ByteLevel decoding. Anything else in the file is refused with a message naming the feature.
// No LibTorch here.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace ms {

class Tokenizer {
 public:
  // Throws InputError naming the file and the problem (not JSON, unsupported model type, ...).
  static Tokenizer from_file(const std::filesystem::path& tokenizer_json);
  // `source` names the origin in error messages.
  static Tokenizer from_json(std::string_view json_text, const std::string& source);

  Tokenizer(Tokenizer&&) noexcept;
  Tokenizer& operator=(Tokenizer&&) noexcept;
  ~Tokenizer();

  // The ids of the whole text, as HF `tokenizers` gives with add_special_tokens=False.
  // Throws InputError("<source>: text is not valid UTF-8 at byte N") for invalid UTF-8.
  std::vector<int32_t> encode(std::string_view utf8_text) const;
  // Inverse of encode for ids of the vocabulary (bytes that do not form UTF-8 are replaced with
  // U+FFFD, as HF does). Throws InputError for an id outside the vocabulary.
  std::string decode(std::span<const int32_t> ids, bool skip_special_tokens = false) const;

  std::size_t vocab_size() const;  // largest id + 1, added tokens included
  std::optional<int32_t> token_to_id(std::string_view token) const;
  std::optional<std::string> id_to_token(int32_t id) const;
  // The end-of-text token, when the file declares one among its special added tokens
  // (`<|endoftext|>`, `</s>`, `<eos>`).
  std::optional<int32_t> eos_id() const;
  std::optional<int32_t> bos_id() const;
  const std::string& source() const;

 private:
  struct Impl;
  explicit Tokenizer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace ms
