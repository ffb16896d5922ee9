// Backward of the row-wise reference ops: RMSNorm (ops/norm.cc), the gated activations
// (ops/activation.cc), the rotary rotation (ops/rotary.cc) and logit soft-capping
// (ops/elementwise.cc). Each is the exact derivative of the f32 forward it names. CUDA tensors go
// to backward_cuda.cu / rotary_cuda.cu after the checks common to both devices.
#include <cmath>
#include <vector>

#include "ops/backward.h"
#include "ops/backward_checks.h"
#include "ops/ops_cuda.h"

namespace khub::ops {
using detail::check_accumulator;
using detail::check_operand;

Tensor rms_norm_backward(const Tensor& x, const Tensor& weight, float eps, float weight_offset,
                         const Tensor& dy, Tensor* dweight) {
  const char* op = "ops::rms_norm_backward";
  check_operand(x, x, op, "x");
  check_operand(weight, x, op, "weight");
  check_operand(dy, x, op, "dy");
  KHUB_CHECK_ARG(x.dim() >= 1 && dy.shape() == x.shape(), op, ": dy ", dy.describe(),
                 " does not match x ", x.describe());
  int64_t h = x.size(-1);
  KHUB_CHECK_ARG(weight.numel() == h, op, ": weight ", weight.describe(), " for hidden size ", h);
  float* dwp = nullptr;
  if (dweight != nullptr) {
    check_accumulator(*dweight, x, op, "dweight");
    KHUB_CHECK_ARG(dweight->numel() == h, op, ": dweight ", dweight->describe(), " must have ", h,
                   " elements");
    dwp = dweight->data_as<float>();
  }
  if (x.device().is_cuda())
    return cuda::rms_norm_backward(x, weight, eps, weight_offset, dy, dweight);
  Tensor xc = x.contiguous(), dyc = dy.contiguous(), wc = weight.contiguous();
  Tensor dx = Tensor::empty(x.shape(), DType::kF32);
  const float* xp = xc.data_as<float>();
  const float* gp = dyc.data_as<float>();
  const float* w = wc.data_as<float>();
  float* dxp = dx.data_as<float>();
  int64_t rows = h == 0 ? 0 : xc.numel() / h;
  // dweight sums over every row of the batch: double, so that long batches do not lose the
  // small rows' contributions.
  std::vector<double> dw_acc(dwp != nullptr ? h : 0, 0.0);
  std::vector<float> g(h);
  for (int64_t r = 0; r < rows; ++r) {
    const float* xr = xp + r * h;
    const float* dyr = gp + r * h;
    float* dxr = dxp + r * h;
    // The forward's f32 statistic, summed in the same order.
    float ss = 0.0f;
    for (int64_t i = 0; i < h; ++i) ss += xr[i] * xr[i];
    float inv = 1.0f / std::sqrt(ss / static_cast<float>(h) + eps);
    // y_i = x_i * inv * w'_i with inv = (mean(x²) + eps)^-1/2, so with g_i = dy_i * w'_i:
    // dx_i = inv * g_i - x_i * inv³ * (Σ_j g_j x_j) / H.
    double gx = 0.0;
    for (int64_t i = 0; i < h; ++i) {
      g[i] = dyr[i] * (weight_offset + w[i]);
      gx += static_cast<double>(g[i]) * xr[i];
    }
    float c = static_cast<float>(gx) * inv * inv * inv / static_cast<float>(h);
    for (int64_t i = 0; i < h; ++i) dxr[i] = inv * g[i] - c * xr[i];
    if (dwp != nullptr) {
      for (int64_t i = 0; i < h; ++i) dw_acc[i] += static_cast<double>(dyr[i] * xr[i] * inv);
    }
  }
  for (int64_t i = 0; i < static_cast<int64_t>(dw_acc.size()); ++i) {
    dwp[i] += static_cast<float>(dw_acc[i]);
  }
  return dx;
}

Tensor act_and_mul_backward(const Tensor& x, const Tensor& dy, GatedActivation act) {
  const char* op = "ops::act_and_mul_backward";
  check_operand(x, x, op, "x");
  check_operand(dy, x, op, "dy");
  KHUB_CHECK_ARG(x.dim() >= 1 && x.size(-1) % 2 == 0, op, ": last dimension of x ", x.describe(),
                 " must be even");
  int64_t two_d = x.size(-1), d = two_d / 2;
  Shape want = x.shape();
  want.back() = d;
  KHUB_CHECK_ARG(dy.shape() == want, op, ": dy ", dy.describe(), " for x ", x.describe(),
                 " (expected [..., ", d, "])");
  if (x.device().is_cuda()) return cuda::act_and_mul_backward(x, dy, act);
  Tensor xc = x.contiguous(), dyc = dy.contiguous();
  Tensor dx = Tensor::empty(x.shape(), DType::kF32);
  int64_t rows = d == 0 ? 0 : xc.numel() / two_d;
  const float* xp = xc.data_as<float>();
  const float* gp = dyc.data_as<float>();
  float* dxp = dx.data_as<float>();
  const float k = std::sqrt(2.0f / static_cast<float>(M_PI));
  const float inv_sqrt2 = 1.0f / std::sqrt(2.0f);
  const float inv_sqrt2pi = 1.0f / std::sqrt(2.0f * static_cast<float>(M_PI));
  for (int64_t r = 0; r < rows; ++r) {
    const float* gate = xp + r * two_d;
    const float* up = gate + d;
    const float* dyr = gp + r * d;
    float* dgate = dxp + r * two_d;
    float* dup = dgate + d;
    for (int64_t i = 0; i < d; ++i) {
      float a = gate[i], v, dv;  // act(a) and act'(a)
      switch (act) {
        case GatedActivation::kSilu: {
          float s = 1.0f / (1.0f + std::exp(-a));
          v = a * s;
          dv = s * (1.0f + a * (1.0f - s));
          break;
        }
        case GatedActivation::kGeluTanh: {
          float t = std::tanh(k * (a + 0.044715f * a * a * a));
          v = 0.5f * a * (1.0f + t);
          dv =
              0.5f * (1.0f + t) + 0.5f * a * (1.0f - t * t) * k * (1.0f + 3.0f * 0.044715f * a * a);
          break;
        }
        default: {  // erf GELU: Φ(a) + a φ(a)
          float cdf = 0.5f * (1.0f + std::erf(a * inv_sqrt2));
          v = a * cdf;
          dv = cdf + a * inv_sqrt2pi * std::exp(-0.5f * a * a);
          break;
        }
      }
      dgate[i] = dyr[i] * up[i] * dv;
      dup[i] = dyr[i] * v;
    }
  }
  return dx;
}

void apply_rotary_backward(Tensor& dq, Tensor& dk, const Tensor& cos, const Tensor& sin,
                           int64_t rotary_dim, bool interleaved) {
  const char* op = "ops::apply_rotary_backward";
  check_operand(dq, dq, op, "dq");
  check_operand(dk, dq, op, "dk");
  check_accumulator(cos, dq, op, "cos");
  check_accumulator(sin, dq, op, "sin");
  int64_t half = rotary_dim / 2;
  KHUB_CHECK_ARG(cos.dim() == 2 && sin.shape() == cos.shape() && cos.is_contiguous() &&
                     sin.is_contiguous() && cos.size(1) == half,
                 op, ": tables cos ", cos.describe(), ", sin ", sin.describe(),
                 " must be contiguous [T, ", half, "] for rotary_dim ", rotary_dim);
  for (Tensor* x : {&dq, &dk}) {
    KHUB_CHECK_ARG(x->dim() == 3 && x->is_contiguous(), op, ": expects contiguous [T, H, D], got ",
                   x->describe());
    KHUB_CHECK_ARG(x->size(0) == cos.size(0), op, ": ", x->size(0), " tokens but tables for ",
                   cos.size(0));
    KHUB_CHECK_ARG(rotary_dim >= 0 && rotary_dim <= x->size(2) && rotary_dim % 2 == 0, op,
                   ": rotary_dim ", rotary_dim, " for head size ", x->size(2));
  }
  if (dq.device().is_cuda()) {
    cuda::apply_rotary_backward(dq, dk, cos, sin, rotary_dim, interleaved);
    return;
  }
  // Forward per pair (x1, x2) → (c x1 - s x2, s x1 + c x2); its transpose, (c g1 + s g2,
  // c g2 - s g1), is the forward with sin negated (a rotation's inverse when c² + s² = 1; with
  // yarn's scaled tables it is still the transpose, which is what the gradient needs).
  const float* c = cos.data_as<float>();
  const float* s = sin.data_as<float>();
  for (Tensor* x : {&dq, &dk}) {
    int64_t t = x->size(0), h = x->size(1), d = x->size(2);
    float* p = x->data_as<float>();
    for (int64_t i = 0; i < t; ++i) {
      const float* ci = c + i * half;
      const float* si = s + i * half;
      for (int64_t hh = 0; hh < h; ++hh) {
        float* v = p + (i * h + hh) * d;
        for (int64_t j = 0; j < half; ++j) {
          int64_t a = interleaved ? 2 * j : j;
          int64_t b = interleaved ? 2 * j + 1 : j + half;
          float g1 = v[a], g2 = v[b];
          v[a] = g1 * ci[j] + g2 * si[j];
          v[b] = g2 * ci[j] - g1 * si[j];
        }
      }
    }
  }
}

void softcap_backward_inplace(Tensor& dy, const Tensor& y, float cap) {
  const char* op = "ops::softcap_backward_inplace";
  check_operand(dy, dy, op, "dy");
  check_operand(y, dy, op, "y");
  KHUB_CHECK_ARG(cap > 0, op, ": cap ", cap, " must be positive");
  KHUB_CHECK_ARG(dy.shape() == y.shape() && dy.is_contiguous(), op, ": dy ", dy.describe(),
                 " must be contiguous and match y ", y.describe());
  if (dy.device().is_cuda()) {
    cuda::softcap_backward_inplace(dy, y, cap);
    return;
  }
  Tensor yc = y.contiguous();
  const float* yp = yc.data_as<float>();
  float* g = dy.data_as<float>();
  float inv = 1.0f / cap;
  // d/dx cap·tanh(x/cap) = 1 - tanh² = 1 - (y/cap)².
  for (int64_t i = 0, n = dy.numel(); i < n; ++i) {
    float t = yp[i] * inv;
    g[i] *= 1.0f - t * t;
  }
}

}  // namespace khub::ops
