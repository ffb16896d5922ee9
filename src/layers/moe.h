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
  // How the checkpoint stored the experts (training names its parameters after it).
  enum class Layout { kPerExpert, kFused, kGptOss } layout = Layout::kPerExpert;
  bool mxfp4 = false;  // the experts were dequantized from MXFP4 at load (not trainable)
};

// gpt-oss stores each expert's gate and up outputs interleaved (gate 2i, up 2i + 1) along `dim`
// of t (size 2I there); khub's gate_up layout puts the I gate outputs first. These convert a
// tensor between the two layouts (contiguous results).
Tensor deinterleave_gate_up(const Tensor& t, int64_t dim);
Tensor interleave_gate_up(const Tensor& t, int64_t dim);

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

// What a training forward keeps for backward(), and the weights' gradients (shaped like
// MoEWeights, f32; undefined where the weight is).
struct MoELayerSaved {
  Tensor logits;  // router logits [T, E]
  ops::ExpertRoutes routes;
  ops::MoeSaved experts;
};
struct MoEGrads {
  Tensor router, router_bias, gate_up, gate_up_bias, down, down_bias;
};

class MoELayer : public SlottedLayer<Tensor(const Tensor& x)> {
 public:
  MoELayer(std::string path, MoEWeights weights, MoEOptions options);

  std::string_view layer_key() const override { return "MoE"; }
  Tensor forward(const Tensor& x) const { return slot_ ? slot_(x) : reference(x); }
  Tensor reference(const Tensor& x) const { return forward_train(x, nullptr); }
  // The reference forward, keeping in *saved (when non-null) what backward() needs.
  Tensor forward_train(const Tensor& x, MoELayerSaved* saved) const;
  // dy [T, H] → dx [T, H]; adds the weights' gradients into g (the reference backward: a kernel
  // bound to this layer has no backward, so training runs the reference forward too).
  Tensor backward(const Tensor& x, const Tensor& dy, const MoELayerSaved& saved, MoEGrads& g) const;

  int64_t num_experts() const { return w.gate_up.size(0); }

  MoEWeights w;
  MoEOptions options;
};

}  // namespace khub
