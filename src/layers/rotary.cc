#include "layers/rotary.h"

#include "ops/backward.h"
#include "ops/rotary.h"

namespace khub {

void RotaryLayer::forward(Tensor& q, Tensor& k, const Tensor& cos, const Tensor& sin) const {
  if (slot_) {
    slot_(q, k, cos, sin);
  } else {
    ops::apply_rotary(q, k, cos, sin, rotary_dim, interleaved);
  }
}

void RotaryLayer::backward(Tensor& dq, Tensor& dk, const Tensor& cos, const Tensor& sin) const {
  if (backward_slot_) {
    backward_slot_(dq, dk, cos, sin);
  } else {
    ops::apply_rotary_backward(dq, dk, cos, sin, rotary_dim, interleaved);
  }
}

}  // namespace khub
