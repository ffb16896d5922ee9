// Environment switches of the khub-community kernels, by the rule of khub's core/env.h (kernels
// are separate libraries and cannot link khub's core):
//
//   unset or ""                   the switch's default
//   1, true, on, yes (any case)   true          0, false, off, no (any case)   false
//   integers: decimal, inside the getter's [min, max]
//
// Kernels never throw or exit, so a malformed value falls back to the default and says so once on
// stderr (naming the variable, the value and what was expected). docs/environment.md lists the
// variables. Read them once and cache the answer: these calls take the environment's lock.
#ifndef KHUB_KERNELS_COMMON_KHUB_ENV_H_
#define KHUB_KERNELS_COMMON_KHUB_ENV_H_

#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <initializer_list>

namespace khub_env {

// The value of `name`, or nullptr when it is unset or empty.
inline const char* get(const char* name) {
  const char* v = std::getenv(name);
  return (v == nullptr || *v == '\0') ? nullptr : v;
}

inline bool equals_ignoring_case(const char* a, const char* b) {
  for (; *a != '\0' && *b != '\0'; ++a, ++b) {
    if (std::tolower(static_cast<unsigned char>(*a)) !=
        std::tolower(static_cast<unsigned char>(*b)))
      return false;
  }
  return *a == *b;
}

inline bool flag(const char* name, bool fallback) {
  const char* v = get(name);
  if (v == nullptr) return fallback;
  for (const char* t : {"1", "true", "on", "yes"})
    if (equals_ignoring_case(v, t)) return true;
  for (const char* f : {"0", "false", "off", "no"})
    if (equals_ignoring_case(v, f)) return false;
  std::fprintf(stderr,
               "[khub kernels] %s='%.40s' is not one of 1, ON, YES, TRUE, 0, OFF, NO, FALSE; "
               "using %s\n",
               name, v, fallback ? "1" : "0");
  return fallback;
}

inline long long integer(const char* name, long long fallback, long long min, long long max) {
  const char* v = get(name);
  if (v == nullptr) return fallback;
  char* end = nullptr;
  errno = 0;
  long long n = std::strtoll(v, &end, 10);
  if (end == v || *end != '\0' || errno == ERANGE || n < min || n > max) {
    std::fprintf(stderr, "[khub kernels] %s='%.40s' is not an integer in %lld..%lld; using %lld\n",
                 name, v, min, max, fallback);
    return fallback;
  }
  return n;
}

}  // namespace khub_env

#endif  // KHUB_KERNELS_COMMON_KHUB_ENV_H_
