#include "layers/moe.h"

#include "core/error.h"
#include "ops/linear.h"

namespace khub {

MoELayer::MoELayer(std::string path, MoEWeights weights, MoEOptions options_)
    : SlottedLayer(std::move(path)), w(std::move(weights)), options(options_) {}

Tensor MoELayer::reference(const Tensor& x) const {
  if (!x.device().is_cpu()) {
    fail(ErrorKind::kUnsupported, path(),
         ": the MoE layer's reference runs on the CPU only (no CUDA reference or kernel for the "
         "'MoE' key yet); load the model with device cpu");
  }
  Tensor logits = ops::linear(x, w.router, w.router_bias);
  ops::ExpertRoutes routes =
      options.routing == MoERouting::kTopKSoftmax
          ? ops::route_topk_softmax(logits, options.top_k)
          : ops::route_softmax_topk(logits, options.top_k, options.renormalize);
  return ops::moe_experts(x, routes, w.gate_up, w.down, options.activation, w.gate_up_bias,
                          w.down_bias);
}

}  // namespace khub
