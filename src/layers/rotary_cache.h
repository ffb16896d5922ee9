// What a decoder layer does between its q/k/v projections and attention, as one layer: key
// "RotaryKVCache" (docs/layer-contracts.md). q and k go through the q/k norms (archs with
// qk_norm) and rotary, in place; the rotated k and v are written to the layer's KV cache rows.
// The reference forward runs the separate layers (each of which may itself be kernelized) and
// ops::kv_append; a kernel does it all in one launch, which shortens a decode step by up to
// three dependent launches per layer.
#pragma once

#include "core/tensor.h"
#include "layers/layer.h"
#include "layers/norm.h"
#include "layers/rotary.h"

namespace khub {

using RotaryKVCacheForward = void(Tensor& q, Tensor& k, const Tensor& v, const Tensor& cos,
                                  const Tensor& sin, const Tensor& rows, Tensor& k_cache,
                                  Tensor& v_cache);

class RotaryKVCacheLayer : public SlottedLayer<RotaryKVCacheForward> {
 public:
  // q_norm and k_norm are both null (no qk_norm) or both set; the layers outlive this one.
  RotaryKVCacheLayer(std::string path, int64_t head_dim, const RMSNormLayer* q_norm,
                     const RMSNormLayer* k_norm, const RotaryLayer* rotary)
      : SlottedLayer(std::move(path)),
        head_dim(head_dim),
        q_norm(q_norm),
        k_norm(k_norm),
        rotary(rotary) {}

  std::string_view layer_key() const override { return "RotaryKVCache"; }
  // q [T, Hq, D], k and v [T, Hk, D]; cos/sin [T, R/2] f32; rows [T] i32, each token's flat cache
  // row (slot × capacity + position); caches [S, C, Hk, D]. q and k may be replaced by new
  // tensors (the reference norms allocate) or rewritten in place.
  void forward(Tensor& q, Tensor& k, const Tensor& v, const Tensor& cos, const Tensor& sin,
               const Tensor& rows, Tensor& k_cache, Tensor& v_cache) const {
    if (slot_) {
      slot_(q, k, v, cos, sin, rows, k_cache, v_cache);
    } else {
      reference_forward(q, k, v, cos, sin, rows, k_cache, v_cache);
    }
  }
  void reference_forward(Tensor& q, Tensor& k, const Tensor& v, const Tensor& cos,
                         const Tensor& sin, const Tensor& rows, Tensor& k_cache,
                         Tensor& v_cache) const;

  int64_t head_dim;
  const RMSNormLayer* q_norm;
  const RMSNormLayer* k_norm;
  const RotaryLayer* rotary;
};

}  // namespace khub
