// Mixture-of-experts MLP on the reference path (docs/layer-contracts.md, key "MoE"): a router's
// top-k choice per token, then each chosen expert's gated MLP on the tokens routed to it, summed
// with the router's weights. CPU, f32 activations; expert weights f32, bf16 or f16.
#pragma once

#include <cstdint>
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

// y[t] = Σ_j weight[t, j] · down[e] · act_and_mul(gate_up[e] · x[t]),  e = expert[t, j].
// x: f32 [T, H]; gate_up: [E, 2I, H] (each expert's gate rows, then its up rows); down: [E, H, I].
// Experts run in ascending order, each on the rows of the tokens routed to it, and add into y in
// that order (as transformers' expert loop does). Returns f32 [T, H].
Tensor moe_experts(const Tensor& x, const ExpertRoutes& routes, const Tensor& gate_up,
                   const Tensor& down, GatedActivation act);

}  // namespace khub::ops
