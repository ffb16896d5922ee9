// Gated activations of the MLP: act(x[..., :D]) * x[..., D:], the reference path.
#pragma once

#include <string_view>

#include "core/tensor.h"

namespace khub::ops {

enum class GatedActivation { kSilu, kGeluTanh, kGelu };

// Maps HF's hidden_act names: silu/swish → kSilu; gelu_pytorch_tanh/gelu_new/gelu_fast → kGeluTanh;
// gelu → kGelu. Throws Error(kUnsupported) listing the known names.
GatedActivation gated_activation_from_hf(std::string_view hidden_act);

// x: f32 [..., 2D] → f32 [..., D].
Tensor act_and_mul(const Tensor& x, GatedActivation act);

}  // namespace khub::ops
