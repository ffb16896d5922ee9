// Reading JSON files (config.json, model.safetensors.index.json, safetensors headers) with errors
// that name the file and the line and column, and with two checks nlohmann::json does not make by
// default: duplicate keys (nlohmann keeps the last one silently, so `{"a":1,"a":2}` would hide a
// corrupted or tampered entry) and nesting depth (a hostile file of a million `[` must not build
// a million-deep tree).
#pragma once

#include <filesystem>
#include <string_view>

#include <nlohmann/json.hpp>

namespace khub {

struct JsonParseOptions {
  bool reject_duplicate_keys = true;
  int max_depth = 512;
  // What the keys of the top-level object are ("tensor" for a safetensors header), so that a
  // duplicate reads "tensor 'w' appears twice" rather than a bare JSON path.
  const char* top_level_key_noun = nullptr;
};

// Parses text; source names it in errors. Throws Error(kFormat): "<source>: invalid JSON: ..." with
// the line and column, "<source>: duplicate key 'k' in the object at /a/b", or a depth error.
nlohmann::json parse_json(std::string_view text, std::string_view source,
                          const JsonParseOptions& options = {});

// Reads and parses a file. Throws Error(kNotFound) when it does not exist, Error(kIo) when it
// cannot be read, and parse_json's errors (with the path as the source).
nlohmann::json read_json_file(const std::filesystem::path& path,
                              const JsonParseOptions& options = {});

// Reads a whole file into a string, with the same error kinds as read_json_file.
std::string read_text_file(const std::filesystem::path& path);

// The name of a JSON value's type for messages: "object", "array", "string", "integer", ...
std::string_view json_type_name(const nlohmann::json& value);

}  // namespace khub
