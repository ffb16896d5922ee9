// UTF-8 helpers shared by the tokenizer pipeline: decoding one code point, validation that names
// the offending byte offset, Rust-compatible lossy decoding (the semantics HF `tokenizers` uses
// when bytes are turned back into text), Unicode normalization and character classes via utf8proc.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace khub::tok {

// Decodes the code point starting at s[i] (which must be valid UTF-8) and returns its byte length.
inline int utf8_decode(std::string_view s, size_t i, char32_t* cp) {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data()) + i;
  if (p[0] < 0x80) {
    *cp = p[0];
    return 1;
  }
  if ((p[0] & 0xE0) == 0xC0) {
    *cp = ((p[0] & 0x1F) << 6) | (p[1] & 0x3F);
    return 2;
  }
  if ((p[0] & 0xF0) == 0xE0) {
    *cp = ((p[0] & 0x0F) << 12) | ((p[1] & 0x3F) << 6) | (p[2] & 0x3F);
    return 3;
  }
  *cp = ((p[0] & 0x07) << 18) | ((p[1] & 0x3F) << 12) | ((p[2] & 0x3F) << 6) | (p[3] & 0x3F);
  return 4;
}

// Length in bytes of the UTF-8 sequence that starts with byte b (1 for continuation bytes).
inline int utf8_len(unsigned char b) {
  if (b < 0x80) return 1;
  if ((b & 0xE0) == 0xC0) return 2;
  if ((b & 0xF0) == 0xE0) return 3;
  if ((b & 0xF8) == 0xF0) return 4;
  return 1;
}

void utf8_append(std::string& out, char32_t cp);

// Byte offset of the first invalid UTF-8 sequence (overlong forms, surrogates and code points
// above U+10FFFF are invalid), or npos when the whole string is valid.
size_t utf8_find_invalid(std::string_view s);
// Throws khub::Error(kInvalidArgument) naming `what` and the byte offset when s is not UTF-8.
void utf8_require_valid(std::string_view s, std::string_view what);

// Decodes bytes as UTF-8, replacing each maximal invalid subpart with U+FFFD (the rule of Rust's
// String::from_utf8_lossy, which HF decoders use).
std::string utf8_lossy(std::string_view bytes);
// True when the bytes end inside an incomplete (but so far valid) multi-byte sequence.
bool utf8_ends_incomplete(std::string_view bytes);

// Unicode normalization forms (utf8proc). Input must be valid UTF-8.
enum class NormalForm { kNFC, kNFD, kNFKC, kNFKD };
std::string unicode_normalize(std::string_view s, NormalForm form);
// Full lowercase mapping (per code point).
std::string unicode_lowercase(std::string_view s);
// Removes nonspacing marks (category Mn), as the StripAccents normalizer does after NFD.
std::string unicode_strip_accents(std::string_view s);

// Character classes with the meaning Rust's `char` methods give them (used by HF components).
bool is_whitespace(char32_t c);    // Unicode White_Space
bool is_alphanumeric(char32_t c);  // letters and numbers
bool is_punctuation(char32_t c);   // ASCII punctuation or general category P*
bool is_nonspacing_mark(char32_t c);

}  // namespace khub::tok
