// The attention core (softmax(q·kᵀ)·v over the KV cache): key "Attention", called once per layer
// and step for every sequence of the step (varlen, docs/layer-contracts.md). Projections, q/k
// norms, rotary and the cache append live in the decoder layer around it.
#pragma once

#include <vector>

#include "core/tensor.h"
#include "layers/layer.h"
#include "ops/attention.h"
#include "ops/backward.h"

namespace khub {

// The sequences of one step, twice: `seqs` [N, 4] i32 (slot, q_start, q_len, kv_len) on the
// model's device for kernels (a captured step replays with new values in the same buffer), and
// `host` with the same values for the reference path.
struct AttentionBatch {
  Tensor seqs;
  std::vector<ops::AttentionSeq> host;
  int64_t max_q_len = 0;
  int64_t max_kv_len = 0;  // an upper bound (the cache capacity), not the current longest
};

using AttentionForward = Tensor(const Tensor& q, const Tensor& k_cache, const Tensor& v_cache,
                                const AttentionBatch& batch, const ops::AttentionParams& p,
                                const Tensor& sinks);

// Backward (training): the forward's inputs and output `out`, the output's gradient `dout`; writes
// dq [T, Hq, D] and adds the keys' and values' gradients into dk_cache / dv_cache [S, C, Hk, D]
// (zeroed by the caller). Training steps use one cache slot per sequence, holding its keys.
using AttentionBackward = void(const Tensor& q, const Tensor& k_cache, const Tensor& v_cache,
                               const Tensor& out, const Tensor& dout, const AttentionBatch& batch,
                               const ops::AttentionParams& p, Tensor* dq, Tensor* dk_cache,
                               Tensor* dv_cache);

class AttentionLayer : public SlottedLayer<AttentionForward, AttentionBackward> {
 public:
  explicit AttentionLayer(std::string path) : SlottedLayer(std::move(path)) {}
  AttentionLayer(std::string path, int64_t head_dim, int64_t window, float softcap)
      : SlottedLayer(std::move(path)), head_dim(head_dim), window(window), softcap(softcap) {}

  std::string_view layer_key() const override { return "Attention"; }
  // What kernelize checks against a kernel's declared constraints.
  int64_t head_dim = 0;
  int64_t window = 0;  // 0: full attention
  float softcap = 0.0f;
  bool sinks = false;
  // q [T, Hq, D]; caches [S, C, Hk, D] with this step's keys written. Returns [T, Hq, D].
  Tensor forward(const Tensor& q, const Tensor& k_cache, const Tensor& v_cache,
                 const AttentionBatch& batch, const ops::AttentionParams& p,
                 const Tensor& sinks = Tensor()) const {
    return slot_ ? slot_(q, k_cache, v_cache, batch, p, sinks)
                 : reference_forward(q, k_cache, v_cache, batch, p, sinks);
  }
  static Tensor reference_forward(const Tensor& q, const Tensor& k_cache, const Tensor& v_cache,
                                  const AttentionBatch& batch, const ops::AttentionParams& p,
                                  const Tensor& sinks = Tensor()) {
    return ops::attention_varlen(q, k_cache, v_cache, batch.host, p, sinks);
  }
  void backward(const Tensor& q, const Tensor& k_cache, const Tensor& v_cache, const Tensor& out,
                const Tensor& dout, const AttentionBatch& batch, const ops::AttentionParams& p,
                Tensor* dq, Tensor* dk_cache, Tensor* dv_cache, const Tensor& sinks = Tensor(),
                Tensor* dsinks = nullptr) const {
    if (backward_slot_) {
      KHUB_CHECK_ARG(!sinks.defined(), path(), ": the bound attention backward takes no sinks");
      backward_slot_(q, k_cache, v_cache, out, dout, batch, p, dq, dk_cache, dv_cache);
    } else {
      ops::attention_varlen_backward(q, k_cache, v_cache, dout, batch.host, p, dq, dk_cache,
                                     dv_cache, sinks, dsinks);
    }
  }
};

}  // namespace khub
