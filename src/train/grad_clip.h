// Gradient norm and clipping over a model's parameters (training, docs/design.md §10), with
// torch.nn.utils.clip_grad_norm_'s semantics: one global L2 norm over every grad, and a scale
// max_norm / (norm + 1e-6) applied only when it is below 1.
//
// One difference from torch: a non-finite norm (a NaN or an infinity in some grad) leaves the
// grads untouched (torch would multiply them all by NaN) and is returned as is, so the caller can
// skip the step and report it.
#pragma once

#include <vector>

#include "models/parameters.h"

namespace khub {

// sqrt(Σ g²) over all grads, accumulated in double. Grads are contiguous f32 tensors on the CPU
// or all on one CUDA device (one reduction launch and one read of the result).
double grad_norm(const std::vector<Parameter>& params);

// Whether every grad element is finite.
bool grads_finite(const std::vector<Parameter>& params);

// Clips in place when max_norm / (norm + 1e-6) < 1 and returns the norm before clipping.
// Throws Error(kInvalidArgument) for max_norm <= 0 or not finite.
double clip_grad_norm(const std::vector<Parameter>& params, double max_norm);

}  // namespace khub
