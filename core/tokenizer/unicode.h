// Unicode helpers for the tokenizer: strict UTF-8 decoding, the character classes the GPT-2 regex
// and the added-token word boundaries use, normalization forms and lowercasing. Tables come from
// utf8proc (Unicode 15); nothing here allocates tables of its own.
// Deliberately not here: grapheme clusters, case folding, locale-dependent casing.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace ms::tok {

// The byte offset of the first byte that does not start a well-formed UTF-8 sequence (overlong
// forms, surrogates and code points above U+10FFFF are ill-formed, as in Rust's `str`), or npos.
std::size_t utf8_first_invalid(std::string_view s);

// Decodes the code point at `pos` of valid UTF-8 and advances `pos` past it.
// Replaces each maximal ill-formed subsequence with U+FFFD, as Rust's String::from_utf8_lossy.
std::string utf8_lossy(std::string_view bytes);

char32_t utf8_next(std::string_view s, std::size_t& pos);
void utf8_append(std::string& out, char32_t cp);
std::u32string utf8_to_u32(std::string_view s);
std::string u32_to_utf8(std::u32string_view s);

// Oniguruma's \p{L} (Lu Ll Lt Lm Lo) and \p{N} (Nd Nl No).
bool is_letter(char32_t cp);
bool is_number(char32_t cp);
// The White_Space property, which is Oniguruma's (and Rust regex's) Unicode \s.
bool is_white_space(char32_t cp);
// Rust regex's Unicode \w: Alphabetic, marks, Nd, Pc and Join_Control.
bool is_word_char(char32_t cp);

enum class NormalForm { NFC, NFD, NFKC, NFKD };
// `s` must be valid UTF-8; embedded NULs are kept.
std::string normalize(std::string_view s, NormalForm form);
// Rust's char::to_lowercase per character: the full (one-to-many) mapping, no final-sigma rule.
std::string lowercase(std::string_view s);

}  // namespace ms::tok
