#include "layers/activation.h"

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

}  // namespace khub
