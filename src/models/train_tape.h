// What a training forward keeps for its backward (models/training.h, docs/design.md §10): the
// packed batch and its device copies (TrainTape), and per decoder layer the activations the
// reverse walk reads (LayerSaved). Private to the CausalLM training files (causal_lm_train.cc, the
// walk; causal_lm_stage.cc, the staging of a batch).
#pragma once

#include <cstdint>
#include <vector>

#include "core/tensor.h"
#include "layers/attention.h"
#include "layers/moe.h"

namespace khub {

// What one decoder layer's training forward keeps. With activation checkpointing only x_in and
// m_in (the previous layer's outputs, which exist anyway) are kept and the rest is recomputed.
struct LayerSaved {
  Tensor x_in;  // the residual stream into this layer (before the pending add)
  Tensor m_in;  // the previous layer's MLP output, added into x_in first (undefined for layer 0)
  Tensor s;     // x_in + m_in: the input norm's input
  Tensor h1;    // the input norm's output [T, H]
  Tensor q_pre, k_pre;      // q and k before the q/k norms (qk_norm archs)
  Tensor q;                 // [T, Hq, D] after norms and rotary
  Tensor k_cache, v_cache;  // [B, Tmax, Hk, D]: row b's keys and values in slot b
  Tensor o;                 // attention output [T, Hq, D]
  Tensor a_pre;             // o_proj output (sandwich norm archs: the post-attention norm's input)
  Tensor x_mid;             // s + attention branch: the post-attention norm's input
  Tensor h2;                // the MLP's normed input [T, H]
  Tensor gate_up;           // [T, 2I]
  Tensor act;               // [T, I]
  Tensor m_pre;             // down_proj output (sandwich: the post-feedforward norm's input)
  Tensor m;                 // the MLP branch's output, added into the stream by the next layer
  MoELayerSaved moe;        // mixture-of-experts layers: routing and per-expert activations
};

struct TrainTape {
  std::vector<int32_t> ids;      // packed tokens [T]
  Tensor ids_dev;                // ids as [T] i32 on the model's device
  std::vector<int32_t> targets;  // per packed row: the label it is scored against, or -100
  Tensor targets_dev;            // targets as [T] i32 on the model's device (kernels read them)
  std::vector<int64_t> positions;
  AttentionBatch batch;  // one cache slot per row, q_start = the row's first packed index
  int64_t rows = 0, max_len = 0;
  Tensor cos_g, sin_g, cos_l, sin_l;
  std::vector<LayerSaved> layers;
  Tensor x_final;  // the residual stream into the final norm
  Tensor hf;       // the final norm's output [T, H]
  int64_t scored = 0;
};

}  // namespace khub
