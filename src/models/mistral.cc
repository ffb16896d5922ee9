// Mistral (MistralForCausalLM): Llama wiring with a sliding window on every layer when the config
// sets `sliding_window` (null in v0.2+ checkpoints).
#include "models/arch.h"

namespace khub {

nlohmann::json small_preset_common();
nlohmann::json tiny_preset_common();

namespace {

void apply(const nlohmann::json& j, ModelConfig& c) { c.qkv_bias = c.o_bias = false; }

nlohmann::json mistral_7b() {
  return {{"vocab_size", 32768},
          {"hidden_size", 4096},
          {"intermediate_size", 14336},
          {"num_hidden_layers", 32},
          {"num_attention_heads", 32},
          {"num_key_value_heads", 8},
          {"head_dim", 128},
          {"max_position_embeddings", 32768},
          {"rope_theta", 1000000.0},
          {"sliding_window", nullptr},
          {"rms_norm_eps", 1e-5},
          {"tie_word_embeddings", false},
          {"bos_token_id", 1},
          {"eos_token_id", 2},
          {"hidden_act", "silu"}};
}

nlohmann::json tiny() {
  auto j = tiny_preset_common();
  j["sliding_window"] = 8;
  return j;
}

}  // namespace

const ArchSpec& mistral_arch() {
  static const ArchSpec spec{"MistralForCausalLM",
                             "mistral",
                             apply,
                             {{"tiny", tiny(), DType::kF32},
                              {"small", small_preset_common(), DType::kBF16},
                              {"mistral-7b", mistral_7b(), DType::kBF16}}};
  return spec;
}

}  // namespace khub
