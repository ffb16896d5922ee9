#include "hub/ref/hex.h"

#include <algorithm>

#include "core/error.h"

namespace khub::hub::net {

std::string to_hex(std::string_view raw) {
  static const char* digits = "0123456789abcdef";
  std::string out;
  out.reserve(raw.size() * 2);
  for (unsigned char c : raw) {
    out += digits[c >> 4];
    out += digits[c & 15];
  }
  return out;
}

namespace {
int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}
}  // namespace

bool is_hex(std::string_view s, size_t len) {
  if (s.size() != len) return false;
  return std::all_of(s.begin(), s.end(), [](char c) { return hex_value(c) >= 0; });
}

std::string from_hex(std::string_view hex) {
  if (hex.size() % 2) fail(ErrorKind::kFormat, "hex string of odd length: '", hex, "'");
  std::string out;
  out.reserve(hex.size() / 2);
  for (size_t i = 0; i < hex.size(); i += 2) {
    int hi = hex_value(hex[i]), lo = hex_value(hex[i + 1]);
    if (hi < 0 || lo < 0) fail(ErrorKind::kFormat, "not a hex string: '", hex, "'");
    out += static_cast<char>(hi * 16 + lo);
  }
  return out;
}

}  // namespace khub::hub::net
