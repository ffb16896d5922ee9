// Backward of the reference ops (training, docs/design.md §10). CPU: f32 tensors, contiguous
// rows; gradients are computed in f32 (double where a sum over a long axis needs it). Each op's
// gradient is checked against float64 finite differences in tests/ops/backward_test.cc.
// Conventions: `dy` is the gradient of the loss with respect to the op's output; a function that
// returns a gradient allocates it; a `Tensor*` accumulator is *added into* (gradients of a
// parameter accumulate across uses and micro-batches until zeroed).
#pragma once

#include <cstdint>
#include <vector>

#include "core/tensor.h"
#include "ops/activation.h"
#include "ops/attention.h"

namespace khub::ops {

// RMSNorm y = x * r * (weight + weight_offset), r = rsqrt(mean(x², -1) + eps); weight_offset 0 for
// RMSNorm, 1 for Gemma's (1 + weight). x, dy: [..., H] f32; weight [H] f32. Returns dx [..., H];
// adds dL/dweight into *dweight (f32 [H]) when dweight is non-null.
Tensor rms_norm_backward(const Tensor& x, const Tensor& weight, float eps, float weight_offset,
                         const Tensor& dy, Tensor* dweight);

// Gated activation out = act(x[..., :D]) * x[..., D:]. x [..., 2D], dy [..., D] → dx [..., 2D].
Tensor act_and_mul_backward(const Tensor& x, const Tensor& dy, GatedActivation act);

// apply_rotary is linear per (x1, x2) pair: its backward applies the transpose, the same rotation
// with sin negated (the inverse rotation; still the transpose with yarn's scaled tables), to dq
// and dk in place. Same arguments as apply_rotary.
void apply_rotary_backward(Tensor& dq, Tensor& dk, const Tensor& cos, const Tensor& sin,
                           int64_t rotary_dim, bool interleaved);

// Backward of ops::attention for one sequence (same params). q [Sq, Hq, D], k and v
// [Skv, Hk, D], dout [Sq, Hq, D]. Writes (overwrites) dq [Sq, Hq, D], dk and dv [Skv, Hk, D]
// (allocated by the callee when undefined). The softmax is recomputed from q and k. With sinks
// ([Hq], the forward's), each head's sink gradient is added into *dsinks (f32 [Hq], allocated
// zeroed when undefined).
void attention_backward(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& dout,
                        const AttentionParams& p, Tensor* dq, Tensor* dk, Tensor* dv,
                        const Tensor& sinks = Tensor(), Tensor* dsinks = nullptr);

// Backward of ops::attention_varlen: per sequence, as attention_backward (sinks likewise), with the
// keys of each sequence in its cache slot. dk_cache / dv_cache [S, C, Hk, D] (allocated zeroed by
// the callee when undefined) receive the gradients of rows [0, kv_len) of each sequence's slot
// (added); dq [T, Hq, D] is written for every row of a sequence (allocated zeroed when undefined,
// so rows of no sequence read 0).
void attention_varlen_backward(const Tensor& q, const Tensor& k_cache, const Tensor& v_cache,
                               const Tensor& dout, const std::vector<AttentionSeq>& seqs,
                               const AttentionParams& p, Tensor* dq, Tensor* dk_cache,
                               Tensor* dv_cache, const Tensor& sinks = Tensor(),
                               Tensor* dsinks = nullptr);

// y = x · wᵀ + b. x [N, in], w [out, in] f32, dy [N, out]. Returns dx [N, in] (undefined when
// need_dx is false); adds dyᵀ·x into *dw ([out, in]) and Σ_rows dy into *db ([out]) when non-null.
Tensor linear_backward(const Tensor& x, const Tensor& w, const Tensor& dy, Tensor* dw, Tensor* db,
                       bool need_dx = true);

// Embedding rows: dtable[ids[i]] += scale * dy[i]. dy [N, H], dtable [V, H] f32.
void embedding_backward(const Tensor& dy, const std::vector<int32_t>& ids, float scale,
                        Tensor& dtable);
// The same with the ids as [n] i32 on dy's device, read there (no upload, no read-back: a
// captured training step replays it); the ids are the caller's to have checked.
void embedding_backward(const Tensor& dy, const Tensor& ids, float scale, Tensor& dtable);

// y = cap * tanh(x / cap) given the *output* y: dy *= 1 - (y / cap)², in place.
void softcap_backward_inplace(Tensor& dy, const Tensor& y, float cap);

// Cross-entropy of logits rows [N, V] (f32; [..., V] is taken as rows) against labels [N]
// (-100 = ignored). Returns the sum of the per-row losses (double; ignored rows add 0) and, when
// dlogits is non-null, writes dlogits [N, V] (allocated when undefined) = (softmax(logits) -
// onehot(label)) * grad_scale, zero rows for ignored labels. dlogits may be the logits tensor
// itself (computed in place). Labels outside [0, V) other than -100 are an error naming the row
// and the label; they are checked before anything is written.
double cross_entropy(const Tensor& logits, const std::vector<int32_t>& labels, float grad_scale,
                     Tensor* dlogits);

}  // namespace khub::ops
