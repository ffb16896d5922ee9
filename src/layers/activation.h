// The gated activation inside the MLP: keys "SiluAndMul", "GeluTanhAndMul", "GeluAndMul".
#pragma once

#include "core/tensor.h"
#include "layers/layer.h"
#include "ops/activation.h"

namespace khub {

// Backward: x the forward's input [..., 2D], dy the output's gradient [..., D]; returns dx.
class ActAndMulLayer
    : public SlottedLayer<Tensor(const Tensor& x), Tensor(const Tensor& x, const Tensor& dy)> {
 public:
  ActAndMulLayer(std::string path, ops::GatedActivation act)
      : SlottedLayer(std::move(path)), act(act) {}

  std::string_view layer_key() const override;
  Tensor forward(const Tensor& x) const { return slot_ ? slot_(x) : ops::act_and_mul(x, act); }
  Tensor backward(const Tensor& x, const Tensor& dy) const;

  ops::GatedActivation act;
};

}  // namespace khub
