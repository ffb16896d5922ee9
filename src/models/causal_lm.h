// A decoder-only causal LM of the llama family (llama, mistral, qwen2, qwen3, gemma3 text): the
// wiring of embedding → N × (norm, attention, norm, gated MLP) → norm → lm_head, driven by
// ModelConfig traits. Math lives in layers/ and ops/; this file maps HF weight names and wires.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "kernelize/kernelize.h"
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

// from_pretrained's options (DESIGN §2). Kernels: `use_kernels` applies the default mapping;
// `kernel_config` alone enables kernels too (with its entries over the defaults unless it says
// inherit_mapping = false); `attn_implementation` names the Attention key's kernel.
struct LoadOptions {
  std::string device = "cpu";
  bool use_kernels = false;
  std::optional<KernelConfig> kernel_config;
  std::string attn_implementation;
  std::optional<Mode> mode;  // explicit kernel mode; else from train()/eval()
  bool strict = false;       // every kernel fallback is an error
  bool use_fallback = true;
};

class CausalLM {
 public:
  CausalLM(ModelConfig config, const WeightSource& weights);

  // Loads config.json and the safetensors weights of an HF model directory, then kernelizes when
  // the options ask for kernels.
  static std::unique_ptr<CausalLM> from_pretrained(const std::string& model_dir,
                                                   const LoadOptions& options = {});

  // Applies (or re-applies) kernels to every kernel-replaceable layer.
  const KernelReport& kernelize(const KernelizeOptions& options);
  bool kernels_enabled() const { return kernelizer_ != nullptr; }
  // Which kernel each layer key uses, and why not when the reference runs.
  const KernelReport& kernel_report() const { return report_; }
  // Training mode; re-kernelizes when kernels are in use and the mode actually changes (an
  // explicit mode given at load is kept).
  void train(bool training = true);
  void eval() { train(false); }
  bool training() const { return training_; }

  const ModelConfig& config() const { return config_; }
  KVCache make_cache(int64_t slots, int64_t capacity) const;

  // Appends the chunks to their cache slots and returns f32 logits: [total tokens, vocab] when
  // all_logits, else [chunks, vocab] for the last token of each chunk.
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
  bool training_ = false;
  std::unique_ptr<Kernelizer> kernelizer_;
  KernelizeOptions kernel_options_;
  KernelReport report_;
};

// DESIGN §2's spelling of the entry point.
struct AutoModelForCausalLM {
  static std::unique_ptr<CausalLM> from_pretrained(const std::string& model_dir,
                                                   const LoadOptions& options = {}) {
    return CausalLM::from_pretrained(model_dir, options);
  }
};

}  // namespace khub
