// Scaled dot-product attention for one sequence, the reference path of layer key "Attention":
// GQA, causal mask, sliding window, logit soft-capping and attention sinks.
#pragma once

#include "core/tensor.h"

namespace khub::ops {

struct AttentionParams {
  float scale = 1.0f;
  bool causal = true;
  int64_t window = 0;    // 0: no sliding window; else key j is visible from query position p when
                         // p - j < window (transformers' sliding_window semantics)
  float softcap = 0.0f;  // 0: none; else s = softcap * tanh(s / softcap)
  int64_t q_offset = 0;  // absolute position of query row 0 (keys start at position 0)
};

// q: f32 [Sq, Hq, D]; k, v: f32 [Skv, Hk, D] (row-strided views of a KV cache are fine: the last
// two dims must be contiguous); sinks: f32 [Hq] or undefined (a per-head logit added to the
// softmax denominator, as in GPT-OSS). Returns f32 [Sq, Hq, D].
Tensor attention(const Tensor& q, const Tensor& k, const Tensor& v, const AttentionParams& p,
                 const Tensor& sinks = Tensor());

}  // namespace khub::ops
