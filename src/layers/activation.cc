#include "layers/activation.h"

#include "ops/backward.h"

namespace khub {

std::string_view ActAndMulLayer::layer_key() const {
  switch (act) {
    case ops::GatedActivation::kSilu:
      return "SiluAndMul";
    case ops::GatedActivation::kGeluTanh:
      return "GeluTanhAndMul";
    case ops::GatedActivation::kGelu:
      return "GeluAndMul";
  }
  return "?";
}

Tensor ActAndMulLayer::backward(const Tensor& x, const Tensor& dy) const {
  return backward_slot_ ? backward_slot_(x, dy) : ops::act_and_mul_backward(x, dy, act);
}

}  // namespace khub
