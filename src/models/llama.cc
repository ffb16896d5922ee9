// Llama (LlamaForCausalLM): RMSNorm, rotary (incl. llama3 scaling), GQA, SiLU-gated MLP; optional
// attention and MLP biases.
#include "models/arch.h"

namespace khub {
namespace {

using namespace config_fields;

void apply(const nlohmann::json& j, ModelConfig& c) {
  c.qkv_bias = c.o_bias = get_bool(j, "attention_bias", false);
  c.mlp_bias = get_bool(j, "mlp_bias", false);
}

nlohmann::json llama32_1b() {
  return {{"vocab_size", 128256},
          {"hidden_size", 2048},
          {"intermediate_size", 8192},
          {"num_hidden_layers", 16},
          {"num_attention_heads", 32},
          {"num_key_value_heads", 8},
          {"head_dim", 64},
          {"max_position_embeddings", 131072},
          {"rope_theta", 500000.0},
          {"rope_scaling",
           {{"rope_type", "llama3"},
            {"factor", 32.0},
            {"low_freq_factor", 1.0},
            {"high_freq_factor", 4.0},
            {"original_max_position_embeddings", 8192}}},
          {"rms_norm_eps", 1e-5},
          {"tie_word_embeddings", true},
          {"bos_token_id", 128000},
          {"eos_token_id", 128001},
          {"hidden_act", "silu"}};
}

}  // namespace

nlohmann::json small_preset_common();
nlohmann::json tiny_preset_common();

const ArchSpec& llama_arch() {
  static const ArchSpec spec{"LlamaForCausalLM",
                             "llama",
                             apply,
                             {{"tiny", tiny_preset_common(), DType::kF32},
                              {"small", small_preset_common(), DType::kBF16},
                              {"llama-3.2-1b", llama32_1b(), DType::kBF16}}};
  return spec;
}

}  // namespace khub
