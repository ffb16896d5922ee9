#include "core/error.h"

namespace khub {

std::string_view error_kind_name(ErrorKind kind) {
  switch (kind) {
    case ErrorKind::kInvalidArgument:
      return "invalid argument";
    case ErrorKind::kNotFound:
      return "not found";
    case ErrorKind::kFormat:
      return "format error";
    case ErrorKind::kIo:
      return "I/O error";
    case ErrorKind::kUnsupported:
      return "unsupported";
    case ErrorKind::kNetwork:
      return "network error";
    case ErrorKind::kVerification:
      return "verification failed";
    case ErrorKind::kKernel:
      return "kernel error";
    case ErrorKind::kInternal:
      return "internal error";
  }
  return "error";
}

std::string printable_excerpt(std::string_view text, size_t max) {
  static const char* hex = "0123456789abcdef";
  std::string out;
  for (unsigned char c : text.substr(0, max)) {
    if (c >= 0x20 && c < 0x7f) {
      out += static_cast<char>(c);
    } else {
      out += "\\x";
      out += hex[c >> 4];
      out += hex[c & 15];
    }
  }
  if (text.size() > max) out += "...";
  return out;
}

}  // namespace khub
