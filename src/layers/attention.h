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
  AttentionLayer(std::string path, int64_t head_dim, int64_t window, float softcap)
      : SlottedLayer(std::move(path)), head_dim(head_dim), window(window), softcap(softcap) {}

  std::string_view layer_key() const override { return "Attention"; }
  // What kernelize checks against a kernel's declared constraints.
  int64_t head_dim = 0;
  int64_t window = 0;  // 0: full attention
  float softcap = 0.0f;
  bool sinks = false;
  Tensor forward(const Tensor& q, const Tensor& k, const Tensor& v, const ops::AttentionParams& p,
                 const Tensor& sinks = Tensor()) const {
    return slot_ ? slot_(q, k, v, p, sinks) : ops::attention(q, k, v, p, sinks);
  }
};

}  // namespace khub
