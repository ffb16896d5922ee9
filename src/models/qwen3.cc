// Qwen3 (Qwen3ForCausalLM): Llama wiring plus RMSNorm over head_dim on q and k before rotary
// (q_norm / k_norm), optional attention bias, Qwen's sliding-window rule.
#include "models/arch.h"

namespace khub {

nlohmann::json small_preset_common();
nlohmann::json tiny_preset_common();
void qwen_layer_types(const nlohmann::json& j, ModelConfig& c);

namespace {

void apply(const nlohmann::json& j, ModelConfig& c) {
  c.qkv_bias = c.o_bias = config_fields::get_bool(j, "attention_bias", false);
  c.qk_norm = true;
  c.head_dim = config_fields::get_int(j, "head_dim", 128);
  qwen_layer_types(j, c);
}

nlohmann::json qwen3_06b() {
  return {{"vocab_size", 151936},
          {"hidden_size", 1024},
          {"intermediate_size", 3072},
          {"num_hidden_layers", 28},
          {"num_attention_heads", 16},
          {"num_key_value_heads", 8},
          {"head_dim", 128},
          {"max_position_embeddings", 40960},
          {"rope_theta", 1000000.0},
          {"sliding_window", nullptr},
          {"use_sliding_window", false},
          {"max_window_layers", 28},
          {"rms_norm_eps", 1e-6},
          {"tie_word_embeddings", true},
          {"bos_token_id", 151643},
          {"eos_token_id", 151645},
          {"hidden_act", "silu"},
          {"attention_bias", false}};
}

}  // namespace

const ArchSpec& qwen3_arch() {
  static const ArchSpec spec{"Qwen3ForCausalLM",
                             "qwen3",
                             apply,
                             {{"tiny", tiny_preset_common(), DType::kF32},
                              {"small", small_preset_common(), DType::kBF16},
                              {"qwen3-0.6b", qwen3_06b(), DType::kBF16}}};
  return spec;
}

}  // namespace khub
