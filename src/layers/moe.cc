#include "layers/moe.h"

#include "core/error.h"
#include "ops/backward.h"
#include "ops/elementwise.h"
#include "ops/linear.h"

namespace khub {

namespace {

// t viewed with `dim` (size 2I) split into [2, I] (gate first) or [I, 2] (interleaved), the two
// swapped: one layout to the other.
Tensor swap_gate_up_layout(const Tensor& t, int64_t dim, bool from_interleaved) {
  Shape split = t.shape();
  const int64_t inter = split[dim] / 2;
  split[dim] = from_interleaved ? inter : 2;
  split.insert(split.begin() + dim + 1, from_interleaved ? 2 : inter);
  std::vector<int64_t> order(split.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = static_cast<int64_t>(i);
  std::swap(order[dim], order[dim + 1]);
  return t.contiguous().view(split).permute(order).contiguous().view(t.shape());
}

}  // namespace

Tensor deinterleave_gate_up(const Tensor& t, int64_t dim) {
  return swap_gate_up_layout(t, dim, true);
}

Tensor interleave_gate_up(const Tensor& t, int64_t dim) {
  return swap_gate_up_layout(t, dim, false);
}

MoELayer::MoELayer(std::string path, MoEWeights weights, MoEOptions options_)
    : SlottedLayer(std::move(path)), w(std::move(weights)), options(options_) {}

Tensor MoELayer::forward_train(const Tensor& x, MoELayerSaved* saved) const {
  if (saved && !x.device().is_cpu()) {
    fail(ErrorKind::kUnsupported, path(),
         ": the MoE layer trains on the CPU only (its backward has no CUDA path yet)");
  }
  // On CUDA the logits come in the activations' dtype; routing reads them in f32.
  Tensor logits = ops::linear(x, w.router, w.router_bias);
  if (logits.dtype() != DType::kF32) logits = ops::cast(logits, DType::kF32);
  ops::ExpertRoutes routes =
      options.routing == MoERouting::kTopKSoftmax
          ? ops::route_topk_softmax(logits, options.top_k)
          : ops::route_softmax_topk(logits, options.top_k, options.renormalize);
  Tensor y = ops::moe_experts(x, routes, w.gate_up, w.down, options.activation, w.gate_up_bias,
                              w.down_bias, saved ? &saved->experts : nullptr);
  if (saved) {
    saved->logits = logits;
    saved->routes = std::move(routes);
  }
  return y;
}

Tensor MoELayer::backward(const Tensor& x, const Tensor& dy, const MoELayerSaved& s,
                          MoEGrads& g) const {
  std::vector<float> dweight;
  Tensor dx = ops::moe_experts_backward(dy.contiguous(), s.routes, s.experts, w.gate_up, w.down,
                                        options.activation, &g.gate_up, &g.down,
                                        g.gate_up_bias.defined() ? &g.gate_up_bias : nullptr,
                                        g.down_bias.defined() ? &g.down_bias : nullptr, &dweight);
  Tensor dlogits =
      ops::route_backward(s.logits, s.routes, dweight, options.routing == MoERouting::kSoftmaxTopK,
                          options.renormalize);
  ops::add_inplace(dx, ops::linear_backward(x, w.router, dlogits, &g.router,
                                            g.router_bias.defined() ? &g.router_bias : nullptr));
  return dx;
}

}  // namespace khub
