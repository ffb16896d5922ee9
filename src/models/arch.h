// The architecture registry (docs/design.md §9): one file per architecture (models/<arch>.cc)
// describes its config defaults and traits and its init-model presets; the decoder wiring is
// shared.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "models/config.h"

namespace khub {

// A named set of shapes for `khub init-model` (the real shapes of released checkpoints, or small
// ones for tests and demos).
struct ModelPreset {
  std::string name;       // "tiny", "qwen3-0.6b", ...
  nlohmann::json config;  // config.json fields that override the architecture's defaults
  DType default_dtype = DType::kF32;
};

struct ArchSpec {
  std::string architecture;  // "Qwen3ForCausalLM"
  std::string model_type;    // "qwen3"
  // Fills architecture-specific defaults, traits and fields from config.json (common fields are
  // already parsed into c).
  void (*apply)(const nlohmann::json& j, ModelConfig& c) = nullptr;
  std::vector<ModelPreset> presets;
};

const std::vector<const ArchSpec*>& all_archs();
// By `architectures[0]`, else by `model_type`; also accepts a short name ("qwen3") for the CLI.
// Throws Error(kUnsupported) listing the supported architectures.
const ArchSpec& find_arch(const std::string& architecture_or_type);
std::string supported_archs_list();

// Defined in models/<arch>.cc.
const ArchSpec& llama_arch();
const ArchSpec& mistral_arch();
const ArchSpec& qwen2_arch();
const ArchSpec& qwen3_arch();
const ArchSpec& gemma3_arch();
const ArchSpec& qwen3_moe_arch();
const ArchSpec& mixtral_arch();
const ArchSpec& gpt_oss_arch();

// Checkpoint names of a mixture-of-experts block in the layout the Hub publishes:
// "model.layers.<i>.<block>.gate.weight" (the router) and
// "model.layers.<i>.<block>.experts.<e>.<gate|up|down>.weight".
struct MoeWeightNames {
  std::string block, gate, up, down;
};
MoeWeightNames moe_weight_names(const ModelConfig& c);

// Shared helpers for the arch files: typed access with defaults; errors name field and source.
namespace config_fields {
int64_t get_int(const nlohmann::json& j, const char* key, int64_t fallback);
double get_double(const nlohmann::json& j, const char* key, double fallback);
bool get_bool(const nlohmann::json& j, const char* key, bool fallback);
std::string get_string(const nlohmann::json& j, const char* key, const std::string& fallback);
bool is_set(const nlohmann::json& j, const char* key);  // present and not null
}  // namespace config_fields

}  // namespace khub
