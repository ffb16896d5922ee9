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

}  // namespace khub
