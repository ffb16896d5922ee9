// Quoting untrusted names (tensor names, JSON keys, shard file names) for error messages: the name
// comes from a file that may be hostile, so control bytes are escaped (no terminal escapes, no
// fake log lines) and very long names are cut (a 50 MB key must not become a 50 MB message).
#pragma once

#include <cstdio>
#include <string>
#include <string_view>

namespace khub {

inline std::string quote_untrusted(std::string_view text, size_t max_chars = 160) {
  std::string out = "'";
  size_t n = text.size() < max_chars ? text.size() : max_chars;
  for (size_t i = 0; i < n; ++i) {
    unsigned char c = static_cast<unsigned char>(text[i]);
    if (c == '\'' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c < 0x20 || c == 0x7f) {
      char buf[8];
      std::snprintf(buf, sizeof(buf), "\\x%02x", c);
      out += buf;
    } else {
      out += static_cast<char>(c);
    }
  }
  out += '\'';
  if (n < text.size()) out += "... (" + std::to_string(text.size()) + " bytes)";
  return out;
}

}  // namespace khub
