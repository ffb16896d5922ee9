// The whole decoder stack of a batch-1 decode step as one layer: key "DecodeStep"
// (docs/layer-contracts.md). The model offers it to kernelize on CUDA in inference; when a kernel
// is bound, a decode step of one sequence and one token runs the stack — every layer's norms,
// projections, rotary, cache append, attention, MLP and residual adds, then the final norm and the
// LM head — in one call (khub-community/decode-step: one persistent launch). There is no reference
// forward of its own: the reference is the per-layer path the model runs whenever this layer has
// no kernel (and always for prefill, larger batches and training), so the model calls forward()
// only when kernelized().
#pragma once

#include <string>
#include <vector>

#include "core/env.h"
#include "core/error.h"
#include "core/tensor.h"
#include "layers/layer.h"

namespace khub {

// One decoder layer's weights as the model holds them. The projections are non-const: a binding
// may stack them into one [L, ...] tensor per kind and point the model's tensors at views of it
// (the per-layer path then reads the same memory; no second copy of the weights).
struct DecodeStackLayer {
  Tensor* qkv_weight;              // [(Hq + 2 Hk) D, H]
  Tensor* o_weight;                // [H, Hq D]
  Tensor* gate_up_weight;          // [2 I, H]
  Tensor* down_weight;             // [H, I]
  const Tensor* input_norm;        // [H]
  const Tensor* post_norm;         // [H]
  const Tensor* q_norm = nullptr;  // [D] (qk_norm archs)
  const Tensor* k_norm = nullptr;
};

// What a stack uses, for the kernel's constraints (kernel_bindings_decode_step.cc).
struct DecodeStackFeatures {
  int64_t hidden = 0, heads = 0, kv_heads = 0, head_dim = 0, intermediate = 0, vocab = 0;
  int64_t rotary_dim = 0;
  double eps = 1e-6;
  float scale = 1.0f;  // the q·k scale
  std::string activation = "silu";
  bool qk_norm = false, bias = false, sliding_window = false, softcap = false, sinks = false;
  bool moe = false, sandwich_norm = false, gemma_norm = false, interleaved_rotary = false;
  bool scale_embeddings = false;
};

// x [1, H] (the embedded token, the residual stream: the kernel may overwrite it); cos/sin
// [1, R/2] f32 (the token's rotary row); rows [1] i32 (its flat cache row, slot · C + position);
// seqs [1, 4] i32 (slot, q_start, q_len, kv_len) in device memory; kv_cache the model's whole
// cache [L, 2, S, C, Hk, D]. Returns the logits [1, V] in the activations' dtype.
using DecodeStepForward = Tensor(Tensor& x, const Tensor& cos, const Tensor& sin,
                                 const Tensor& rows, const Tensor& seqs, Tensor& kv_cache);

class DecodeStepLayer : public SlottedLayer<DecodeStepForward> {
 public:
  using SlottedLayer::SlottedLayer;
  std::string_view layer_key() const override { return "DecodeStep"; }
  // Opt-in: correct (tests/models/decode_step_cuda_test.cc) but slower than the per-layer CUDA
  // graphs on an H100 (bench/results/2026-12-07-decode-megakernel-h100.json), so without
  // KHUB_DECODE_STEP=1 kernelize neither loads nor binds its kernel.
  std::string declines_kernels() const override {
    if (env::flag("KHUB_DECODE_STEP", false)) return "";
    return "is opt-in (KHUB_DECODE_STEP=1) while it is slower than the per-layer path";
  }
  Tensor forward(Tensor& x, const Tensor& cos, const Tensor& sin, const Tensor& rows,
                 const Tensor& seqs, Tensor& kv_cache) const {
    KHUB_ICHECK(static_cast<bool>(slot_),
                "DecodeStep has no reference forward: the model runs its per-layer path unless a "
                "kernel is bound");
    return slot_(x, cos, sin, rows, seqs, kv_cache);
  }

  std::vector<DecodeStackLayer> layers;
  const Tensor* final_norm = nullptr;  // [H]
  const Tensor* lm_head = nullptr;     // [V, H]
  DecodeStackFeatures features;
};

}  // namespace khub
