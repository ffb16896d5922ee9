// Gemma 3 text (Gemma3ForCausalLM, model_type gemma3_text): (1 + weight) RMSNorm ("GemmaRMSNorm"
// layer key), sandwich norms around attention and MLP, q/k norms, embeddings scaled by
// sqrt(hidden), GELU-tanh MLP, query_pre_attn_scalar, interleaved sliding/global layers with a
// separate rope base for the sliding ones, optional final logit soft-capping.
#include <cmath>

#include "models/arch.h"

namespace khub {

nlohmann::json small_preset_common();
nlohmann::json tiny_preset_common();

namespace {

using namespace config_fields;

void apply(const nlohmann::json& j, ModelConfig& c) {
  c.gemma_norm = c.sandwich_norm = c.scale_embeddings = c.qk_norm = true;
  c.qkv_bias = c.o_bias = get_bool(j, "attention_bias", false);
  c.hidden_act =
      get_string(j, "hidden_activation", get_string(j, "hidden_act", "gelu_pytorch_tanh"));
  c.tie_word_embeddings = get_bool(j, "tie_word_embeddings", true);
  c.head_dim = get_int(j, "head_dim", 256);
  if (!is_set(j, "rope_theta")) c.rope.theta = 1000000.0;
  c.rope_local_base_freq = get_double(j, "rope_local_base_freq", 10000.0);
  if (!j.contains("sliding_window")) c.sliding_window = 4096;
  c.attention_scale = 1.0 / std::sqrt(get_double(j, "query_pre_attn_scalar", 256.0));
  // transformers' Gemma3 attention does not apply attn_logit_softcapping (Gemma 2 did): a config
  // that sets it gets the same logits with or without it (tests/fixtures/parity,
  // gemma3_window4_softcap, checked against transformers 5.17). Follow the reference.
  c.attn_logit_softcapping = 0.0f;
  int64_t pattern = get_int(j, "sliding_window_pattern", 6);
  c.layer_types.clear();
  for (int64_t i = 0; i < c.num_hidden_layers; ++i) {
    bool sliding = pattern > 0 && (i + 1) % pattern != 0;
    c.layer_types.push_back(sliding ? LayerAttention::kSliding : LayerAttention::kFull);
  }
}

nlohmann::json gemma3_1b() {
  return {{"vocab_size", 262144},
          {"hidden_size", 1152},
          {"intermediate_size", 6912},
          {"num_hidden_layers", 26},
          {"num_attention_heads", 4},
          {"num_key_value_heads", 1},
          {"head_dim", 256},
          {"max_position_embeddings", 32768},
          {"rope_theta", 1000000.0},
          {"rope_local_base_freq", 10000.0},
          {"sliding_window", 512},
          {"sliding_window_pattern", 6},
          {"query_pre_attn_scalar", 256},
          {"rms_norm_eps", 1e-6},
          {"tie_word_embeddings", true},
          {"bos_token_id", 2},
          {"eos_token_id", {1, 106}},
          {"hidden_activation", "gelu_pytorch_tanh"}};
}

nlohmann::json with_gemma_fields(nlohmann::json j, int64_t window) {
  j["sliding_window"] = window;
  j["sliding_window_pattern"] = 2;
  j["query_pre_attn_scalar"] = j["head_dim"];
  j["rope_local_base_freq"] = 10000.0;
  j["rope_theta"] = 1000000.0;
  j["hidden_activation"] = "gelu_pytorch_tanh";
  return j;
}

}  // namespace

const ArchSpec& gemma3_arch() {
  static const ArchSpec spec{
      "Gemma3ForCausalLM",
      "gemma3_text",
      apply,
      {{"tiny", with_gemma_fields(tiny_preset_common(), 8), DType::kF32},
       {"small", with_gemma_fields(small_preset_common(), 512), DType::kBF16},
       {"gemma-3-1b", gemma3_1b(), DType::kBF16}}};
  return spec;
}

}  // namespace khub
