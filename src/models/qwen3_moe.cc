// Qwen3-MoE (Qwen3MoeForCausalLM): Qwen3's attention (q/k norms) with a mixture-of-experts MLP
// on layer i when num_experts > 0, (i + 1) % decoder_sparse_step == 0 and i is not in
// mlp_only_layers (the others keep a dense MLP of intermediate_size). Routing: softmax over the
// experts, top num_experts_per_tok, renormalized when norm_topk_prob.
#include "models/arch.h"

#include <algorithm>

#include "core/error.h"

namespace khub {

nlohmann::json tiny_preset_common();
void qwen_layer_types(const nlohmann::json& j, ModelConfig& c);

namespace {

void apply(const nlohmann::json& j, ModelConfig& c) {
  using namespace config_fields;
  c.qkv_bias = c.o_bias = get_bool(j, "attention_bias", false);
  c.qk_norm = true;
  c.head_dim = get_int(j, "head_dim", 128);
  qwen_layer_types(j, c);
  c.moe.num_experts = get_int(j, "num_experts", 128);
  c.moe.top_k = get_int(j, "num_experts_per_tok", 8);
  c.moe.intermediate_size = get_int(j, "moe_intermediate_size", 768);
  c.moe.renormalize = get_bool(j, "norm_topk_prob", false);
  int64_t step = get_int(j, "decoder_sparse_step", 1);
  if (step <= 0) fail(ErrorKind::kFormat, "'decoder_sparse_step' is ", step, "; expected > 0");
  std::vector<int64_t> dense;
  if (is_set(j, "mlp_only_layers")) {
    const nlohmann::json& m = j["mlp_only_layers"];
    if (!m.is_array() ||
        !std::all_of(m.begin(), m.end(), [](auto& v) { return v.is_number_integer(); }))
      fail(ErrorKind::kFormat, "'mlp_only_layers' must be a list of layer indices, got ", m.dump());
    dense = m.get<std::vector<int64_t>>();
  }
  c.moe.sparse_layers.clear();
  for (int64_t i = 0; i < c.num_hidden_layers; ++i) {
    bool only_mlp = std::find(dense.begin(), dense.end(), i) != dense.end();
    c.moe.sparse_layers.push_back(!only_mlp && c.moe.num_experts > 0 && (i + 1) % step == 0);
  }
}

nlohmann::json qwen3_30b_a3b() {
  return {{"vocab_size", 151936},
          {"hidden_size", 2048},
          {"intermediate_size", 6144},
          {"moe_intermediate_size", 768},
          {"num_hidden_layers", 48},
          {"num_attention_heads", 32},
          {"num_key_value_heads", 4},
          {"head_dim", 128},
          {"num_experts", 128},
          {"num_experts_per_tok", 8},
          {"norm_topk_prob", true},
          {"decoder_sparse_step", 1},
          {"mlp_only_layers", nlohmann::json::array()},
          {"max_position_embeddings", 40960},
          {"rope_theta", 1000000.0},
          {"use_sliding_window", false},
          {"sliding_window", nullptr},
          {"max_window_layers", 48},
          {"rms_norm_eps", 1e-6},
          {"tie_word_embeddings", false},
          {"bos_token_id", 151643},
          {"eos_token_id", 151645},
          {"hidden_act", "silu"},
          {"attention_bias", false}};
}

nlohmann::json tiny() {
  nlohmann::json j = tiny_preset_common();
  j["num_experts"] = 4;
  j["num_experts_per_tok"] = 2;
  j["moe_intermediate_size"] = 32;
  j["norm_topk_prob"] = true;
  j["decoder_sparse_step"] = 1;
  j["mlp_only_layers"] = nlohmann::json::array();
  return j;
}

}  // namespace

const ArchSpec& qwen3_moe_arch() {
  static const ArchSpec spec{
      "Qwen3MoeForCausalLM",
      "qwen3_moe",
      apply,
      {{"tiny", tiny(), DType::kF32}, {"qwen3-30b-a3b", qwen3_30b_a3b(), DType::kBF16}}};
  return spec;
}

}  // namespace khub
