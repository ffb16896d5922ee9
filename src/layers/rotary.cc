#include "layers/rotary.h"

#include "ops/rotary.h"

namespace khub {

void RotaryLayer::forward(Tensor& q, Tensor& k, const Tensor& cos, const Tensor& sin) const {
  if (slot_) {
    slot_(q, k, cos, sin);
  } else {
    ops::apply_rotary(q, k, cos, sin, rotary_dim, interleaved);
  }
}

}  // namespace khub
