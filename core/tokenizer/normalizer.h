// The `normalizer` of a tokenizer.json: NFC, NFD, NFKC, NFKD, Lowercase and Sequences of them,
// flattened into one list of steps. Others (BertNormalizer, Replace, Prepend, Strip, StripAccents,
// Precompiled, ...) are refused at load time with a message naming them.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json_fwd.hpp>

namespace ms::tok {

class Normalizer {
 public:
  enum class Step { NFC, NFD, NFKC, NFKD, Lowercase };

  // `j` is the value of "normalizer" (null for none). Throws InputError(source, ...).
  static Normalizer from_json(const nlohmann::json& j, const std::string& source);

  // `s` must be valid UTF-8.
  std::string apply(std::string_view s) const;
  bool empty() const { return steps_.empty(); }

 private:
  void add(const nlohmann::json& j, const std::string& source);
  std::vector<Step> steps_;
};

}  // namespace ms::tok
