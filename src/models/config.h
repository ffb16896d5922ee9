// config.json → a typed configuration. One ModelConfig covers the llama family (llama, mistral,
// qwen2, qwen3, gemma3 text) and its mixture-of-experts kin (qwen3_moe, mixtral, gpt_oss): each
// architecture file (models/<arch>.cc) fills its defaults and flags, and the decoder wiring reads
// only this struct.
#pragma once

#include <nlohmann/json_fwd.hpp>

#include <cstdint>
#include <string>
#include <vector>

#include "core/dtype.h"
#include "ops/rotary.h"

namespace khub {

enum class LayerAttention { kFull, kSliding };

// Mixture-of-experts MLPs (qwen3_moe, mixtral, gpt_oss): a router picks top_k of num_experts
// gated MLPs per token and sums their outputs weighted by the router's probabilities.
struct MoeConfig {
  int64_t num_experts = 0;  // 0: every layer has a dense MLP
  int64_t top_k = 0;
  int64_t intermediate_size = 0;  // of one expert
  // qwen3_moe, mixtral: softmax over all experts, then the top_k probabilities, renormalized to
  // sum 1 when set (mixtral always; qwen3_moe's norm_topk_prob). gpt_oss (topk_then_softmax): the
  // top_k logits, then a softmax over them.
  bool renormalize = false;
  bool topk_then_softmax = false;
  bool biases = false;              // gpt_oss: router and expert projections have biases
  float swiglu_limit = 0.0f;        // gpt_oss: the clamped SwiGLU's limit (0: act(gate) * up)
  std::vector<bool> sparse_layers;  // per layer: MoE (true) or the dense MLP
};

struct ModelConfig {
  std::string architecture;  // "Qwen3ForCausalLM"
  std::string model_type;    // "qwen3"

  int64_t vocab_size = 0;
  int64_t hidden_size = 0;
  int64_t intermediate_size = 0;
  int64_t num_hidden_layers = 0;
  int64_t num_attention_heads = 0;
  int64_t num_key_value_heads = 0;
  int64_t head_dim = 0;
  int64_t max_position_embeddings = 0;
  double rms_norm_eps = 1e-6;
  std::string hidden_act = "silu";
  DType dtype = DType::kF32;  // torch_dtype / dtype of the checkpoint

  ops::RopeParams rope;               // global (full-attention) layers
  ops::RopeParams rope_local;         // sliding layers; = rope unless rope_local_base_freq is set
  double rope_local_base_freq = 0.0;  // gemma3: sliding layers use default rope with this base

  bool tie_word_embeddings = false;
  bool qkv_bias = false;  // bias on q/k/v projections
  bool o_bias = false;    // bias on the output projection
  bool mlp_bias = false;

  std::vector<LayerAttention> layer_types;  // one per layer
  int64_t sliding_window = 0;               // 0: none
  float attn_logit_softcapping = 0.0f;      // 0: none
  float final_logit_softcapping = 0.0f;     // 0: none
  double attention_scale = 0.0;  // q·k scale (head_dim^-0.5 or query_pre_attn_scalar^-0.5)

  // Architecture traits.
  bool qk_norm = false;           // qwen3, gemma3: RMSNorm over head_dim on q and k before rope
  bool gemma_norm = false;        // RMSNorm scale is (1 + weight): layer key "GemmaRMSNorm"
  bool sandwich_norm = false;     // gemma3: post-attention and pre/post-feedforward norms
  bool scale_embeddings = false;  // gemma: embeddings × sqrt(hidden_size)
  bool attention_sinks = false;   // gpt_oss: a learned per-head logit in every softmax

  MoeConfig moe;
  bool layer_is_moe(int64_t layer) const {
    return moe.num_experts > 0 && moe.sparse_layers[static_cast<size_t>(layer)];
  }

  std::vector<int32_t> eos_token_ids;
  int32_t bos_token_id = -1;
  int32_t pad_token_id = -1;

  int64_t num_parameters() const;
};

// Parses a config.json document. Unknown architectures fail with the list of supported ones;
// missing or wrong-typed fields name the field and the file.
ModelConfig parse_model_config(const nlohmann::json& j, const std::string& source = "config.json");
ModelConfig load_model_config(const std::string& model_dir);

}  // namespace khub
