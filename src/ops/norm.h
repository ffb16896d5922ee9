// RMSNorm, the reference path (DESIGN §7: Gemma's 1+weight form is a separate op and layer key).
#pragma once

#include "core/tensor.h"

namespace khub::ops {

// out = x * rsqrt(mean(x², -1) + eps) * weight, computed in f32. x: f32 [..., H]; weight: [H] in
// f32/bf16/f16. Returns f32 with x's shape.
Tensor rms_norm(const Tensor& x, const Tensor& weight, float eps);
// Gemma: out = x * rsqrt(mean(x², -1) + eps) * (1 + weight).
Tensor gemma_rms_norm(const Tensor& x, const Tensor& weight, float eps);

}  // namespace khub::ops
