#include "layers/norm.h"

#include "ops/elementwise.h"
#include "ops/norm.h"

namespace khub {

Tensor RMSNormLayer::reference_forward(const Tensor& x) const {
  return gemma ? ops::gemma_rms_norm(x, weight, eps) : ops::rms_norm(x, weight, eps);
}

Tensor FusedAddRMSNormLayer::reference_forward(const Tensor& x, Tensor& residual) const {
  ops::add_inplace(residual, x);
  return ops::rms_norm(residual, weight, eps);
}

}  // namespace khub
