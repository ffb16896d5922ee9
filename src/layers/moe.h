// The mixture-of-experts MLP of qwen3_moe, mixtral and gpt_oss: key "MoE" (the role of
// megablocks' MegaBlocksMoeMLP in the kernels hub). Forward: x [T, H] f32 → [T, H]; the reference
// routes with ops::route_softmax_topk (qwen3_moe, mixtral) or ops::route_topk_softmax (gpt_oss)
// and runs the experts with ops::moe_experts. A kernel receives the same input and the layer's
// weights (router [E, H] and bias [E]; gate_up [E, 2I, H], each expert's gate rows then its up
// rows, and bias [E, 2I]; down [E, H, I] and bias [E, H]; biases may be undefined).
#pragma once

#include "core/tensor.h"
#include "layers/layer.h"
#include "ops/moe.h"

namespace khub {

struct MoEWeights {
  Tensor router, router_bias, gate_up, gate_up_bias, down, down_bias;
};

enum class MoERouting {
  kSoftmaxTopK,  // softmax over the experts, then the top k (renormalized when asked)
  kTopKSoftmax,  // the top k logits, then a softmax over them (gpt_oss)
};

struct MoEOptions {
  int64_t top_k = 1;
  MoERouting routing = MoERouting::kSoftmaxTopK;
  bool renormalize = false;  // kSoftmaxTopK only
  ops::ExpertActivation activation;
};

class MoELayer : public SlottedLayer<Tensor(const Tensor& x)> {
 public:
  MoELayer(std::string path, MoEWeights weights, MoEOptions options);

  std::string_view layer_key() const override { return "MoE"; }
  Tensor forward(const Tensor& x) const { return slot_ ? slot_(x) : reference(x); }
  Tensor reference(const Tensor& x) const;

  int64_t num_experts() const { return w.gate_up.size(0); }

  MoEWeights w;
  MoEOptions options;
};

}  // namespace khub
