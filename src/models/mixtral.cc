// Mixtral (MixtralForCausalLM): Mistral's attention (a sliding window on every layer when the
// config sets one) with a mixture-of-experts MLP on every layer: softmax over num_local_experts,
// the top num_experts_per_tok renormalized. Experts are intermediate_size wide.
#include "models/arch.h"

namespace khub {

nlohmann::json tiny_preset_common();

namespace {

void apply(const nlohmann::json& j, ModelConfig& c) {
  using namespace config_fields;
  c.qkv_bias = c.o_bias = false;
  if (!is_set(j, "rope_theta")) c.rope.theta = 1000000.0;  // MixtralConfig's default
  c.moe.num_experts = get_int(j, "num_local_experts", 8);
  c.moe.top_k = get_int(j, "num_experts_per_tok", 2);
  c.moe.intermediate_size = c.intermediate_size;
  c.moe.renormalize = true;
  c.moe.sparse_layers.assign(c.num_hidden_layers, true);
}

nlohmann::json mixtral_8x7b() {
  return {{"vocab_size", 32000},
          {"hidden_size", 4096},
          {"intermediate_size", 14336},
          {"num_hidden_layers", 32},
          {"num_attention_heads", 32},
          {"num_key_value_heads", 8},
          {"head_dim", 128},
          {"num_local_experts", 8},
          {"num_experts_per_tok", 2},
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
  nlohmann::json j = tiny_preset_common();
  j["intermediate_size"] = 32;
  j["num_local_experts"] = 4;
  j["num_experts_per_tok"] = 2;
  return j;
}

}  // namespace

const ArchSpec& mixtral_arch() {
  static const ArchSpec spec{
      "MixtralForCausalLM",
      "mixtral",
      apply,
      {{"tiny", tiny(), DType::kF32}, {"mixtral-8x7b", mixtral_8x7b(), DType::kBF16}}};
  return spec;
}

}  // namespace khub
