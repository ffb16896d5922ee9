#include "ops/activation.h"

#include <cmath>

namespace khub::ops {

GatedActivation gated_activation_from_hf(std::string_view a) {
  if (a == "silu" || a == "swish") return GatedActivation::kSilu;
  if (a == "gelu_pytorch_tanh" || a == "gelu_new" || a == "gelu_fast") {
    return GatedActivation::kGeluTanh;
  }
  if (a == "gelu") return GatedActivation::kGelu;
  fail(ErrorKind::kUnsupported, "activation '", a,
       "' (supported: silu, swish, gelu, gelu_pytorch_tanh, gelu_new, gelu_fast)");
}

Tensor act_and_mul(const Tensor& x, GatedActivation act) {
  KHUB_CHECK_ARG(x.device().is_cpu() && x.dtype() == DType::kF32,
                 "ops::act_and_mul expects f32 CPU input, got ", x.describe());
  int64_t two_d = x.size(-1);
  KHUB_CHECK_ARG(two_d % 2 == 0, "ops::act_and_mul: last dimension ", two_d, " is odd");
  int64_t d = two_d / 2;
  Tensor xc = x.contiguous();
  Shape shape = x.shape();
  shape.back() = d;
  Tensor out = Tensor::empty(shape, DType::kF32);
  int64_t rows = d == 0 ? 0 : xc.numel() / two_d;
  const float* xp = xc.data_as<float>();
  float* yp = out.data_as<float>();
  const float k = std::sqrt(2.0f / static_cast<float>(M_PI));
  for (int64_t r = 0; r < rows; ++r) {
    const float* g = xp + r * two_d;
    const float* u = g + d;
    float* y = yp + r * d;
    for (int64_t i = 0; i < d; ++i) {
      float a = g[i], v;
      switch (act) {
        case GatedActivation::kSilu:
          v = a / (1.0f + std::exp(-a));
          break;
        case GatedActivation::kGeluTanh:
          v = 0.5f * a * (1.0f + std::tanh(k * (a + 0.044715f * a * a * a)));
          break;
        default:
          v = 0.5f * a * (1.0f + std::erf(a / std::sqrt(2.0f)));
          break;
      }
      y[i] = v * u[i];
    }
  }
  return out;
}

}  // namespace khub::ops
