// Global gradient norm and clipping (grad_clip.h).
#include "train/grad_clip.h"

#include <cmath>

#include "core/error.h"
#include "ops/optim.h"

namespace khub {
namespace {

const float* grad_data(const Parameter& p) {
  KHUB_CHECK_ARG(p.grad.defined(), "gradient clipping: parameter '", p.name, "' has no grad");
  if (p.grad.dtype() != DType::kF32 || !p.grad.device().is_cpu() || !p.grad.is_contiguous()) {
    fail(ErrorKind::kUnsupported, "gradient clipping: the grad of '", p.name, "' is ",
         p.grad.describe(), "; expected a contiguous CPU f32 tensor");
  }
  return p.grad.data_as<float>();
}

// CUDA grads: one reduction over all of them on the device (ops/optim.h), clipping decided there.
bool on_cuda(const std::vector<Parameter>& params) {
  return !params.empty() && params[0].grad.defined() && params[0].grad.device().is_cuda();
}

std::vector<Tensor> grads_of(const std::vector<Parameter>& params) {
  std::vector<Tensor> out;
  for (const Parameter& p : params) out.push_back(p.grad);
  return out;
}

}  // namespace

double grad_norm(const std::vector<Parameter>& params) {
  if (on_cuda(params)) return ops::global_norm_and_clip(grads_of(params), 0.0);
  double sum = 0.0;
  for (const Parameter& p : params) {
    const float* g = grad_data(p);
    const int64_t n = p.grad.numel();
    for (int64_t i = 0; i < n; ++i) sum += static_cast<double>(g[i]) * static_cast<double>(g[i]);
  }
  return std::sqrt(sum);
}

bool grads_finite(const std::vector<Parameter>& params) {
  // Squares summed in double: finite exactly when every element is.
  if (on_cuda(params)) return std::isfinite(grad_norm(params));
  for (const Parameter& p : params) {
    const float* g = grad_data(p);
    const int64_t n = p.grad.numel();
    for (int64_t i = 0; i < n; ++i)
      if (!std::isfinite(g[i])) return false;
  }
  return true;
}

double clip_grad_norm(const std::vector<Parameter>& params, double max_norm) {
  KHUB_CHECK_ARG(std::isfinite(max_norm) && max_norm > 0, "gradient clipping: max norm ", max_norm,
                 " is invalid (expected a finite value > 0)");
  if (on_cuda(params)) return ops::global_norm_and_clip(grads_of(params), max_norm);
  const double norm = grad_norm(params);
  if (!std::isfinite(norm)) return norm;
  const double coef = max_norm / (norm + 1e-6);
  if (coef < 1.0) {
    const float scale = static_cast<float>(coef);
    for (const Parameter& p : params) {
      float* g = p.grad.data_as<float>();
      const int64_t n = p.grad.numel();
      for (int64_t i = 0; i < n; ++i) g[i] *= scale;
    }
  }
  return norm;
}

}  // namespace khub
