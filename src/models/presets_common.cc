// Shapes shared by every architecture's `tiny` (tests) and `small` (~100M parameters: demo and
// CPU benchmarks) presets.
#include <nlohmann/json.hpp>

namespace khub {

nlohmann::json tiny_preset_common() {
  return {{"vocab_size", 256},        {"hidden_size", 64},
          {"intermediate_size", 128}, {"num_hidden_layers", 2},
          {"num_attention_heads", 4}, {"num_key_value_heads", 2},
          {"head_dim", 16},           {"max_position_embeddings", 512},
          {"rms_norm_eps", 1e-6},     {"tie_word_embeddings", false},
          {"bos_token_id", 1},        {"eos_token_id", 2}};
}

nlohmann::json small_preset_common() {
  // 12 × (attention 1.57M + MLP 4.72M) + 24.6M tied embeddings ≈ 100M parameters.
  return {{"vocab_size", 32000},
          {"hidden_size", 768},
          {"intermediate_size", 2048},
          {"num_hidden_layers", 12},
          {"num_attention_heads", 12},
          {"num_key_value_heads", 4},
          {"head_dim", 64},
          {"max_position_embeddings", 4096},
          {"rms_norm_eps", 1e-6},
          {"rope_theta", 10000.0},
          {"tie_word_embeddings", true},
          {"bos_token_id", 1},
          {"eos_token_id", 2}};
}

}  // namespace khub
