// Scaled dot-product attention for one sequence, the reference path of layer key "Attention":
// GQA, causal mask, sliding window, logit soft-capping and attention sinks.
#pragma once

#include <vector>

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

// q: [Sq, Hq, D]; k, v: [Skv, Hk, D] (row-strided views of a KV cache are fine: the last two dims
// must be contiguous); sinks: [Hq] or undefined (a per-head logit added to the softmax
// denominator, as in GPT-OSS). Returns [Sq, Hq, D]. CPU: f32; CUDA: q, k, v and the output share
// one dtype (f32, bf16, f16; f32 softmax and accumulation), D <= 256.
Tensor attention(const Tensor& q, const Tensor& k, const Tensor& v, const AttentionParams& p,
                 const Tensor& sinks = Tensor());

// One sequence of a varlen attention call (docs/layer-contracts.md, `Attention`): its rows
// [q_start, q_start + q_len) of q attend to keys [0, kv_len) of cache slot `slot`, query i sitting
// at position kv_len - q_len + i.
struct AttentionSeq {
  int64_t slot = 0, q_start = 0, q_len = 0, kv_len = 0;
};

// Throws Error(kInvalidArgument) naming `op` and the sequence when `s` does not fit q [T, Hq, D]
// and the caches [S, C, Hk, D] (slot, rows, key count). Forward and backward share it.
void check_attention_seq(const AttentionSeq& s, const Tensor& q, const Tensor& k_cache,
                         const char* op);

// The reference of the varlen contract: q [T, Hq, D]; k_cache, v_cache [S, C, Hk, D] holding the
// step's keys already; one attention() per sequence (p.q_offset is ignored). Rows of the result
// that belong to no sequence are left unwritten.
Tensor attention_varlen(const Tensor& q, const Tensor& k_cache, const Tensor& v_cache,
                        const std::vector<AttentionSeq>& seqs, const AttentionParams& p,
                        const Tensor& sinks = Tensor());

}  // namespace khub::ops
