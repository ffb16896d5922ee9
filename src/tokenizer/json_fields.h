// Reading tokenizer.json fields with errors that name the field's path (e.g.
// "tokenizer.json: pre_tokenizer.pretokenizers[1].behavior: expected a string").
#pragma once

#include <nlohmann/json.hpp>

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/error.h"

namespace khub::tok {

using Json = nlohmann::json;

[[noreturn]] inline void json_fail(const std::string& path, std::string_view msg) {
  fail(ErrorKind::kFormat, "tokenizer.json: ", path, ": ", msg);
}

inline const Json& json_field(const Json& j, const std::string& path, const char* key) {
  if (!j.is_object()) json_fail(path, "expected an object");
  auto it = j.find(key);
  if (it == j.end()) json_fail(path + "." + key, "missing");
  return *it;
}

inline std::string json_string(const Json& j, const std::string& path, const char* key) {
  const Json& v = json_field(j, path, key);
  if (!v.is_string()) json_fail(path + "." + key, "expected a string");
  return v.get<std::string>();
}

inline std::string json_string_or(const Json& j, const std::string& path, const char* key,
                                  std::string fallback) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return fallback;
  if (!it->is_string()) json_fail(path + "." + key, "expected a string");
  return it->get<std::string>();
}

inline bool json_bool_or(const Json& j, const std::string& path, const char* key, bool fallback) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return fallback;
  if (!it->is_boolean()) json_fail(path + "." + key, "expected true or false");
  return it->get<bool>();
}

inline long long json_int_or(const Json& j, const std::string& path, const char* key,
                             long long fallback) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return fallback;
  if (!it->is_number_integer()) json_fail(path + "." + key, "expected an integer");
  return it->get<long long>();
}

inline const Json& json_array(const Json& j, const std::string& path, const char* key) {
  const Json& v = json_field(j, path, key);
  if (!v.is_array()) json_fail(path + "." + key, "expected an array");
  return v;
}

// The component's "type" field.
inline std::string json_type(const Json& j, const std::string& path) {
  return json_string(j, path, "type");
}

// A {"String": s} or {"Regex": r} pattern; returns true for a regex.
inline bool json_pattern(const Json& j, const std::string& path, std::string* out) {
  const Json& p = json_field(j, path, "pattern");
  if (p.is_object() && p.contains("String") && p["String"].is_string()) {
    *out = p["String"].get<std::string>();
    return false;
  }
  if (p.is_object() && p.contains("Regex") && p["Regex"].is_string()) {
    *out = p["Regex"].get<std::string>();
    return true;
  }
  json_fail(path + ".pattern", "expected {\"String\": ...} or {\"Regex\": ...}");
}

// The parts of a "Sequence" component (normalizer, pre-tokenizer, post-processor, decoder): each
// element of the array j[key] made by `make(element, path)`; a null result (a component khub
// runs as a no-op) is left out.
template <typename T, typename Make>
std::vector<std::unique_ptr<T>> make_sequence_parts(const Json& j, const std::string& path,
                                                    const char* key, Make make) {
  const Json& arr = json_array(j, path, key);
  std::vector<std::unique_ptr<T>> parts;
  for (size_t i = 0; i < arr.size(); ++i) {
    std::unique_ptr<T> part = make(arr[i], path + "." + key + "[" + std::to_string(i) + "]");
    if (part) parts.push_back(std::move(part));
  }
  return parts;
}

}  // namespace khub::tok
