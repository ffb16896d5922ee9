// Qwen2 (Qwen2ForCausalLM): Llama wiring with biases on q/k/v (never on o); sliding windows only
// when `use_sliding_window`, on layers at or above `max_window_layers`.
#include "models/arch.h"

namespace khub {

nlohmann::json small_preset_common();
nlohmann::json tiny_preset_common();

// Shared with qwen3.cc: Qwen's layer_types rule.
void qwen_layer_types(const nlohmann::json& j, ModelConfig& c) {
  using namespace config_fields;
  bool use = get_bool(j, "use_sliding_window", false);
  int64_t max_window_layers = get_int(j, "max_window_layers", c.num_hidden_layers);
  c.layer_types.clear();
  for (int64_t i = 0; i < c.num_hidden_layers; ++i) {
    bool sliding = use && c.sliding_window > 0 && i >= max_window_layers;
    c.layer_types.push_back(sliding ? LayerAttention::kSliding : LayerAttention::kFull);
  }
}

namespace {

void apply(const nlohmann::json& j, ModelConfig& c) {
  c.qkv_bias = true;
  c.o_bias = false;
  qwen_layer_types(j, c);
}

nlohmann::json qwen25_05b() {
  return {{"vocab_size", 151936},
          {"hidden_size", 896},
          {"intermediate_size", 4864},
          {"num_hidden_layers", 24},
          {"num_attention_heads", 14},
          {"num_key_value_heads", 2},
          {"max_position_embeddings", 32768},
          {"rope_theta", 1000000.0},
          {"sliding_window", 32768},
          {"use_sliding_window", false},
          {"max_window_layers", 24},
          {"rms_norm_eps", 1e-6},
          {"tie_word_embeddings", true},
          {"bos_token_id", 151643},
          {"eos_token_id", 151643},
          {"hidden_act", "silu"}};
}

}  // namespace

const ArchSpec& qwen2_arch() {
  static const ArchSpec spec{"Qwen2ForCausalLM",
                             "qwen2",
                             apply,
                             {{"tiny", tiny_preset_common(), DType::kF32},
                              {"small", small_preset_common(), DType::kBF16},
                              {"qwen2.5-0.5b", qwen25_05b(), DType::kBF16}}};
  return spec;
}

}  // namespace khub
