// Errors inside khub: one exception type carrying a kind, so callers (the CLI, the C ABI boundary,
// kernelize's fallback logic) can tell a user's mistake from a missing file or a broken kernel.
// Library code never exits; it throws khub::Error, and C boundaries turn it into status + message.
#pragma once

#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>

namespace khub {

enum class ErrorKind {
  kInvalidArgument,  // a value the caller passed is wrong (names the value and what was expected)
  kNotFound,         // a file, tensor, repo, revision, variant or key does not exist
  kFormat,           // malformed input data: safetensors, JSON, tokenizer.json, metadata.json
  kIo,               // the OS refused: open, read, mmap, rename
  kUnsupported,      // valid but not implemented here (an arch, a dtype on a device)
  kNetwork,          // HTTP hub failures after retries
  kVerification,     // digests, signatures, ABI versions, manifests
  kKernel,           // a loaded kernel returned an error status
  kInternal,         // a broken invariant inside khub: a bug
};

std::string_view error_kind_name(ErrorKind kind);

class Error : public std::runtime_error {
 public:
  Error(ErrorKind kind, const std::string& message) : std::runtime_error(message), kind_(kind) {}
  ErrorKind kind() const { return kind_; }

 private:
  ErrorKind kind_;
};

namespace detail {
template <typename... Args>
std::string concat(const Args&... args) {
  std::ostringstream os;
  (os << ... << args);
  return os.str();
}
}  // namespace detail

// Throws Error(kind, concatenation of args).
template <typename... Args>
[[noreturn]] void fail(ErrorKind kind, const Args&... args) {
  throw Error(kind, detail::concat(args...));
}

}  // namespace khub

// Internal invariant: a failure is a bug in khub, reported with the source location.
#define KHUB_ICHECK(cond, ...)                                                 \
  do {                                                                         \
    if (!(cond))                                                               \
      ::khub::fail(::khub::ErrorKind::kInternal, __FILE__, ":", __LINE__,      \
                   ": check `" #cond "` failed. " __VA_OPT__(, ) __VA_ARGS__); \
  } while (0)

// User-facing check: a failure is the caller's mistake; the message must name the value.
#define KHUB_CHECK_ARG(cond, ...)                                                \
  do {                                                                           \
    if (!(cond)) ::khub::fail(::khub::ErrorKind::kInvalidArgument, __VA_ARGS__); \
  } while (0)
