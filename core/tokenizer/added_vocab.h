// Added tokens of a tokenizer.json (the "added_tokens" list): their ids, and the split of a text
// into added-token matches and plain pieces, the way HF tokenizers' AddedVocabulary does it:
//   1. tokens with normalized=false are matched on the raw text (leftmost, then longest);
//   2. each remaining piece is normalized, then tokens with normalized=true are matched on it,
//      by their normalized content;
// single_word skips a match touching a word character (Rust regex \w) on either side; lstrip and
// rstrip widen a match over the white space before and after it.
// Deliberately not here: adding tokens after load, encode_special_tokens (always false here).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "core/tokenizer/bpe.h"
#include "core/tokenizer/normalizer.h"

namespace ms::tok {

struct AddedToken {
  std::string content;
  bool single_word = false;
  bool lstrip = false;
  bool rstrip = false;
  bool normalized = true;
  bool special = false;
  bool operator==(const AddedToken&) const = default;
};

class AddedVocabulary {
 public:
  // A piece of the split text: an added token's id, or normalized text for pre-tokenization.
  struct Piece {
    std::optional<int32_t> id;
    std::string text;
  };

  // Ids as HF assigns them on load: the id of an equal string already added or in the model's
  // vocabulary, else the next one after the model's (the file's "id" fields are not trusted).
  static AddedVocabulary from_json(const nlohmann::json& list, const BpeModel& model,
                                   const Normalizer& normalizer, const std::string& source);

  // `text` must be valid UTF-8. Empty pieces are dropped.
  std::vector<Piece> split(std::string_view text, const Normalizer& normalizer) const;

  std::optional<int32_t> token_to_id(std::string_view content) const;
  // What HF decodes an added id to: its normalized content for normalized tokens.
  const std::string* id_to_token(int32_t id) const;
  bool is_special(std::string_view content) const;
  // The id of a special token with exactly this content.
  std::optional<int32_t> special_id(std::string_view content) const;
  int32_t max_id() const { return max_id_; }

 private:
  // A byte trie over token patterns, searched leftmost-longest.
  struct Trie {
    struct Node {
      std::unordered_map<unsigned char, int32_t> next;
      int32_t id = -1;  // token id when a pattern ends here
    };
    std::vector<Node> nodes{Node{}};
    void insert(std::string_view pattern, int32_t id);
    bool empty() const { return nodes.size() == 1; }
  };
  struct Match {
    std::optional<int32_t> id;
    std::size_t begin, end;
  };
  std::vector<Match> find_matches(std::string_view s, const Trie& trie) const;

  StringIdMap by_content_;
  std::unordered_map<int32_t, AddedToken> by_id_;
  std::unordered_map<int32_t, std::string> normalized_content_;  // only where it differs
  std::unordered_set<std::string, StringHash, std::equal_to<>> special_;
  Trie raw_trie_;         // normalized=false tokens
  Trie normalized_trie_;  // normalized=true tokens, by normalized content
  int32_t max_id_ = -1;
};

}  // namespace ms::tok
