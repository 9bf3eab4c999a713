// The BPE model of a tokenizer.json: vocabulary, ranked merges (either file encoding: "a b"
// strings or ["a", "b"] pairs), unk_token / fuse_unk, byte_fallback, continuing_subword_prefix,
// end_of_word_suffix and ignore_merges. Words are merged lowest rank first with a heap over a
// linked list of symbols, so a word of n characters costs O(n log n), not O(n^2).
// Deliberately not here: dropout (random; refused unless 0), training, WordPiece/Unigram models.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include <nlohmann/json_fwd.hpp>

namespace ms::tok {

// Hash for heterogeneous lookup of std::string keys by std::string_view.
struct StringHash {
  using is_transparent = void;
  std::size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};
using StringIdMap = std::unordered_map<std::string, int32_t, StringHash, std::equal_to<>>;

class BpeModel {
 public:
  // `model` is the value of "model". Throws InputError(source, ...).
  static BpeModel from_json(const nlohmann::json& model, const std::string& source);

  BpeModel(BpeModel&&) noexcept;
  BpeModel& operator=(BpeModel&&) noexcept;
  ~BpeModel();

  // Appends the ids of one pre-tokenized (byte-level) word. Thread-safe.
  void tokenize(std::string_view word, std::vector<int32_t>& ids) const;

  std::optional<int32_t> token_to_id(std::string_view token) const;
  const std::string* id_to_token(int32_t id) const;
  std::size_t vocab_entries() const { return vocab_.size(); }
  int32_t max_id() const { return max_id_; }

 private:
  BpeModel();
  std::vector<int32_t> merge_word(std::string_view word) const;

  std::string source_;
  StringIdMap vocab_;
  std::unordered_map<int32_t, std::string> vocab_r_;
  int32_t max_id_ = -1;
  // (left id << 32 | right id) -> (rank, merged id)
  std::unordered_map<uint64_t, std::pair<uint32_t, int32_t>> merges_;
  std::optional<std::string> unk_token_;
  std::string continuing_subword_prefix_;
  std::string end_of_word_suffix_;
  bool fuse_unk_ = false;
  bool byte_fallback_ = false;
  bool ignore_merges_ = false;

  struct Cache;
  std::unique_ptr<Cache> cache_;
};

}  // namespace ms::tok
