// The manifest a kernel library reports (include/khub/kernel_abi.h §2): validated field by field
// before khub trusts any of it, converted into owning C++ descriptions, and serialized to the JSON
// that metadata.json carries (so the builder's record and the library can be compared).
#pragma once

#include <cstdint>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/dtype.h"
#include "khub/kernel_abi.h"

namespace khub::loader {

struct ArgInfo {
  std::string name;
  khub_arg_role role = KHUB_ARG_INPUT;
  std::string dtypes_text;    // as declared: "f32,bf16" or "same:x"
  std::vector<DType> dtypes;  // empty when same_as is set
  std::string same_as;        // "x" for "same:x"
  int32_t ndim = -1;
  uint32_t flags = 0;
  bool optional() const { return flags & KHUB_ARG_OPTIONAL; }
  bool contiguous() const { return flags & KHUB_ARG_CONTIGUOUS; }
};

struct AttrInfo {
  std::string name;
  khub_value_kind kind = KHUB_VALUE_NONE;
  bool required = false;
  khub_value default_value{};  // for STRING, default_string owns the text
  std::string default_string;
};

struct FunctionInfo {
  std::string name;
  std::string symbol;
  std::vector<ArgInfo> args;
  std::vector<AttrInfo> attrs;
  std::vector<DType> dtypes;
  std::string dtypes_text;
  uint32_t flags = 0;
  khub_workspace_fn workspace_size = nullptr;
  nlohmann::json constraints = nlohmann::json::object();
};

struct LayerInfo {
  std::string name;
  std::string forward;
  std::string backward;  // "" when none
  uint32_t flags = 0;
  bool has_backward() const { return flags & KHUB_LAYER_HAS_BACKWARD; }
  bool can_capture() const { return flags & KHUB_LAYER_CAN_CAPTURE; }
};

struct ManifestInfo {
  uint32_t abi_major = 0;
  uint32_t abi_minor = 0;
  std::string kernel_name;
  std::string backend;
  std::vector<FunctionInfo> functions;
  std::vector<LayerInfo> layers;

  const FunctionInfo* function(const std::string& name) const;
  const LayerInfo* layer(const std::string& name) const;
};

// Checks the ABI version first (refusing another major, or a newer minor than this runtime, with
// both numbers in the message), then every field: struct sizes, names (identifiers, unique), roles,
// dtype lists, attribute kinds and defaults, flags (no unknown bits), constraints (a JSON object),
// layers naming existing forward/backward functions, has-backward iff a backward is named, and
// can-capture layers calling only can-capture functions. Throws Error(kVerification) prefixed
// with `where`.
ManifestInfo validate_manifest(const khub_manifest* manifest, const std::string& where);

// The JSON form stored in metadata.json "manifest".
nlohmann::json manifest_to_json(const ManifestInfo& m);

// The function symbols a metadata.json manifest declares (validated as C identifiers). Throws
// Error(kFormat) when the JSON is not a manifest.
std::set<std::string> manifest_json_symbols(const nlohmann::json& manifest,
                                            const std::string& where);

// The manifest's names of an argument role ("input", "param", "output", "inout") and of a value
// kind ("none", "int", "float", "bool", "string"), as metadata.json and signatures print them;
// nullptr for a number outside the enum.
const char* arg_role_name(int32_t role);
const char* value_kind_name(int32_t kind);

// "f32,bf16" -> {kF32, kBF16}; throws Error(kVerification) naming an unknown dtype.
std::vector<DType> parse_dtype_list(const std::string& text, const std::string& where);

}  // namespace khub::loader
