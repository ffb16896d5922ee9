// A model's trainable parameters under their Hugging Face checkpoint names (training,
// docs/design.md §10). CausalLM stacks some checkpoint tensors at load (q/k/v, gate/up): each
// checkpoint tensor is then a row-range view of the stacked weight, and its gradient the same
// view of the stacked gradient, so optimizers, clipping and checkpoints see exactly the tensors
// transformers has. A tied lm_head is not a separate parameter: its gradient lands on the
// embedding's. A tensor stored in another layout (gpt-oss's experts) is trained in khub's and
// converted when saved (Parameter::to_checkpoint).
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "core/tensor.h"

namespace khub {

struct Parameter {
  std::string name;  // "model.layers.0.self_attn.q_proj.weight"
  Tensor value;      // f32, contiguous, on the model's device; updated in place by optimizers
  Tensor grad;       // same shape, dtype and device; accumulates until zeroed
  // Where the checkpoint stores the tensor in another layout (gpt-oss's fused experts: transposed,
  // gate and up interleaved): value → the checkpoint's tensor, back, and the checkpoint tensor's
  // shape. Unset:
  // the checkpoint holds value as it is. Optimizer state and f32 masters keep value's layout.
  std::function<Tensor(const Tensor&)> to_checkpoint = nullptr;
  std::function<Tensor(const Tensor&)> from_checkpoint = nullptr;  // its inverse
  Shape checkpoint_shape = {};
  const Shape& stored_shape() const { return to_checkpoint ? checkpoint_shape : value.shape(); }
};

}  // namespace khub
