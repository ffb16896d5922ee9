#include "layers/linear_cross_entropy.h"

#include <algorithm>

#include "core/error.h"
#include "ops/backward.h"
#include "ops/elementwise.h"
#include "ops/linear.h"

namespace khub {

int64_t LinearCrossEntropyLayer::reference_chunk_rows(int64_t vocab) {
  return std::max<int64_t>(16, (int64_t{8} << 20) / std::max<int64_t>(vocab, 1));
}

void LinearCrossEntropyLayer::check(const Tensor& hidden, const Tensor& weight,
                                    const CrossEntropyTargets& targets) const {
  KHUB_CHECK_ARG(hidden.dim() == 2 && weight.dim() == 2 && hidden.size(1) == weight.size(1), path(),
                 ": LinearCrossEntropy takes hidden [T, H] and weight [V, H], got ",
                 hidden.describe(), " and ", weight.describe());
  KHUB_CHECK_ARG(hidden.device() == weight.device() && hidden.dtype() == weight.dtype(), path(),
                 ": hidden ", hidden.describe(), " and weight ", weight.describe(),
                 " must share a device and a dtype");
  const int64_t t = hidden.size(0), v = weight.size(0);
  KHUB_CHECK_ARG(static_cast<int64_t>(targets.host.size()) == t, path(), ": ", targets.host.size(),
                 " targets for ", t, " rows of hidden states");
  for (int64_t r = 0; r < t; ++r) {
    int32_t y = targets.host[r];
    KHUB_CHECK_ARG(y == kIgnoreIndex || (y >= 0 && y < v), path(), ": target ", y, " of row ", r,
                   " is outside [0, ", v, ") and is not ", kIgnoreIndex, " (ignored)");
  }
  if (targets.ids.defined()) {
    KHUB_CHECK_ARG(targets.ids.dtype() == DType::kI32 && targets.ids.dim() == 1 &&
                       targets.ids.size(0) == t && targets.ids.device() == hidden.device(),
                   path(), ": target ids ", targets.ids.describe(), " must be [", t,
                   "] i32 on the hidden states' device");
  }
}

double LinearCrossEntropyLayer::reference_forward(const Tensor& hidden, const Tensor& weight,
                                                  const CrossEntropyTargets& targets) const {
  check(hidden, weight, targets);
  const int64_t t = hidden.size(0), chunk = reference_chunk_rows(weight.size(0));
  double sum = 0.0;
  for (int64_t r0 = 0; r0 < t; r0 += chunk) {
    int64_t r1 = std::min(t, r0 + chunk);
    Tensor logits = ops::linear(hidden.slice(0, r0, r1), weight);
    if (softcap > 0.0f) ops::softcap_inplace(logits, softcap);
    std::vector<int32_t> tg(targets.host.begin() + r0, targets.host.begin() + r1);
    sum += ops::cross_entropy(logits, tg, 0.0f, nullptr);
  }
  return sum;
}

Tensor LinearCrossEntropyLayer::reference_parts(const Tensor& hidden, const Tensor& weight,
                                                const CrossEntropyTargets& targets) const {
  return Tensor::from_vector(std::vector<double>{reference_forward(hidden, weight, targets)}, {1},
                             DType::kF64);
}

double LinearCrossEntropyLayer::sum_parts(const Tensor& parts) {
  KHUB_CHECK_ARG(parts.dim() == 1 && (parts.dtype() == DType::kF32 || parts.dtype() == DType::kF64),
                 "LinearCrossEntropy: loss parts ", parts.describe(), " must be 1-D f32 or f64");
  Tensor host = parts.device().is_cpu() ? parts.contiguous() : parts.to(Device::cpu());
  double sum = 0.0;
  if (host.dtype() == DType::kF64) {
    const double* p = host.data_as<double>();
    for (int64_t i = 0; i < host.numel(); ++i) sum += p[i];
  } else {
    const float* p = host.data_as<float>();
    for (int64_t i = 0; i < host.numel(); ++i) sum += p[i];
  }
  return sum;
}

Tensor LinearCrossEntropyLayer::reference_backward(const Tensor& hidden, const Tensor& weight,
                                                   const CrossEntropyTargets& targets,
                                                   float grad_scale, Tensor* dweight) const {
  check(hidden, weight, targets);
  const int64_t t = hidden.size(0), chunk = reference_chunk_rows(weight.size(0));
  // dlogits = (softmax - onehot) · grad_scale, through the cap's derivative when soft-capped.
  Tensor dhidden = Tensor::empty(hidden.shape(), hidden.dtype(), hidden.device());
  for (int64_t r0 = 0; r0 < t; r0 += chunk) {
    int64_t r1 = std::min(t, r0 + chunk);
    Tensor h = hidden.slice(0, r0, r1);
    Tensor logits = ops::linear(h, weight);
    std::vector<int32_t> tg(targets.host.begin() + r0, targets.host.begin() + r1);
    Tensor dlogits;
    if (softcap > 0.0f) {
      ops::softcap_inplace(logits, softcap);
      dlogits = Tensor::empty(logits.shape(), logits.dtype(), logits.device());
      ops::cross_entropy(logits, tg, grad_scale, &dlogits);
      ops::softcap_backward_inplace(dlogits, logits, softcap);
    } else {
      dlogits = logits;
      ops::cross_entropy(logits, tg, grad_scale, &dlogits);
    }
    dhidden.slice(0, r0, r1).copy_from(ops::linear_backward(h, weight, dlogits, dweight, nullptr));
  }
  return dhidden;
}

}  // namespace khub
