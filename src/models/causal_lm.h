// A decoder-only causal LM of the llama family (llama, mistral, qwen2, qwen3, gemma3 text): the
// wiring of embedding → N × (norm, attention, norm, gated MLP) → norm → lm_head, driven by
// ModelConfig traits. Math lives in layers/ and ops/; this file maps HF weight names and wires.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "layers/activation.h"
#include "layers/attention.h"
#include "layers/norm.h"
#include "layers/rotary.h"
#include "models/config.h"
#include "models/kv_cache.h"
#include "models/weights.h"

namespace khub {

// Tokens to append to one cache slot; they take positions [cache.length(slot), … + n).
struct SequenceChunk {
  int64_t slot = 0;
  std::vector<int32_t> tokens;
};

// Where and in which dtype from_pretrained puts a model (DESIGN §2's `.device`).
struct LoadOptions {
  std::string device = "cpu";  // "cpu", "cuda", "cuda:N"
  // Weights' dtype ("f32", "bf16", "f16"); "" keeps the checkpoint's on the CPU and uses the
  // config's torch_dtype on CUDA. On CUDA activations and the KV cache use this dtype too; on the
  // CPU activations stay f32 whatever the weights' dtype.
  std::string dtype;
};

struct DecoderLayer {
  std::unique_ptr<RMSNormLayer> input_norm;
  std::unique_ptr<RMSNormLayer> post_attention_norm;
  std::unique_ptr<RMSNormLayer> pre_feedforward_norm;   // sandwich_norm only
  std::unique_ptr<RMSNormLayer> post_feedforward_norm;  // sandwich_norm only
  std::unique_ptr<RMSNormLayer> q_norm, k_norm;         // qk_norm only
  std::unique_ptr<RotaryLayer> rotary;
  std::unique_ptr<AttentionLayer> attention;
  std::unique_ptr<ActAndMulLayer> act;
  Tensor qkv_weight, qkv_bias;  // [(Hq + 2 Hk) D, H]: q, k, v projections stacked at load
  Tensor o_weight, o_bias;
  Tensor gate_up_weight, gate_up_bias;  // [2 I, H]: gate and up stacked at load
  Tensor down_weight, down_bias;
  LayerAttention attention_type = LayerAttention::kFull;
};

class CausalLM {
 public:
  CausalLM(ModelConfig config, const WeightSource& weights, const LoadOptions& options = {});

  // Loads config.json and the safetensors weights of an HF model directory (reference path).
  static std::unique_ptr<CausalLM> from_pretrained(const std::string& model_dir,
                                                   const LoadOptions& options = {});

  const ModelConfig& config() const { return config_; }
  Device device() const { return device_; }
  DType activation_dtype() const { return act_dtype_; }
  KVCache make_cache(int64_t slots, int64_t capacity) const;

  // Appends the chunks to their cache slots and returns f32 logits on the model's device:
  // [total tokens, vocab] when all_logits, else [chunks, vocab] for the last token of each chunk.
  Tensor forward(const std::vector<SequenceChunk>& chunks, KVCache& cache, bool all_logits = false);

  // Every kernel-replaceable layer instance, in module order (kernelize walks these).
  std::vector<KernelizableLayer*> kernelizable_layers();

 private:
  Tensor attention_block(DecoderLayer& layer, int64_t index, const Tensor& h,
                         const std::vector<SequenceChunk>& chunks,
                         const std::vector<int64_t>& starts, const Tensor& cos, const Tensor& sin,
                         KVCache& cache);

  ModelConfig config_;
  Tensor embed_tokens_;  // [V, H]
  Tensor lm_head_;       // [V, H] (the embedding when tied)
  std::unique_ptr<RMSNormLayer> final_norm_;
  std::vector<DecoderLayer> layers_;
  float embed_scale_ = 1.0f;
  Device device_;                  // where weights, activations and the KV cache live
  DType act_dtype_ = DType::kF32;  // f32 on the CPU; the weights' dtype on CUDA
};

// DESIGN §2's spelling of the entry point.
struct AutoModelForCausalLM {
  static std::unique_ptr<CausalLM> from_pretrained(const std::string& model_dir,
                                                   const LoadOptions& options = {}) {
    return CausalLM::from_pretrained(model_dir, options);
  }
};

}  // namespace khub
