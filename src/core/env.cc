#include "core/env.h"

#include <cctype>
#include <cerrno>
#include <cstdlib>

#include "core/error.h"

namespace khub::env {

std::optional<std::string> get(const char* name) {
  const char* v = std::getenv(name);
  if (v == nullptr || *v == '\0') return std::nullopt;
  return std::string(v);
}

std::optional<std::string> raw(const char* name) {
  const char* v = std::getenv(name);
  if (v == nullptr) return std::nullopt;
  return std::string(v);
}

std::string string(const char* name, const std::string& fallback) {
  return get(name).value_or(fallback);
}

bool parse_flag(const std::string& name, const std::string& value) {
  std::string v = value;
  for (char& c : v) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (v == "1" || v == "true" || v == "on" || v == "yes") return true;
  if (v == "0" || v == "false" || v == "off" || v == "no") return false;
  fail(ErrorKind::kInvalidArgument, name, "='", value,
       "' is not one of 1, ON, YES, TRUE, 0, OFF, NO, FALSE (any case)");
}

bool flag(const char* name, bool fallback) {
  std::optional<std::string> v = get(name);
  return v ? parse_flag(name, *v) : fallback;
}

int64_t integer(const char* name, int64_t fallback, int64_t min, int64_t max) {
  std::optional<std::string> v = get(name);
  if (!v) return fallback;
  char* end = nullptr;
  errno = 0;
  long long n = std::strtoll(v->c_str(), &end, 10);
  if (end == v->c_str() || *end != '\0' || errno == ERANGE || n < min || n > max) {
    fail(ErrorKind::kInvalidArgument, name, "='", *v, "' is not an integer in ", min, "..", max);
  }
  return n;
}

double number(const char* name, double fallback, double min) {
  std::optional<std::string> v = get(name);
  if (!v) return fallback;
  char* end = nullptr;
  errno = 0;
  double x = std::strtod(v->c_str(), &end);
  if (end == v->c_str() || *end != '\0' || errno == ERANGE || !(x >= min)) {
    fail(ErrorKind::kInvalidArgument, name, "='", *v, "' is not a number >= ", min);
  }
  return x;
}

std::filesystem::path user_cache_dir() {
  if (std::optional<std::string> x = get("XDG_CACHE_HOME")) return *x;
  if (std::optional<std::string> h = get("HOME")) return std::filesystem::path(*h) / ".cache";
  return {};
}

std::filesystem::path hf_home() {
  if (std::optional<std::string> v = get("HF_HOME")) return *v;
  std::filesystem::path cache = user_cache_dir();
  return cache.empty() ? cache : cache / "huggingface";
}

}  // namespace khub::env
