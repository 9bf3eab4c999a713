// Unicode helpers for the tokenizer (see unicode.h). utf8proc supplies every table; the few
// property sets it lacks (White_Space, Join_Control, the Other_Alphabetic symbols) are listed here
// from the Unicode 15 PropList.
#include "core/tokenizer/unicode.h"

#include <cstdlib>
#include <memory>
#include <utility>

#include <utf8proc.h>

#include "core/util/error.h"

namespace ms::tok {

namespace {

// The sequence at p[i]: returns its length when well-formed, else 0 and sets `bad` to the length
// of its maximal ill-formed prefix (at least 1), the unit that from_utf8_lossy replaces.
std::size_t utf8_sequence(const unsigned char* p, std::size_t n, std::size_t i, std::size_t& bad) {
  const unsigned char c = p[i];
  bad = 1;
  if (c < 0x80) return 1;
  std::size_t len = 0;
  unsigned char lo = 0x80, hi = 0xBF;  // allowed range of the second byte
  if (c >= 0xC2 && c <= 0xDF) {
    len = 2;
  } else if (c >= 0xE0 && c <= 0xEF) {
    len = 3;
    if (c == 0xE0) lo = 0xA0;  // overlong
    if (c == 0xED) hi = 0x9F;  // surrogates
  } else if (c >= 0xF0 && c <= 0xF4) {
    len = 4;
    if (c == 0xF0) lo = 0x90;  // overlong
    if (c == 0xF4) hi = 0x8F;  // above U+10FFFF
  } else {
    return 0;
  }
  if (i + 1 >= n || p[i + 1] < lo || p[i + 1] > hi) return 0;
  for (std::size_t k = 2; k < len; ++k) {
    if (i + k >= n || (p[i + k] & 0xC0) != 0x80) {
      bad = k;
      return 0;
    }
  }
  return len;
}

}  // namespace

std::size_t utf8_first_invalid(std::string_view s) {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  std::size_t bad = 0;
  for (std::size_t i = 0; i < s.size();) {
    const std::size_t len = utf8_sequence(p, s.size(), i, bad);
    if (len == 0) return i;
    i += len;
  }
  return std::string_view::npos;
}

std::string utf8_lossy(std::string_view s) {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  std::string out;
  out.reserve(s.size());
  std::size_t bad = 0;
  for (std::size_t i = 0; i < s.size();) {
    const std::size_t len = utf8_sequence(p, s.size(), i, bad);
    if (len == 0) {
      out += "\xEF\xBF\xBD";
      i += bad;
    } else {
      out.append(s.substr(i, len));
      i += len;
    }
  }
  return out;
}

char32_t utf8_next(std::string_view s, std::size_t& pos) {
  const auto c = static_cast<unsigned char>(s[pos]);
  auto cont = [&](std::size_t k) { return static_cast<char32_t>(s[pos + k] & 0x3F); };
  char32_t cp;
  if (c < 0x80) {
    cp = c;
    pos += 1;
  } else if (c < 0xE0) {
    cp = (char32_t(c & 0x1F) << 6) | cont(1);
    pos += 2;
  } else if (c < 0xF0) {
    cp = (char32_t(c & 0x0F) << 12) | (cont(1) << 6) | cont(2);
    pos += 3;
  } else {
    cp = (char32_t(c & 0x07) << 18) | (cont(1) << 12) | (cont(2) << 6) | cont(3);
    pos += 4;
  }
  return cp;
}

void utf8_append(std::string& out, char32_t cp) {
  if (cp < 0x80) {
    out += char(cp);
  } else if (cp < 0x800) {
    out += char(0xC0 | (cp >> 6));
    out += char(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += char(0xE0 | (cp >> 12));
    out += char(0x80 | ((cp >> 6) & 0x3F));
    out += char(0x80 | (cp & 0x3F));
  } else {
    out += char(0xF0 | (cp >> 18));
    out += char(0x80 | ((cp >> 12) & 0x3F));
    out += char(0x80 | ((cp >> 6) & 0x3F));
    out += char(0x80 | (cp & 0x3F));
  }
}

std::u32string utf8_to_u32(std::string_view s) {
  std::u32string out;
  out.reserve(s.size());
  for (std::size_t pos = 0; pos < s.size();) out += utf8_next(s, pos);
  return out;
}

std::string u32_to_utf8(std::u32string_view s) {
  std::string out;
  out.reserve(s.size());
  for (char32_t cp : s) utf8_append(out, cp);
  return out;
}

namespace {

// Letters and numbers of Unicode 16.0 that utf8proc 2.8 (Unicode 15) does not know yet, while the
// Oniguruma inside tokenizers 0.23 does: without them the GPT-2 split of, say, Garay or Kirat Rai
// text would differ. Found by comparing \p{L} / \p{N} / \s of the real library with ours over every
// code point; after this table the three classes agree everywhere.
struct Range {
  char32_t first, last;
  bool letter;  // else number
};
constexpr Range kUnicode16Additions[] = {
    {0x1C89, 0x1C8A, true},   {0xA7CB, 0xA7CD, true},   {0xA7DA, 0xA7DC, true},
    {0x105C0, 0x105F3, true}, {0x10D40, 0x10D49, false}, {0x10D4A, 0x10D65, true},
    {0x10D6F, 0x10D85, true}, {0x10EC2, 0x10EC4, true}, {0x11380, 0x11389, true},
    {0x1138B, 0x1138B, true}, {0x1138E, 0x1138E, true}, {0x11390, 0x113B5, true},
    {0x113B7, 0x113B7, true}, {0x113D1, 0x113D1, true}, {0x113D3, 0x113D3, true},
    {0x116D0, 0x116E3, false}, {0x11BC0, 0x11BE0, true}, {0x11BF0, 0x11BF9, false},
    {0x13460, 0x143FA, true}, {0x16100, 0x1611D, true}, {0x16130, 0x16139, false},
    {0x16D40, 0x16D6C, true}, {0x16D70, 0x16D79, false}, {0x18CFF, 0x18CFF, true},
    {0x1CCF0, 0x1CCF9, false}, {0x1E5D0, 0x1E5ED, true}, {0x1E5F0, 0x1E5F0, true},
    {0x1E5F1, 0x1E5FA, false}, {0x2EBF0, 0x2EE5D, true},
};

// For a code point utf8proc calls unassigned: 1 letter, 2 number, 0 neither.
int unicode16_class(char32_t cp) {
  for (const Range& r : kUnicode16Additions)
    if (cp >= r.first && cp <= r.last) return r.letter ? 1 : 2;
  return 0;
}

}  // namespace

bool is_letter(char32_t cp) {
  switch (utf8proc_category(static_cast<utf8proc_int32_t>(cp))) {
    case UTF8PROC_CATEGORY_CN:
      return unicode16_class(cp) == 1;
    case UTF8PROC_CATEGORY_LU:
    case UTF8PROC_CATEGORY_LL:
    case UTF8PROC_CATEGORY_LT:
    case UTF8PROC_CATEGORY_LM:
    case UTF8PROC_CATEGORY_LO:
      return true;
    default:
      return false;
  }
}

bool is_number(char32_t cp) {
  switch (utf8proc_category(static_cast<utf8proc_int32_t>(cp))) {
    case UTF8PROC_CATEGORY_CN:
      return unicode16_class(cp) == 2;
    case UTF8PROC_CATEGORY_ND:
    case UTF8PROC_CATEGORY_NL:
    case UTF8PROC_CATEGORY_NO:
      return true;
    default:
      return false;
  }
}

bool is_white_space(char32_t cp) {
  // PropList.txt White_Space. Not the Zs category: U+0085 and U+2028/2029 are in, U+180E and
  // U+200B (once spaces) are out, and U+001C..001F (Python's isspace) are out.
  if (cp >= 0x09 && cp <= 0x0D) return true;
  if (cp >= 0x2000 && cp <= 0x200A) return true;
  switch (cp) {
    case 0x20: case 0x85: case 0xA0: case 0x1680: case 0x2028: case 0x2029: case 0x202F:
    case 0x205F: case 0x3000:
      return true;
    default:
      return false;
  }
}

bool is_word_char(char32_t cp) {
  switch (utf8proc_category(static_cast<utf8proc_int32_t>(cp))) {
    case UTF8PROC_CATEGORY_LU: case UTF8PROC_CATEGORY_LL: case UTF8PROC_CATEGORY_LT:
    case UTF8PROC_CATEGORY_LM: case UTF8PROC_CATEGORY_LO: case UTF8PROC_CATEGORY_NL:
    case UTF8PROC_CATEGORY_MN: case UTF8PROC_CATEGORY_MC: case UTF8PROC_CATEGORY_ME:
    case UTF8PROC_CATEGORY_ND: case UTF8PROC_CATEGORY_PC:
      return true;
    case UTF8PROC_CATEGORY_CN:
      // The Unicode 16 additions above are letters and decimal digits (Nd).
      if (unicode16_class(cp) != 0) return true;
      break;
    default:
      break;
  }
  // Join_Control, and the Other_Alphabetic code points that are symbols (circled and squared
  // Latin letters); the rest of Other_Alphabetic is marks, covered above.
  return cp == 0x200C || cp == 0x200D || (cp >= 0x24B6 && cp <= 0x24E9) ||
         (cp >= 0x1F130 && cp <= 0x1F149) || (cp >= 0x1F150 && cp <= 0x1F169) ||
         (cp >= 0x1F170 && cp <= 0x1F189);
}

namespace {

// Characters with a decomposition in utf8proc's Unicode 15 that HF tokenizers' normalization
// tables (unicode-normalization-alignments, about Unicode 12) do not have: HF leaves them as they
// are. All are starters (combining class 0) that compose with nothing there, so normalizing the
// text between them separately is exactly HF's result. Found by normalizing every code point
// with both libraries.
constexpr std::pair<char32_t, char32_t> kHfUndecomposed[] = {
    {0x32FF, 0x32FF},   {0xA7F2, 0xA7F4},   {0xAB69, 0xAB69},   {0x10781, 0x10785},
    {0x10787, 0x107B0}, {0x107B2, 0x107BA}, {0x11938, 0x11938}, {0x1E030, 0x1E06D},
    {0x1F16C, 0x1F16C}, {0x1FBF0, 0x1FBF9},
};

bool hf_undecomposed(char32_t cp) {
  if (cp < 0x32FF) return false;
  for (const auto& [first, last] : kHfUndecomposed)
    if (cp >= first && cp <= last) return true;
  return false;
}

std::string utf8proc_normalize(std::string_view s, int options) {
  if (s.empty()) return {};
  // utf8proc_map with an explicit length (no UTF8PROC_NULLTERM), so U+0000 inside text survives.
  utf8proc_uint8_t* out = nullptr;
  const utf8proc_ssize_t n =
      utf8proc_map(reinterpret_cast<const utf8proc_uint8_t*>(s.data()),
                   static_cast<utf8proc_ssize_t>(s.size()), &out,
                   static_cast<utf8proc_option_t>(options));
  std::unique_ptr<utf8proc_uint8_t, decltype(&std::free)> owned(out, &std::free);
  if (n < 0) throw InputError("tokenizer", std::string("normalization failed: ") + utf8proc_errmsg(n));
  return std::string(reinterpret_cast<const char*>(out), static_cast<std::size_t>(n));
}

}  // namespace

std::string normalize(std::string_view s, NormalForm form) {
  if (s.empty()) return {};
  int options = UTF8PROC_STABLE;
  switch (form) {
    case NormalForm::NFC: options |= UTF8PROC_COMPOSE; break;
    case NormalForm::NFD: options |= UTF8PROC_DECOMPOSE; break;
    case NormalForm::NFKC: options |= UTF8PROC_COMPOSE | UTF8PROC_COMPAT; break;
    case NormalForm::NFKD: options |= UTF8PROC_DECOMPOSE | UTF8PROC_COMPAT; break;
  }
  std::string out;
  std::size_t segment = 0;
  for (std::size_t pos = 0; pos < s.size();) {
    const std::size_t at = pos;
    if (!hf_undecomposed(utf8_next(s, pos))) continue;
    out += utf8proc_normalize(s.substr(segment, at - segment), options);
    out.append(s.substr(at, pos - at));
    segment = pos;
  }
  out += utf8proc_normalize(s.substr(segment), options);
  return out;
}

namespace {

// Lowercase mappings newer than utf8proc's Unicode 15 that Rust's char::to_lowercase (which HF's
// Lowercase uses) has: code points in [first, last] map to cp + delta, found like the above.
struct LowerRange {
  char32_t first, last;
  int32_t delta;
};
constexpr LowerRange kNewerLowercase[] = {
    {0x1C89, 0x1C89, 1},          {0xA7CB, 0xA7CB, 0x264 - 0xA7CB}, {0xA7CC, 0xA7CC, 1},
    {0xA7CE, 0xA7CE, 1},          {0xA7D2, 0xA7D2, 1},              {0xA7D4, 0xA7D4, 1},
    {0xA7DA, 0xA7DA, 1},          {0xA7DC, 0xA7DC, 0x19B - 0xA7DC}, {0x10D50, 0x10D65, 0x20},
    {0x16EA0, 0x16EB8, 0x1B},
};

char32_t to_lower(char32_t cp) {
  for (const LowerRange& r : kNewerLowercase)
    if (cp >= r.first && cp <= r.last) return char32_t(int32_t(cp) + r.delta);
  return static_cast<char32_t>(utf8proc_tolower(static_cast<utf8proc_int32_t>(cp)));
}

}  // namespace

std::string lowercase(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (std::size_t pos = 0; pos < s.size();) {
    const char32_t cp = utf8_next(s, pos);
    if (cp == 0x130) {
      // The only unconditional one-to-many lowercase mapping (SpecialCasing.txt): İ -> i + U+0307.
      out += "i\xCC\x87";
      continue;
    }
    utf8_append(out, to_lower(cp));
  }
  return out;
}

}  // namespace ms::tok
