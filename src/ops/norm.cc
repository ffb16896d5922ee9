#include "ops/norm.h"

#include <cmath>

namespace khub::ops {
namespace {

Tensor rms_norm_impl(const Tensor& x, const Tensor& weight, float eps, float weight_offset,
                     const char* op) {
  KHUB_CHECK_ARG(x.device().is_cpu() && x.dtype() == DType::kF32, op, ": expects f32 CPU input, ",
                 "got ", x.describe());
  int64_t h = x.size(-1);
  KHUB_CHECK_ARG(weight.numel() == h, op, ": weight ", weight.describe(), " for hidden size ", h);
  Tensor xc = x.contiguous();
  std::vector<float> w = weight.to_float_vector();
  Tensor out = Tensor::empty(x.shape(), DType::kF32);
  const float* xp = xc.data_as<float>();
  float* op_ = out.data_as<float>();
  int64_t rows = xc.numel() / std::max<int64_t>(h, 1);
  for (int64_t r = 0; r < rows; ++r) {
    const float* xr = xp + r * h;
    float* yr = op_ + r * h;
    float ss = 0.0f;
    for (int64_t i = 0; i < h; ++i) ss += xr[i] * xr[i];
    float inv = 1.0f / std::sqrt(ss / static_cast<float>(h) + eps);
    for (int64_t i = 0; i < h; ++i) yr[i] = xr[i] * inv * (weight_offset + w[i]);
  }
  return out;
}

}  // namespace

Tensor rms_norm(const Tensor& x, const Tensor& weight, float eps) {
  return rms_norm_impl(x, weight, eps, 0.0f, "ops::rms_norm");
}

Tensor gemma_rms_norm(const Tensor& x, const Tensor& weight, float eps) {
  return rms_norm_impl(x, weight, eps, 1.0f, "ops::gemma_rms_norm");
}

}  // namespace khub::ops
