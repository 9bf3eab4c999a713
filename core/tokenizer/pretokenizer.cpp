// ByteLevel pre-tokenization (see pretokenizer.h).
#include "core/tokenizer/pretokenizer.h"

#include <array>

#include <nlohmann/json.hpp>

#include "core/tokenizer/unicode.h"
#include "core/util/error.h"

namespace ms::tok {

const char* const kGpt2Pattern =
    R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";

namespace {

bool is_other(char32_t c) { return !is_white_space(c) && !is_letter(c) && !is_number(c); }

// Length of the contraction ('s 't 're 've 'm 'll 'd, case-sensitive as in the pattern) at i.
std::size_t contraction_at(std::u32string_view s, std::size_t i) {
  if (s[i] != U'\'' || i + 1 >= s.size()) return 0;
  const char32_t a = s[i + 1];
  if (a == U's' || a == U't' || a == U'm' || a == U'd') return 2;
  if (i + 2 >= s.size()) return 0;
  const char32_t b = s[i + 2];
  if ((a == U'r' && b == U'e') || (a == U'v' && b == U'e') || (a == U'l' && b == U'l')) return 3;
  return 0;
}

}  // namespace

std::vector<std::pair<std::size_t, std::size_t>> gpt2_split(std::u32string_view s) {
  std::vector<std::pair<std::size_t, std::size_t>> out;
  const std::size_t n = s.size();
  std::size_t i = 0;
  auto run = [&](std::size_t from, bool (*cls)(char32_t)) {
    while (from < n && cls(s[from])) ++from;
    return from;
  };
  while (i < n) {
    std::size_t end = i;
    if (std::size_t len = contraction_at(s, i)) {
      end = i + len;
    } else {
      // ` ?X+` for X in L, N, other: the optional space is only taken when X follows it; without
      // the space the alternative would have to start with ' ', which is in none of the classes.
      const std::size_t start = (s[i] == U' ' && i + 1 < n) ? i + 1 : i;
      if (is_letter(s[start])) {
        end = run(start, is_letter);
      } else if (is_number(s[start])) {
        end = run(start, is_number);
      } else if (is_other(s[start])) {
        end = run(start, is_other);
      } else {
        // s[i] is white space. `\s+(?!\S)`: the greedy run backs off one character when a
        // non-space follows, leaving that last space to prefix the next word; a lone space before
        // a non-space falls through to `\s+` and stands alone.
        const std::size_t j = run(i, is_white_space);
        if (j == n) end = n;
        else if (j - i >= 2) end = j - 1;
        else end = j;
      }
    }
    out.emplace_back(i, end);
    i = end;
  }
  return out;
}

namespace {

// GPT-2's bytes_to_unicode: printable Latin-1 bytes stand for themselves, the other 68 bytes are
// shifted to U+0100.. in byte order, so every byte has a visible, non-space stand-in.
struct ByteTables {
  std::array<std::string, 256> to_char;  // UTF-8 of each byte's stand-in
  std::array<int, 324> from_cp;          // stand-in code point -> byte, -1 if none
  ByteTables() {
    from_cp.fill(-1);
    int shift = 0;
    for (int b = 0; b < 256; ++b) {
      const bool keeps = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE);
      const char32_t cp = keeps ? char32_t(b) : char32_t(256 + shift++);
      utf8_append(to_char[b], cp);
      from_cp[cp] = b;
    }
  }
};

const ByteTables& byte_tables() {
  static const ByteTables t;
  return t;
}

}  // namespace

std::string byte_level_encode(std::string_view bytes) {
  const auto& t = byte_tables();
  std::string out;
  out.reserve(bytes.size() * 2);
  for (unsigned char b : bytes) out += t.to_char[b];
  return out;
}

bool byte_level_decode(std::string_view token, std::string& out) {
  // HF decodes a token by its characters when all are stand-ins, else keeps its raw bytes; the
  // token is a vocabulary string, so it is valid UTF-8.
  const auto& t = byte_tables();
  const std::size_t mark = out.size();
  for (std::size_t pos = 0; pos < token.size();) {
    const char32_t cp = utf8_next(token, pos);
    if (cp >= t.from_cp.size() || t.from_cp[cp] < 0) {
      out.resize(mark);
      return false;
    }
    out += char(t.from_cp[cp]);
  }
  return true;
}

PreTokenizer PreTokenizer::from_json(const nlohmann::json& j, const std::string& source) {
  if (j.is_null()) throw InputError(source, "no pre_tokenizer: only byte-level BPE is supported");
  std::vector<nlohmann::json> steps;
  if (j.is_object() && j.value("type", "") == "Sequence") {
    if (!j.contains("pretokenizers") || !j["pretokenizers"].is_array())
      throw InputError(source, "pre_tokenizer Sequence without a \"pretokenizers\" list");
    for (const auto& s : j["pretokenizers"]) steps.push_back(s);
  } else {
    steps.push_back(j);
  }
  PreTokenizer p;
  bool have_byte_level = false;
  for (const auto& s : steps) {
    if (!s.is_object() || !s.contains("type") || !s["type"].is_string())
      throw InputError(source, "pre_tokenizer without a \"type\"");
    const std::string type = s["type"].get<std::string>();
    if (have_byte_level)
      throw InputError(source, "unsupported pre_tokenizer '" + type + "' after ByteLevel");
    if (type == "ByteLevel") {
      have_byte_level = true;
      p.add_prefix_space_ = s.value("add_prefix_space", true);
      p.use_regex_ = s.value("use_regex", true);
    } else if (type == "Split") {
      const auto pattern = s.value("pattern", nlohmann::json::object());
      const bool gpt2 = pattern.contains("Regex") && pattern["Regex"].is_string() &&
                        pattern["Regex"].get<std::string>() == kGpt2Pattern;
      if (!gpt2)
        throw InputError(source, "unsupported pre_tokenizer Split pattern (only the GPT-2 regex is)");
      if (s.value("behavior", "") != "Isolated" || s.value("invert", false))
        throw InputError(source, "unsupported pre_tokenizer Split behavior '" +
                                     s.value("behavior", "") + "' (only Isolated, not inverted)");
      ++p.regex_splits_before_;
    } else {
      throw InputError(source, "unsupported pre_tokenizer '" + type + "'");
    }
  }
  if (!have_byte_level)
    throw InputError(source, "pre_tokenizer without ByteLevel: only byte-level BPE is supported");
  return p;
}

void PreTokenizer::split(std::string_view text, std::vector<std::string>& words) const {
  std::vector<std::u32string> pieces{utf8_to_u32(text)};
  auto regex_split = [](const std::vector<std::u32string>& in) {
    std::vector<std::u32string> out;
    for (const auto& piece : in)
      for (auto [b, e] : gpt2_split(piece)) out.push_back(piece.substr(b, e - b));
    return out;
  };
  // Split is idempotent for the GPT-2 pattern on its own matches, but it is cheap to honour the
  // file literally.
  for (int k = 0; k < regex_splits_before_; ++k) pieces = regex_split(pieces);
  for (auto& piece : pieces) {
    if (piece.empty()) continue;
    // HF prepends only when the piece does not already start with U+0020 (not any white space).
    if (add_prefix_space_ && piece.front() != U' ') piece.insert(piece.begin(), U' ');
  }
  if (use_regex_) pieces = regex_split(pieces);
  for (const auto& piece : pieces)
    if (!piece.empty()) words.push_back(byte_level_encode(u32_to_utf8(piece)));
}

}  // namespace ms::tok
