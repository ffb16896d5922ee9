// Random-weight Hugging Face checkpoints for `khub init-model`: config.json plus safetensors
// (sharded above 2 GB per file, as transformers does), reproducible from a seed. Each tensor's
// values depend only on (seed, tensor name), never on write order.
#pragma once

#include <cstdint>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>

#include "core/dtype.h"
#include "models/config.h"

namespace khub {

struct InitModelOptions {
  std::string arch;    // architecture, model_type or short name ("qwen3")
  std::string preset;  // "tiny", "small", or a real model's shapes ("qwen3-0.6b", ...)
  nlohmann::json overrides = nlohmann::json::object();  // config.json fields to override
  std::string dtype;  // "" = the preset's default; else f32, bf16, f16
  uint64_t seed = 0;
  uint64_t max_shard_bytes = 2ull << 30;
  bool byte_tokenizer = true;  // write the byte-level tokenizer.json where it fits (below)
  // Called after each tensor is produced for writing: weight bytes so far and in all (progress).
  std::function<void(uint64_t done, uint64_t total)> on_progress = nullptr;
};

// The config.json document for the options (validated by parsing it).
nlohmann::json init_model_config(const InitModelOptions& o);
// Writes out_dir/config.json, the weights and, where the vocabulary has room for it beside the
// special ids, a byte-level tokenizer.json (init_tokenizer.cc); returns the parsed config.
ModelConfig write_random_checkpoint(const InitModelOptions& o, const std::string& out_dir);
std::string list_presets();

}  // namespace khub
