#include "core/toml_ascii.h"

#include <cstdint>
#include <cstdio>

#include "core/error.h"

namespace khub {

std::string toml_ascii(std::string_view text, const std::string& where) {
  enum { kCode, kComment, kBasic, kLiteral, kMultiBasic, kMultiLiteral } state = kCode;
  std::string out;
  out.reserve(text.size());
  size_t line = 1;
  auto bad = [&](const char* what) { fail(ErrorKind::kFormat, where, ":", line, ": ", what); };
  for (size_t i = 0; i < text.size(); ++i) {
    unsigned char ch = static_cast<unsigned char>(text[i]);
    if (ch == '\n') {
      ++line;
      // Comments and single-line strings end at a newline (an unterminated string is toml++'s
      // error to report).
      if (state == kComment || state == kBasic || state == kLiteral) state = kCode;
      out.push_back('\n');
      continue;
    }
    if (ch >= 0x80) {
      // Decode one UTF-8 sequence.
      int n = ch >= 0xf0 ? 3 : ch >= 0xe0 ? 2 : ch >= 0xc0 ? 1 : -1;
      if (n < 0 || ch > 0xf4) bad("invalid UTF-8");
      uint32_t cp = ch & (0x3f >> n);
      for (int k = 1; k <= n; ++k) {
        if (i + k >= text.size() || (static_cast<unsigned char>(text[i + k]) & 0xc0) != 0x80) {
          bad("invalid UTF-8");
        }
        cp = (cp << 6) | (static_cast<unsigned char>(text[i + k]) & 0x3f);
      }
      if (cp < 0x80 || (n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) || cp > 0x10ffff ||
          (cp >= 0xd800 && cp <= 0xdfff)) {
        bad("invalid UTF-8");
      }
      i += n;
      if (state == kComment) {
        out.push_back('?');
      } else if (state == kBasic || state == kMultiBasic) {
        char buf[16];
        std::snprintf(buf, sizeof(buf), cp > 0xffff ? "\\U%08X" : "\\u%04X", cp);
        out += buf;
      } else if (state == kCode) {
        bad("non-ASCII character outside a string or comment (TOML allows it only there)");
      } else {
        bad("non-ASCII character in a 'literal string'; use a \"basic string\"");
      }
      continue;
    }
    out.push_back(static_cast<char>(ch));
    switch (state) {
      case kCode:
        if (ch == '#') {
          state = kComment;
        } else if (ch == '"' || ch == '\'') {
          bool triple = text.compare(i, 3, ch == '"' ? "\"\"\"" : "\'\'\'") == 0;
          state = ch == '"' ? (triple ? kMultiBasic : kBasic) : (triple ? kMultiLiteral : kLiteral);
          if (triple) {
            out.append(2, static_cast<char>(ch));
            i += 2;
          }
        }
        break;
      case kComment:
        break;
      case kBasic:
      case kMultiBasic:
        if (ch == '\\' && i + 1 < text.size() && static_cast<unsigned char>(text[i + 1]) < 0x80) {
          if (text[i + 1] == '\n') ++line;
          out.push_back(text[++i]);  // the escaped character stays as it is
        } else if (state == kBasic && ch == '"') {
          state = kCode;
        } else if (state == kMultiBasic && text.compare(i, 3, "\"\"\"") == 0) {
          state = kCode;
          out.append(2, '"');
          i += 2;
        }
        break;
      case kLiteral:
        if (ch == '\'') state = kCode;
        break;
      case kMultiLiteral:
        if (text.compare(i, 3, "\'\'\'") == 0) {
          state = kCode;
          out.append(2, '\'');
          i += 2;
        }
        break;
    }
  }
  return out;
}

}  // namespace khub
