// BPE model (see bpe.h). The merge loop follows the semantics of HF tokenizers' Word::merge_all
// (lowest rank first, ties by leftmost position, stale heap entries recognised by the merged id),
// because any other order can give other ids when merges overlap.
#include "core/tokenizer/bpe.h"

#include <cstdio>
#include <mutex>
#include <queue>

#include <nlohmann/json.hpp>

#include "core/tokenizer/unicode.h"
#include "core/util/error.h"

namespace ms::tok {

struct BpeModel::Cache {
  // Words repeat a lot in text; caching their ids makes encoding of prose several times faster.
  static constexpr std::size_t kCapacity = 20000;
  static constexpr std::size_t kMaxWordBytes = 256;
  std::mutex mutex;
  std::unordered_map<std::string, std::vector<int32_t>, StringHash, std::equal_to<>> map;
};

BpeModel::BpeModel() : cache_(std::make_unique<Cache>()) {}
BpeModel::BpeModel(BpeModel&&) noexcept = default;
BpeModel& BpeModel::operator=(BpeModel&&) noexcept = default;
BpeModel::~BpeModel() = default;

namespace {

uint64_t pair_key(int32_t a, int32_t b) {
  return (uint64_t(uint32_t(a)) << 32) | uint32_t(b);
}

std::string opt_string(const nlohmann::json& j, const char* key) {
  if (!j.contains(key) || j[key].is_null()) return {};
  return j[key].get<std::string>();
}

}  // namespace

BpeModel BpeModel::from_json(const nlohmann::json& model, const std::string& source) {
  if (!model.is_object()) throw InputError(source, "\"model\" is not an object");
  std::string type = model.value("type", "");
  // Old files carry no type; serde tells BPE by its "merges".
  if (type.empty() && model.contains("merges")) type = "BPE";
  if (type != "BPE")
    throw InputError(source, "unsupported model type '" + (type.empty() ? "?" : type) +
                                 "' (only BPE is supported)");
  if (!model.contains("vocab") || !model["vocab"].is_object())
    throw InputError(source, "BPE model without a \"vocab\" object");
  if (!model.contains("merges") || !model["merges"].is_array())
    throw InputError(source, "BPE model without a \"merges\" list");
  if (model.contains("dropout") && !model["dropout"].is_null() &&
      model["dropout"].get<double>() != 0.0)
    throw InputError(source, "unsupported BPE dropout (encoding would be random)");

  BpeModel m;
  m.source_ = source;
  try {
    for (const auto& [token, id] : model["vocab"].items()) {
      // A float id (1e300) would reach get<int64_t>'s unchecked conversion, which is UB
      // (found by tests/fuzz/fuzz_tokenizer_json).
      if (!id.is_number_integer()) throw InputError(source, "vocab id of '" + token + "' is not an integer");
      const auto v = id.get<int64_t>();
      if (v < 0 || v > INT32_MAX) throw InputError(source, "vocab id out of range for '" + token + "'");
      m.vocab_[token] = int32_t(v);
      m.vocab_r_[int32_t(v)] = token;
      m.max_id_ = std::max(m.max_id_, int32_t(v));
    }
    if (model.contains("unk_token") && !model["unk_token"].is_null())
      m.unk_token_ = model["unk_token"].get<std::string>();
    m.continuing_subword_prefix_ = opt_string(model, "continuing_subword_prefix");
    m.end_of_word_suffix_ = opt_string(model, "end_of_word_suffix");
    auto flag = [&](const char* key) {
      return model.contains(key) && !model[key].is_null() && model[key].get<bool>();
    };
    m.fuse_unk_ = flag("fuse_unk");
    m.byte_fallback_ = flag("byte_fallback");
    m.ignore_merges_ = flag("ignore_merges");

    uint32_t rank = 0;
    for (const auto& entry : model["merges"]) {
      std::string a, b;
      if (entry.is_string()) {
        // Legacy encoding: "a b", exactly one space; "#version" lines are comments.
        const std::string line = entry.get<std::string>();
        if (line.rfind("#version", 0) == 0) continue;
        const auto sp = line.find(' ');
        if (sp == std::string::npos || line.find(' ', sp + 1) != std::string::npos)
          throw InputError(source, "merge " + std::to_string(rank + 1) + " is not \"a b\": '" + line + "'");
        a = line.substr(0, sp);
        b = line.substr(sp + 1);
      } else if (entry.is_array() && entry.size() == 2 && entry[0].is_string() && entry[1].is_string()) {
        a = entry[0].get<std::string>();
        b = entry[1].get<std::string>();
      } else {
        throw InputError(source, "merge " + std::to_string(rank + 1) + " is neither \"a b\" nor [\"a\", \"b\"]");
      }
      const auto ia = m.token_to_id(a), ib = m.token_to_id(b);
      // The right part loses its continuing-subword prefix when merged.
      const std::size_t plen = m.continuing_subword_prefix_.size();
      const std::string merged = a + (b.size() >= plen ? b.substr(plen) : std::string());
      const auto im = m.token_to_id(merged);
      if (!ia || !ib || !im)
        throw InputError(source, "merge " + std::to_string(rank + 1) + " ('" + a + "', '" + b +
                                     "') uses a token that is not in the vocabulary");
      // A repeated pair keeps its last rank, as HF's map does.
      m.merges_[pair_key(*ia, *ib)] = {rank, *im};
      ++rank;
    }
  } catch (const nlohmann::json::exception& e) {
    throw InputError(source, std::string("malformed BPE model: ") + e.what());
  }
  return m;
}

std::optional<int32_t> BpeModel::token_to_id(std::string_view token) const {
  const auto it = vocab_.find(token);
  if (it == vocab_.end()) return std::nullopt;
  return it->second;
}

const std::string* BpeModel::id_to_token(int32_t id) const {
  const auto it = vocab_r_.find(id);
  return it == vocab_r_.end() ? nullptr : &it->second;
}

std::vector<int32_t> BpeModel::merge_word(std::string_view w) const {
  struct Symbol {
    int32_t id;
    int32_t prev, next;  // indices into `symbols`, -1 at the ends
    std::size_t len;     // bytes; 0 marks a symbol merged into its left neighbour
  };
  std::vector<Symbol> symbols;
  symbols.reserve(w.size());
  auto add = [&](int32_t id, std::size_t len) {
    const auto n = int32_t(symbols.size());
    if (n > 0) symbols.back().next = n;
    symbols.push_back({id, n - 1, -1, len});
  };

  // A pending unknown (fuse_unk grows it): id and byte length. Plain fields, not an optional,
  // to keep GCC's -Wmaybe-uninitialized quiet.
  bool unk = false;
  int32_t unk_token_id = 0;
  std::size_t unk_len = 0;
  auto unk_id = [&]() {
    const auto id = token_to_id(*unk_token_);
    if (!id) throw InputError(source_, "unk_token '" + *unk_token_ + "' is not in the vocabulary");
    return *id;
  };
  for (std::size_t pos = 0; pos < w.size();) {
    const std::size_t begin = pos;
    utf8_next(w, pos);
    const std::size_t byte_len = pos - begin;
    std::string s(w.substr(begin, byte_len));
    if (begin > 0) s = continuing_subword_prefix_ + s;
    if (pos == w.size()) s += end_of_word_suffix_;

    if (const auto id = token_to_id(s)) {
      if (unk) add(unk_token_id, unk_len), unk = false;
      add(*id, byte_len);
      continue;
    }
    if (byte_fallback_) {
      std::vector<int32_t> bytes;
      for (unsigned char c : s) {
        char name[8];
        std::snprintf(name, sizeof name, "<0x%02X>", c);
        const auto id = token_to_id(name);
        if (!id) break;
        bytes.push_back(*id);
      }
      if (bytes.size() == s.size()) {
        // HF leaves a pending unk pending here, so it lands after these bytes.
        for (int32_t id : bytes) add(id, 1);
        continue;
      }
    }
    if (unk_token_) {
      if (unk && fuse_unk_) {
        unk_len += byte_len;
      } else {
        if (unk) add(unk_token_id, unk_len);
        unk = true;
        unk_token_id = unk_id();
        unk_len = byte_len;
      }
    }
    // Without an unk_token an unknown character is dropped, as in HF.
  }
  if (unk) add(unk_token_id, unk_len);

  struct Merge {
    uint32_t rank;
    int32_t pos;
    int32_t new_id;
    bool operator>(const Merge& o) const { return rank != o.rank ? rank > o.rank : pos > o.pos; }
  };
  std::priority_queue<Merge, std::vector<Merge>, std::greater<>> queue;
  auto lookup = [&](int32_t a, int32_t b) -> const std::pair<uint32_t, int32_t>* {
    const auto it = merges_.find(pair_key(a, b));
    return it == merges_.end() ? nullptr : &it->second;
  };
  for (std::size_t i = 0; i + 1 < symbols.size(); ++i)
    if (const auto* m = lookup(symbols[i].id, symbols[i + 1].id))
      queue.push({m->first, int32_t(i), m->second});

  while (!queue.empty()) {
    const Merge top = queue.top();
    queue.pop();
    Symbol& cur = symbols[top.pos];
    if (cur.len == 0 || cur.next == -1) continue;
    const Symbol right = symbols[cur.next];
    // A stale entry: the pair at this position changed since it was queued.
    const auto* now = lookup(cur.id, right.id);
    if (!now || now->second != top.new_id) continue;

    const int32_t right_pos = cur.next;
    cur.id = top.new_id;
    cur.len += right.len;
    cur.next = right.next;
    symbols[right_pos].len = 0;
    if (right.next >= 0) symbols[right.next].prev = top.pos;

    if (cur.prev >= 0)
      if (const auto* m = lookup(symbols[cur.prev].id, cur.id))
        queue.push({m->first, cur.prev, m->second});
    if (cur.next >= 0)
      if (const auto* m = lookup(cur.id, symbols[cur.next].id))
        queue.push({m->first, top.pos, m->second});
  }

  std::vector<int32_t> ids;
  for (const auto& s : symbols)
    if (s.len != 0) ids.push_back(s.id);
  return ids;
}

void BpeModel::tokenize(std::string_view word, std::vector<int32_t>& ids) const {
  if (word.empty()) return;
  if (ignore_merges_)
    if (const auto id = token_to_id(word)) {
      ids.push_back(*id);
      return;
    }
  const bool cacheable = word.size() <= Cache::kMaxWordBytes;
  if (cacheable) {
    std::lock_guard lock(cache_->mutex);
    if (const auto it = cache_->map.find(word); it != cache_->map.end()) {
      ids.insert(ids.end(), it->second.begin(), it->second.end());
      return;
    }
  }
  std::vector<int32_t> merged = merge_word(word);
  ids.insert(ids.end(), merged.begin(), merged.end());
  if (cacheable) {
    std::lock_guard lock(cache_->mutex);
    if (cache_->map.size() < Cache::kCapacity) cache_->map.emplace(std::string(word), std::move(merged));
  }
}

}  // namespace ms::tok
