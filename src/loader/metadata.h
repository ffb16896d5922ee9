// metadata.json of one variant (docs/design.md §4; HF's schema in research/hf-kernels.md §2.5):
// kebab-case keys, unknown keys ignored so newer writers stay readable. khub adds `library` (the
// kernel library's file name), `source-digest` (what the builder hashed) and `manifest` (the
// library's functions and layers, which must equal what the library itself reports).
#pragma once

#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "loader/variant.h"

namespace khub::loader {

struct DigestSpec {
  std::string algorithm;                     // "sha256" or "sha512"
  std::map<std::string, std::string> files;  // relative path -> hash (base64, or hex)
};

struct Provenance {
  std::string commit;         // source commit, "" when unknown
  std::optional<bool> dirty;  // the source tree had uncommitted changes
  std::string builder;        // "khub 0.1.0", "kernel-builder 0.9.0"
};

struct VariantMetadata {
  std::string name;  // ^[a-z][-a-z0-9]*[a-z0-9]$
  std::string id;    // unique per build
  int version = 0;   // major version (the vN branch)
  std::string license;
  BackendKind backend = BackendKind::kCpu;
  std::vector<std::string> archs;  // backend.archs, validated per backend
  std::string min_runtime;         // backend.min-runtime, "" when absent ("13.0", "26.0" Metal)
  std::optional<DigestSpec> digest;
  Provenance provenance;
  std::string library;        // khub: kernel library file name inside the variant
  std::string source_digest;  // khub: builder input digest
  std::string repo_id;        // khub: where `khub publish` puts it by default ("org/repo")
  nlohmann::json manifest;    // khub: null when absent
};

// Parses metadata.json text. `where` names the file in errors. Throws Error(kFormat) naming the
// key and what was expected.
VariantMetadata parse_metadata(const std::string& text, const std::string& where);
// Reads and parses `<variant_dir>/metadata.json`; Error(kNotFound) when it is missing.
VariantMetadata read_metadata(const std::filesystem::path& variant_dir, std::string* raw = nullptr);
// Serializes (keys in a fixed order; what the builder writes).
nlohmann::ordered_json metadata_to_json(const VariantMetadata& md);
// Whether `name` is a valid kernel name (^[a-z][-a-z0-9]*[a-z0-9]$).
bool is_valid_kernel_name(const std::string& name);

}  // namespace khub::loader
