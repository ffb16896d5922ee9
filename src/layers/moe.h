// The mixture-of-experts MLP of qwen3_moe and mixtral: key "MoE" (the role of megablocks'
// MegaBlocksMoeMLP in the kernels hub). Forward: x [T, H] f32 → [T, H]; the reference routes with
// ops::route_softmax_topk and runs the experts with ops::moe_experts. A kernel receives the same
// input and the layer's weights (router [E, H], gate_up [E, 2I, H], down [E, H, I]).
#pragma once

#include "core/tensor.h"
#include "layers/layer.h"
#include "ops/activation.h"

namespace khub {

class MoELayer : public SlottedLayer<Tensor(const Tensor& x)> {
 public:
  MoELayer(std::string path, Tensor router, Tensor gate_up, Tensor down, int64_t top_k,
           bool renormalize, ops::GatedActivation act);

  std::string_view layer_key() const override { return "MoE"; }
  Tensor forward(const Tensor& x) const { return slot_ ? slot_(x) : reference(x); }
  Tensor reference(const Tensor& x) const;

  int64_t num_experts() const { return gate_up.size(0); }

  Tensor router, gate_up, down;
  int64_t top_k;
  bool renormalize;
  ops::GatedActivation act;
};

}  // namespace khub
