#include "layers/norm.h"

#include "ops/backward.h"
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

Tensor RMSNormLayer::reference_backward(const Tensor& x, const Tensor& dy, Tensor* dweight) const {
  return ops::rms_norm_backward(x, weight, eps, gemma ? 1.0f : 0.0f, dy, dweight);
}

void FusedAddRMSNormLayer::reference_backward(const Tensor& sum, const Tensor& dy,
                                              Tensor& dresidual, Tensor* dweight) const {
  ops::add_inplace(dresidual, ops::rms_norm_backward(sum, weight, eps, 0.0f, dy, dweight));
}

}  // namespace khub
