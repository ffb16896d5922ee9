#include "layers/moe.h"

#include "core/error.h"
#include "ops/linear.h"
#include "ops/moe.h"

namespace khub {

MoELayer::MoELayer(std::string path, Tensor router_, Tensor gate_up_, Tensor down_, int64_t top_k_,
                   bool renormalize_, ops::GatedActivation act_)
    : SlottedLayer(std::move(path)),
      router(std::move(router_)),
      gate_up(std::move(gate_up_)),
      down(std::move(down_)),
      top_k(top_k_),
      renormalize(renormalize_),
      act(act_) {}

Tensor MoELayer::reference(const Tensor& x) const {
  if (!x.device().is_cpu()) {
    fail(ErrorKind::kUnsupported, path(),
         ": the MoE layer's reference runs on the CPU only (no CUDA reference or kernel for the "
         "'MoE' key yet); load the model with device cpu");
  }
  Tensor logits = ops::linear(x, router);
  return ops::moe_experts(x, ops::route_softmax_topk(logits, top_k, renormalize), gate_up, down,
                          act);
}

}  // namespace khub
