// Added-token matching (see added_vocab.h).
#include "core/tokenizer/added_vocab.h"

#include <algorithm>

#include <nlohmann/json.hpp>

#include "core/tokenizer/unicode.h"
#include "core/util/error.h"

namespace ms::tok {

void AddedVocabulary::Trie::insert(std::string_view pattern, int32_t id) {
  int32_t node = 0;
  for (unsigned char c : pattern) {
    const auto it = nodes[node].next.find(c);
    if (it != nodes[node].next.end()) {
      node = it->second;
    } else {
      const auto fresh = int32_t(nodes.size());
      nodes[node].next.emplace(c, fresh);
      nodes.emplace_back();
      node = fresh;
    }
  }
  nodes[node].id = id;
}

AddedVocabulary AddedVocabulary::from_json(const nlohmann::json& list, const BpeModel& model,
                                           const Normalizer& normalizer, const std::string& source) {
  AddedVocabulary v;
  if (list.is_null()) return v;
  if (!list.is_array()) throw InputError(source, "\"added_tokens\" is not a list");
  // HF adds the whole list in one call: fresh ids continue from the model's entry count.
  auto next_id = int32_t(model.vocab_entries());
  for (const auto& j : list) {
    AddedToken t;
    try {
      t.content = j.at("content").get<std::string>();
      t.single_word = j.value("single_word", false);
      t.lstrip = j.value("lstrip", false);
      t.rstrip = j.value("rstrip", false);
      t.special = j.value("special", false);
      t.normalized = j.value("normalized", !t.special);
    } catch (const nlohmann::json::exception& e) {
      throw InputError(source, std::string("malformed added token: ") + e.what());
    }
    if (utf8_first_invalid(t.content) != std::string::npos)
      throw InputError(source, "added token is not valid UTF-8");
    if (t.content.empty()) continue;
    if (const auto it = v.by_content_.find(t.content); it != v.by_content_.end())
      if (v.by_id_.count(it->second) && v.by_id_[it->second] == t) continue;

    int32_t id;
    if (const auto known = v.token_to_id(t.content)) id = *known;
    else if (const auto in_model = model.token_to_id(t.content)) id = *in_model;
    else id = next_id++;

    if (t.normalized && !normalizer.empty()) {
      std::string normed = normalizer.apply(t.content);
      if (normed != t.content) v.normalized_content_[id] = std::move(normed);
    }
    v.by_content_[t.content] = id;
    if (t.special) v.special_.insert(t.content);
    v.by_id_[id] = std::move(t);
    v.max_id_ = std::max(v.max_id_, id);
  }
  for (const auto& [id, t] : v.by_id_) {
    if (t.normalized) {
      const auto n = v.normalized_content_.find(id);
      v.normalized_trie_.insert(n != v.normalized_content_.end() ? n->second : t.content, id);
    } else {
      v.raw_trie_.insert(t.content, id);
    }
  }
  return v;
}

namespace {

// The code point that ends at `end` (exclusive) of valid UTF-8.
char32_t last_char(std::string_view s, std::size_t end) {
  std::size_t b = end - 1;
  while (b > 0 && (static_cast<unsigned char>(s[b]) & 0xC0) == 0x80) --b;
  return utf8_next(s, b);
}

}  // namespace

std::vector<AddedVocabulary::Match> AddedVocabulary::find_matches(std::string_view s,
                                                                  const Trie& trie) const {
  std::vector<Match> out;
  if (trie.empty()) {
    out.push_back({std::nullopt, 0, s.size()});
    return out;
  }
  std::size_t start_offset = 0;  // end of the last emitted split
  std::size_t search = 0;        // where the trie search resumes: the end of the raw match
  while (search < s.size()) {
    // Leftmost-longest: the first start with any match, and the longest match there.
    std::size_t start = search, stop = 0;
    int32_t id = -1;
    for (; start < s.size(); ++start) {
      int32_t node = 0;
      for (std::size_t k = start; k < s.size(); ++k) {
        const auto& next = trie.nodes[node].next;
        const auto it = next.find(static_cast<unsigned char>(s[k]));
        if (it == next.end()) break;
        node = it->second;
        if (trie.nodes[node].id >= 0) id = trie.nodes[node].id, stop = k + 1;
      }
      if (id >= 0) break;
    }
    if (id < 0) break;
    // A skipped single_word match still consumes its text: the search resumes after it, as HF's
    // iterator over the automaton does.
    search = stop;
    const AddedToken& t = by_id_.at(id);
    if (t.single_word) {
      const bool space_before = start == 0 || !is_word_char(last_char(s, start));
      std::size_t after = stop;
      const bool space_after = stop == s.size() || !is_word_char(utf8_next(s, after));
      if (!space_before || !space_after) continue;
    }
    if (t.lstrip) {
      std::size_t b = start;
      while (b > 0) {
        const std::size_t prev_end = b;
        std::size_t p = prev_end - 1;
        while (p > 0 && (static_cast<unsigned char>(s[p]) & 0xC0) == 0x80) --p;
        std::size_t q = p;
        if (!is_white_space(utf8_next(s, q))) break;
        b = p;
      }
      start = std::max(b, start_offset);
    }
    if (t.rstrip) {
      while (stop < s.size()) {
        std::size_t q = stop;
        if (!is_white_space(utf8_next(s, q))) break;
        stop = q;
      }
    }
    if (start_offset < start) out.push_back({std::nullopt, start_offset, start});
    out.push_back({id, start, stop});
    start_offset = stop;
  }
  if (start_offset != s.size()) out.push_back({std::nullopt, start_offset, s.size()});
  return out;
}

std::vector<AddedVocabulary::Piece> AddedVocabulary::split(std::string_view text,
                                                           const Normalizer& normalizer) const {
  std::vector<Piece> out;
  for (const Match& raw : find_matches(text, raw_trie_)) {
    // Matches may overlap when an rstrip ran over the start of the next match; slicing each one
    // from the text, as HF does, keeps the same (odd) result.
    std::string_view piece = text.substr(raw.begin, raw.end - raw.begin);
    if (piece.empty()) continue;
    if (raw.id) {
      out.push_back({raw.id, std::string(piece)});
      continue;
    }
    const std::string normed = normalizer.apply(piece);
    for (const Match& m : find_matches(normed, normalized_trie_)) {
      if (m.end <= m.begin) continue;
      out.push_back({m.id, normed.substr(m.begin, m.end - m.begin)});
    }
  }
  return out;
}

std::optional<int32_t> AddedVocabulary::token_to_id(std::string_view content) const {
  const auto it = by_content_.find(content);
  if (it == by_content_.end()) return std::nullopt;
  return it->second;
}

const std::string* AddedVocabulary::id_to_token(int32_t id) const {
  if (const auto n = normalized_content_.find(id); n != normalized_content_.end()) return &n->second;
  const auto it = by_id_.find(id);
  return it == by_id_.end() ? nullptr : &it->second.content;
}

bool AddedVocabulary::is_special(std::string_view content) const {
  return special_.find(content) != special_.end();
}

std::optional<int32_t> AddedVocabulary::special_id(std::string_view content) const {
  if (!is_special(content)) return std::nullopt;
  return token_to_id(content);
}

}  // namespace ms::tok
