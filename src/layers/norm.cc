#include "layers/norm.h"

#include "ops/norm.h"

namespace khub {

Tensor RMSNormLayer::reference_forward(const Tensor& x) const {
  return gemma ? ops::gemma_rms_norm(x, weight, eps) : ops::rms_norm(x, weight, eps);
}

}  // namespace khub
