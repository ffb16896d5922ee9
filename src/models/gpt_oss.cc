// gpt-oss (GptOssForCausalLM): attention with biases and a learned sink logit per head
// (self_attn.sinks), sliding-window and full layers alternating (layer_types; layer 0 sliding),
// yarn rope, and a mixture-of-experts MLP on every layer: a router with bias takes the top
// num_experts_per_tok logits and softmaxes them; experts (with biases) apply a clamped SwiGLU
// (alpha 1.702, swiglu_limit). Checkpoints store the experts fused (gate and up columns
// interleaved), in MXFP4 as published or unquantized as save_pretrained writes them.
#include "models/arch.h"

namespace khub {

nlohmann::json tiny_preset_common();

namespace {

void apply(const nlohmann::json& j, ModelConfig& c) {
  using namespace config_fields;
  c.qkv_bias = c.o_bias = get_bool(j, "attention_bias", true);
  c.attention_sinks = true;
  if (!is_set(j, "rope_theta")) c.rope.theta = 150000.0;  // GptOssConfig's default
  c.moe.num_experts = get_int(j, "num_local_experts", 128);
  c.moe.top_k = get_int(j, "num_experts_per_tok", 4);
  c.moe.intermediate_size = c.intermediate_size;
  c.moe.topk_then_softmax = true;
  c.moe.biases = true;
  // The config's limit, as gpt-oss's reference and transformers' MXFP4 experts read it
  // (transformers 5.17's unquantized experts use 7.0 whatever the config says; checkpoints
  // published so far all say 7.0).
  c.moe.swiglu_limit = static_cast<float>(get_double(j, "swiglu_limit", 7.0));
  c.moe.sparse_layers.assign(c.num_hidden_layers, true);
  c.layer_types.clear();
  for (int64_t i = 0; i < c.num_hidden_layers; ++i) {
    bool sliding = c.sliding_window > 0 && (i + 1) % 2 == 1;
    c.layer_types.push_back(sliding ? LayerAttention::kSliding : LayerAttention::kFull);
  }
}

nlohmann::json yarn(double factor, int64_t original) {
  return {{"rope_type", "yarn"}, {"factor", factor},
          {"beta_fast", 32.0},   {"beta_slow", 1.0},
          {"truncate", false},   {"original_max_position_embeddings", original}};
}

nlohmann::json gpt_oss_20b() {
  return {{"vocab_size", 201088},
          {"hidden_size", 2880},
          {"intermediate_size", 2880},
          {"num_hidden_layers", 24},
          {"num_attention_heads", 64},
          {"num_key_value_heads", 8},
          {"head_dim", 64},
          {"num_local_experts", 32},
          {"num_experts_per_tok", 4},
          {"sliding_window", 128},
          {"max_position_embeddings", 131072},
          {"rope_theta", 150000.0},
          {"rope_scaling", yarn(32.0, 4096)},
          {"rms_norm_eps", 1e-5},
          {"attention_bias", true},
          {"swiglu_limit", 7.0},
          {"tie_word_embeddings", false},
          {"hidden_act", "silu"},
          {"bos_token_id", 199998},
          {"eos_token_id", 200002},
          {"pad_token_id", 199999},
          // The experts as the Hub publishes them (init-model writes MXFP4 blocks and scales).
          {"quantization_config",
           {{"quant_method", "mxfp4"},
            {"modules_to_not_convert",
             {"model.layers.*.self_attn", "model.layers.*.mlp.router", "model.embed_tokens",
              "lm_head"}}}}};
}

nlohmann::json tiny() {
  nlohmann::json j = tiny_preset_common();
  j["intermediate_size"] = 32;
  j["num_local_experts"] = 4;
  j["num_experts_per_tok"] = 2;
  j["sliding_window"] = 4;
  j["rope_theta"] = 150000.0;
  j["rope_scaling"] = yarn(4.0, 64);
  j["max_position_embeddings"] = 256;
  j["attention_bias"] = true;
  j["swiglu_limit"] = 7.0;
  return j;
}

}  // namespace

const ArchSpec& gpt_oss_arch() {
  static const ArchSpec spec{
      "GptOssForCausalLM",
      "gpt_oss",
      apply,
      {{"tiny", tiny(), DType::kF32}, {"gpt-oss-20b", gpt_oss_20b(), DType::kBF16}}};
  return spec;
}

}  // namespace khub
