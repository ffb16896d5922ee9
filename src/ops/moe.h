// Mixture-of-experts MLP on the reference path (docs/layer-contracts.md, key "MoE"): a router's
// top-k choice per token, then each chosen expert's gated MLP on the tokens routed to it, summed
// with the router's weights. CPU, f32 activations; expert weights f32, bf16 or f16. Also the
// MXFP4 expert weights gpt-oss checkpoints are published in, dequantized at load.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/tensor.h"
#include "ops/activation.h"

namespace khub::ops {

// Per token, the experts it goes to and their weights: expert[t * top_k + j], weight[...].
struct ExpertRoutes {
  int64_t tokens = 0, top_k = 0;
  std::vector<int32_t> expert;
  std::vector<float> weight;
};

// softmax(router_logits [T, E] f32) in f32, then the top_k largest probabilities of each row (the
// lower expert index first on ties), divided by their sum when renormalize: the routing of
// mixtral (renormalized) and qwen3_moe (norm_topk_prob).
ExpertRoutes route_softmax_topk(const Tensor& router_logits, int64_t top_k, bool renormalize);

// The top_k largest logits of each row (the lower expert index first on ties), then a softmax
// over those k values: gpt-oss's router.
ExpertRoutes route_topk_softmax(const Tensor& router_logits, int64_t top_k);

// How an expert turns gate_up · x (+ bias) into the down projection's input.
struct ExpertActivation {
  GatedActivation act = GatedActivation::kSilu;  // act(gate) * up
  // gpt-oss: gate = min(gate, limit), up = clamp(up, -limit, limit),
  // out = (up + 1) · gate · sigmoid(alpha · gate) (replaces act when limit > 0).
  float swiglu_alpha = 1.702f, swiglu_limit = 0.0f;
};

// y[t] = Σ_j weight[t, j] · (down[e] · activation(gate_up[e] · x[t] + gate_up_bias[e])
//                             + down_bias[e]),  e = expert[t, j].
// x: f32 [T, H]; gate_up: [E, 2I, H] (each expert's gate rows, then its up rows); down: [E, H, I];
// biases [E, 2I] and [E, H] or undefined. Experts run in ascending order, each on the rows of the
// tokens routed to it, and add into y in that order (as transformers' expert loop does).
// Returns f32 [T, H].
// What moe_experts' training forward keeps for moe_experts_backward: per expert, its tokens (in
// token order), their input rows, gate_up output, activation and down output (before weighting).
struct MoeSaved {
  std::vector<std::vector<int32_t>> tokens;
  std::vector<Tensor> rows, gate_up, mid, out;
};

Tensor moe_experts(const Tensor& x, const ExpertRoutes& routes, const Tensor& gate_up,
                   const Tensor& down, const ExpertActivation& activation,
                   const Tensor& gate_up_bias = Tensor(), const Tensor& down_bias = Tensor(),
                   MoeSaved* saved = nullptr);

// Backward of moe_experts (ops/backward_moe.cc). dy [T, H]; the forward's routes, weights and
// saved state. Adds the experts' weight gradients into *dgate_up [E, 2I, H] and *ddown
// [E, H, I] (and the biases' when non-null), writes d(routes.weight) into *dweight
// ([T · top_k], as routes.weight) and returns dx [T, H]. The selection itself has no gradient.
Tensor moe_experts_backward(const Tensor& dy, const ExpertRoutes& routes, const MoeSaved& saved,
                            const Tensor& gate_up, const Tensor& down,
                            const ExpertActivation& activation, Tensor* dgate_up, Tensor* ddown,
                            Tensor* dgate_up_bias, Tensor* ddown_bias, std::vector<float>* dweight);

// Backward of the routing: d(routes.weight) → d(router logits) [T, E]. softmax_topk: the
// routes of route_softmax_topk(logits, k, renormalize); else those of route_topk_softmax.
Tensor route_backward(const Tensor& logits, const ExpertRoutes& routes,
                      const std::vector<float>& dweight, bool softmax_topk, bool renormalize);

// MXFP4 (OCP microscaling FP4): blocks u8 [..., G, 16] hold 32 e2m1 values per group, the low
// nibble first; scales u8 [..., G] are e8m0 exponents (value · 2^(scale - 127)). Returns f32
// [..., G · 32]. Throws Error(kFormat) naming `what` for mismatched shapes or dtypes.
Tensor dequantize_mxfp4(const Tensor& blocks, const Tensor& scales, const std::string& what);

}  // namespace khub::ops
