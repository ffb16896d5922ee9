// Rotary position embedding applied to q and k in place: key "rotary_pos_emb".
#pragma once

#include "core/tensor.h"
#include "layers/layer.h"

namespace khub {

using RotaryFn = void(Tensor& q, Tensor& k, const Tensor& cos, const Tensor& sin);

// Backward: the same signature over the gradients of q and k, rotated in place by the inverse
// rotation.
class RotaryLayer : public SlottedLayer<RotaryFn, RotaryFn> {
 public:
  RotaryLayer(std::string path, int64_t rotary_dim, bool interleaved)
      : SlottedLayer(std::move(path)), rotary_dim(rotary_dim), interleaved(interleaved) {}

  std::string_view layer_key() const override { return "rotary_pos_emb"; }
  void forward(Tensor& q, Tensor& k, const Tensor& cos, const Tensor& sin) const;
  void backward(Tensor& dq, Tensor& dk, const Tensor& cos, const Tensor& sin) const;

  int64_t rotary_dim;
  bool interleaved;
};

}  // namespace khub
