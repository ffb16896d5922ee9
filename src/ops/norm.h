// RMSNorm, the reference path (docs/design.md §8: Gemma's 1+weight form is a separate op and layer
// key).
#pragma once

#include "core/tensor.h"

namespace khub::ops {

// out = x * rsqrt(mean(x², -1) + eps) * weight, computed in f32. x: [..., H], f32 on the CPU, f32,
// bf16 or f16 on CUDA; weight: [H] in f32/bf16/f16. Returns x's dtype and shape. On CUDA the
// normalized value is rounded to x's dtype before the weight multiplies it, as transformers does.
Tensor rms_norm(const Tensor& x, const Tensor& weight, float eps);
// Gemma: out = x * rsqrt(mean(x², -1) + eps) * (1 + weight).
Tensor gemma_rms_norm(const Tensor& x, const Tensor& weight, float eps);

}  // namespace khub::ops
