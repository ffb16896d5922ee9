// The attention core (softmax(q·kᵀ)·v over the KV cache): key "Attention". Projections, q/k norms
// and rotary live in the decoder layer around it.
#pragma once

#include "core/tensor.h"
#include "layers/layer.h"
#include "ops/attention.h"

namespace khub {

using AttentionForward = Tensor(const Tensor& q, const Tensor& k, const Tensor& v,
                                const ops::AttentionParams& p, const Tensor& sinks);

class AttentionLayer : public SlottedLayer<AttentionForward> {
 public:
  explicit AttentionLayer(std::string path) : SlottedLayer(std::move(path)) {}

  std::string_view layer_key() const override { return "Attention"; }
  Tensor forward(const Tensor& q, const Tensor& k, const Tensor& v, const ops::AttentionParams& p,
                 const Tensor& sinks = Tensor()) const {
    return slot_ ? slot_(q, k, v, p, sinks) : ops::attention(q, k, v, p, sinks);
  }
};

}  // namespace khub
