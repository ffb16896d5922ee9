// A model's trainable parameters under their Hugging Face checkpoint names (training,
// docs/design.md §10). CausalLM stacks some checkpoint tensors at load (q/k/v, gate/up): each
// checkpoint tensor is then a row-range view of the stacked weight, and its gradient the same
// view of the stacked gradient, so optimizers, clipping and checkpoints see exactly the tensors
// transformers has. A tied lm_head is not a separate parameter: its gradient lands on the
// embedding's.
#pragma once

#include <string>
#include <vector>

#include "core/tensor.h"

namespace khub {

struct Parameter {
  std::string name;  // "model.layers.0.self_attn.q_proj.weight"
  Tensor value;      // f32, contiguous, on the model's device; updated in place by optimizers
  Tensor grad;       // same shape, dtype and device; accumulates until zeroed
};

}  // namespace khub
