// A decoder-only causal LM of the llama family (llama, mistral, qwen2, qwen3, gemma3 text, and the
// mixture-of-experts qwen3_moe, mixtral and gpt_oss): the wiring of embedding → N × (norm,
// attention, norm, gated MLP or MoE) → norm → lm_head, driven by ModelConfig traits. Math lives in
// layers/ and ops/; this file maps HF weight names and wires.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "kernelize/kernelize.h"
#include "layers/activation.h"
#include "layers/attention.h"
#include "layers/decode_step.h"
#include "layers/linear_cross_entropy.h"
#include "layers/moe.h"
#include "layers/norm.h"
#include "layers/rotary.h"
#include "layers/rotary_cache.h"
#include "models/config.h"
#include "models/kv_cache.h"
#include "models/parameters.h"
#include "models/training.h"
#include "models/weights.h"

namespace khub {

// Tokens to append to one cache slot; they take positions [cache.length(slot), … + n).
struct SequenceChunk {
  int64_t slot = 0;
  std::vector<int32_t> tokens;
};

struct LayerSaved;  // what a decoder layer's training forward keeps (models/train_tape.h)

struct DecoderLayer {
  // Archs without sandwich norms add into the residual stream right before the post-attention
  // norm and before the next layer's input norm: those run as FusedAddRMSNorm layers (the first
  // layer's input norm follows the embedding, no add: a plain RMSNorm).
  std::unique_ptr<RMSNormLayer> input_norm;                       // layer 0, or sandwich_norm
  std::unique_ptr<FusedAddRMSNormLayer> input_add_norm;           // layers >= 1, no sandwich_norm
  std::unique_ptr<RMSNormLayer> post_attention_norm;              // sandwich_norm
  std::unique_ptr<FusedAddRMSNormLayer> post_attention_add_norm;  // no sandwich_norm
  std::unique_ptr<RMSNormLayer> pre_feedforward_norm;             // sandwich_norm only
  std::unique_ptr<RMSNormLayer> post_feedforward_norm;            // sandwich_norm only
  std::unique_ptr<RMSNormLayer> q_norm, k_norm;                   // qk_norm only
  std::unique_ptr<RotaryLayer> rotary;
  // q/k norms, rotary and the cache append as one layer; its reference runs the three above.
  std::unique_ptr<RotaryKVCacheLayer> rotary_cache;
  std::unique_ptr<AttentionLayer> attention;
  std::unique_ptr<ActAndMulLayer> act;  // dense MLP layers
  std::unique_ptr<MoELayer> moe;        // mixture-of-experts layers (instead of the dense MLP)
  Tensor qkv_weight, qkv_bias;          // [(Hq + 2 Hk) D, H]: q, k, v projections stacked at load
  Tensor o_weight, o_bias;
  Tensor sinks;  // f32 [Hq]: gpt_oss's per-head sink logits (undefined elsewhere)
  Tensor gate_up_weight, gate_up_bias;  // [2 I, H]: gate and up stacked at load
  Tensor down_weight, down_bias;
  LayerAttention attention_type = LayerAttention::kFull;
};

// from_pretrained's options (docs/design.md §2). Kernels: `use_kernels` applies the default
// mapping; `kernel_config` alone enables kernels too (with its entries over the defaults unless it
// says inherit_mapping = false); `attn_implementation` names the Attention key's kernel.
struct LoadOptions {
  std::string device = "cpu";  // "cpu", "cuda", "cuda:N"
  // Weights' dtype ("f32", "bf16", "f16"); "" keeps the checkpoint's on the CPU and uses the
  // config's torch_dtype on CUDA. On CUDA activations and the KV cache use this dtype too; on the
  // CPU activations stay f32 whatever the weights' dtype.
  std::string dtype;
  bool use_kernels = false;
  std::optional<KernelConfig> kernel_config;
  std::string attn_implementation;
  std::optional<Mode> mode;  // explicit kernel mode; else from train()/eval()
  bool strict = false;       // every kernel fallback is an error
  bool use_fallback = true;
  // kernels.lock entries (KernelizeOptions::kernel_locks); null: kernels load unlocked.
  std::shared_ptr<const std::map<std::string, hub::LockedKernel>> kernel_locks;
};

class CausalLM {
 public:
  CausalLM(ModelConfig config, const WeightSource& weights, const LoadOptions& options = {});
  ~CausalLM();

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
  Device device() const { return device_; }
  DType activation_dtype() const { return act_dtype_; }
  KVCache make_cache(int64_t slots, int64_t capacity) const;

  // Appends the chunks to their cache slots and returns f32 logits on the model's device:
  // [total tokens, vocab] when all_logits, else [chunks, vocab] for the last token of each chunk.
  // In Mode Compile on CUDA a decode step (one token per chunk) is captured into a CUDA graph the
  // first time its batch size and cache are seen, and replayed after that.
  Tensor forward(const std::vector<SequenceChunk>& chunks, KVCache& cache, bool all_logits = false);

  // Greedy decoding with the host one step behind the device (generate()'s look-ahead).
  // greedy_step queues the forward of one-token chunks and each chunk's argmax on the model's
  // device and returns without waiting: the picks, i32 [chunks], in a device tensor that stays
  // valid until the next greedy step is queued (copy it out, stream-ordered, before that). In Mode
  // Compile on CUDA the step and its argmax are one CUDA graph, as forward()'s decode steps are.
  // greedy_continue queues the next step for the same sequences, each fed the token the previous
  // greedy step picked for it straight from device memory, so no host round trip sits between
  // two steps.
  Tensor greedy_step(const std::vector<SequenceChunk>& chunks, KVCache& cache);
  Tensor greedy_continue(KVCache& cache);
  // Where the last greedy step stores its picks in host memory itself (CUDA graphs), or null: read
  // them there after an event queued behind the step (HostReadback::mark), not through a copy.
  const int32_t* greedy_host_picks() const { return greedy_host_; }
  // Whether decode steps are captured and replayed as CUDA graphs (Mode Compile with kernels on
  // CUDA; a step whose capture is blocked still runs eagerly, with a warning).
  bool decodes_with_graphs() const {
    return kernelizer_ != nullptr && device_.is_cuda() && mode_has(report_.mode, Mode::kCompile);
  }
  // Decode steps replayed from CUDA graphs so far, and graphs captured (Mode Compile).
  int64_t graph_replays() const { return graph_replays_; }
  int64_t graphs_captured() const { return graphs_captured_; }
  // Steps the bound `DecodeStep` kernel ran (one launch for the whole stack; a captured graph
  // counts once, at its capture), and why a step would not use it ("" when it is bound).
  int64_t fused_decode_steps() const { return fused_decode_steps_; }

  // Every kernel-replaceable layer instance, in module order (kernelize walks these).
  std::vector<KernelizableLayer*> kernelizable_layers();

  // Training (models/training.h, causal_lm_train.cc). The next-token cross-entropy of a batch;
  // with grad (the default) the forward saves what backward() needs (or, with activation
  // checkpointing, only each layer's input, and the backward recomputes the rest). CPU f32; CUDA
  // f32, or bf16/f16 compute over f32 master weights (mixed precision: parameters() are the f32
  // masters, their grads f32; each loss() first refreshes the compute weights from the masters).
  Loss loss(const TrainBatch& batch, bool grad = true);
  // loss() in two halves (models/training.h, StagedBatch): stage() does the host work and the
  // uploads; staged_loss() the device work only — no upload, no read-back — so that on CUDA it can
  // be captured into a graph when train_capture_blocker() is empty. loss(b, g) is
  // staged_loss(stage(b), g).
  StagedBatch stage(const TrainBatch& batch);
  Loss staged_loss(StagedBatch& staged, bool grad = true);
  // Copies batch's ids and targets into staged's device buffers when its layout is staged's (the
  // same rows, lengths and scored count: what a captured step baked in) and returns ""; else
  // returns why not, and staged is unchanged. The batch is checked as loss() checks it.
  std::string restage(StagedBatch& staged, const TrainBatch& batch);
  // Why a training step of this model cannot be captured into a CUDA graph ("" when it can): not
  // on CUDA, a layer on a reference path that reads device values back on the host (the LM loss,
  // mixture-of-experts routing), or a kernel whose layer does not declare it can be captured.
  std::string train_capture_blocker() const;
  // Whether training steps are asked to be captured (kernels chosen in mode training|compile):
  // the trainer then runs them through train/step_graph.h, which refuses with
  // train_capture_blocker()'s reason when there is one (on the CPU, for one).
  bool trains_with_graphs() const {
    return kernelizer_ != nullptr && mode_has(report_.mode, Mode::kCompile) &&
           mode_has(report_.mode, Mode::kTraining);
  }
  // The trainable parameters under their checkpoint names, in checkpoint order. The first call
  // makes the model trainable: weights that view a mapped file are copied into owned memory and
  // gradient buffers (zeroed) are allocated.
  std::vector<Parameter>& parameters();
  void zero_grad();
  void set_activation_checkpointing(bool on) { checkpoint_activations_ = on; }
  bool activation_checkpointing() const { return checkpoint_activations_; }

 private:
  friend class Loss;
  struct StepInputs;   // causal_lm_step.cc
  struct DecodeGraph;  // causal_lm_step.cc
  StepInputs make_step_inputs(const std::vector<SequenceChunk>& chunks, const KVCache& cache) const;
  // The step on the model's device with its inputs in `meta` (StepInputs::packed, there).
  Tensor run_step(const StepInputs& in, const Tensor& meta, KVCache& cache, bool all_logits,
                  bool static_rope);
  Tensor attention_block(DecoderLayer& layer, int64_t index, const Tensor& h,
                         const AttentionBatch& batch, const Tensor& cache_rows, const Tensor& cos,
                         const Tensor& sin, KVCache& cache);
  // Why a decode step cannot be captured ("" when it can).
  std::string capture_blocker(bool static_rope) const;
  Tensor replay_step(const StepInputs& in, KVCache& cache);
  // The decode graph for this step's batch size and cache (greedy: ending in the argmax into the
  // graph's ids), captured when new; `captured` says whether it was.
  DecodeGraph& decode_graph(const StepInputs& in, KVCache& cache, bool greedy, bool* captured);
  // Whether the step runs as a graph (Mode Compile, a one-token decode step whose capture nothing
  // blocks); a blocker is logged once.
  bool runs_as_graph(const StepInputs& in, bool all_logits, bool static_rope);
  Tensor queue_greedy(const std::vector<SequenceChunk>& chunks, KVCache& cache, bool continued);
  void ensure_rope_tables(int64_t rows);
  // Whether the step's rope is a fixed function of the position (then its tables are ready on the
  // device for the cache's positions).
  bool prepare_rope(const StepInputs& in, const KVCache& cache);

  ModelConfig config_;
  Tensor embed_tokens_;  // [V, H]
  Tensor lm_head_;       // [V, H] (the embedding when tied)
  std::unique_ptr<RMSNormLayer> final_norm_;
  // The whole stack of a batch-1 decode step as one kernel-replaceable layer (CUDA, inference).
  std::unique_ptr<DecodeStepLayer> decode_step_;
  int64_t fused_decode_steps_ = 0;
  void make_decode_step();
  std::unique_ptr<LinearCrossEntropyLayer> lm_loss_;  // the LM head and the training loss
  std::vector<DecoderLayer> layers_;
  float embed_scale_ = 1.0f;
  Device device_;                  // where weights, activations and the KV cache live
  DType act_dtype_ = DType::kF32;  // f32 on the CPU; the weights' dtype on CUDA
  bool training_ = false;
  // cos/sin for positions [0, rope_rows_) of the global and local rope (f32, on the device), so a
  // step gathers its rows by position in device memory.
  Tensor rope_cos_, rope_sin_, rope_cos_local_, rope_sin_local_;
  int64_t rope_rows_ = 0;
  bool has_local_layers_ = false;
  std::vector<std::unique_ptr<DecodeGraph>> graphs_;
  int64_t graph_replays_ = 0, graphs_captured_ = 0;
  std::string compile_warned_;  // the last reason given for running a Compile step eagerly
  // The last greedy step: its sequences' slots, cache and picks (greedy_continue's inputs).
  std::vector<int64_t> greedy_slots_;
  const void* greedy_cache_ = nullptr;
  Tensor greedy_ids_;
  const int32_t* greedy_host_ = nullptr;
  // Training (models/train_tape.h).
  friend struct TrainTape;
  // stage()'s host work; with upload false nothing reaches the device (restage's check).
  std::shared_ptr<TrainTape> prepare_tape(const TrainBatch& batch, bool upload) const;
  void backward(TrainTape& tape, float scale);
  void layer_forward_train(size_t i, const TrainTape& tape, LayerSaved& saved) const;
  ops::AttentionParams attention_params(const DecoderLayer& layer) const;
  std::vector<Parameter> params_;
  struct LayerGrads;
  void check_trainable() const;  // throws for architectures training does not support yet
  void add_moe_parameters(DecoderLayer& layer, LayerGrads& g, const std::string& prefix);
  // Gradients of one decoder layer's weights, shaped like them (the stacked ones stacked too:
  // the checkpoint tensors' Parameter::grad are views of these).
  struct LayerGrads {
    Tensor input_norm, post_attention_norm, pre_feedforward_norm, post_feedforward_norm;
    Tensor q_norm, k_norm, sinks;
    Tensor qkv_weight, qkv_bias, o_weight, o_bias, gate_up_weight, gate_up_bias, down_weight,
        down_bias;
    MoEGrads moe;
  };
  std::vector<LayerGrads> grads_;
  Tensor embed_grad_, lm_head_grad_, final_norm_grad_;
  // Mixed precision (CUDA with bf16/f16 weights): each trainable compute weight's f32 master.
  struct MasterWeight {
    Tensor master;
    Tensor* compute;
  };
  std::vector<MasterWeight> masters_;
  void refresh_compute_weights();
  bool checkpoint_activations_ = false;
  std::unique_ptr<Kernelizer> kernelizer_;
  KernelizeOptions kernel_options_;
  KernelReport report_;
};

// docs/design.md §2's spelling of the entry point.
struct AutoModelForCausalLM {
  static std::unique_ptr<CausalLM> from_pretrained(const std::string& model_dir,
                                                   const LoadOptions& options = {}) {
    return CausalLM::from_pretrained(model_dir, options);
  }
};

}  // namespace khub
