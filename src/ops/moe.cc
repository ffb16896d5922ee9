#include "ops/moe.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "core/error.h"
#include "ops/indexing.h"
#include "ops/linear.h"

namespace khub::ops {

ExpertRoutes route_softmax_topk(const Tensor& logits, int64_t top_k, bool renormalize) {
  KHUB_CHECK_ARG(logits.dim() == 2 && logits.dtype() == DType::kF32 && logits.device().is_cpu() &&
                     logits.is_contiguous(),
                 "router logits must be contiguous f32 [tokens, experts] on the CPU, got ",
                 logits.describe());
  const int64_t t = logits.size(0), e = logits.size(1);
  KHUB_CHECK_ARG(top_k >= 1 && top_k <= e, "top_k ", top_k, " is outside [1, ", e, "]");
  ExpertRoutes r;
  r.tokens = t;
  r.top_k = top_k;
  r.expert.resize(t * top_k);
  r.weight.resize(t * top_k);
  const float* lp = logits.data_as<float>();
  std::vector<float> p(e);
  std::vector<int32_t> order(e);
  for (int64_t i = 0; i < t; ++i) {
    const float* row = lp + i * e;
    float mx = *std::max_element(row, row + e);
    float sum = 0.0f;
    for (int64_t j = 0; j < e; ++j) sum += p[j] = std::exp(row[j] - mx);
    for (int64_t j = 0; j < e; ++j) p[j] /= sum;
    std::iota(order.begin(), order.end(), 0);
    std::partial_sort(order.begin(), order.begin() + top_k, order.end(),
                      [&](int32_t a, int32_t b) { return p[a] > p[b] || (p[a] == p[b] && a < b); });
    float picked = 0.0f;
    for (int64_t j = 0; j < top_k; ++j) picked += p[order[j]];
    for (int64_t j = 0; j < top_k; ++j) {
      r.expert[i * top_k + j] = order[j];
      r.weight[i * top_k + j] = renormalize ? p[order[j]] / picked : p[order[j]];
    }
  }
  return r;
}

Tensor moe_experts(const Tensor& x, const ExpertRoutes& routes, const Tensor& gate_up,
                   const Tensor& down, GatedActivation act) {
  KHUB_CHECK_ARG(x.dim() == 2 && x.dtype() == DType::kF32 && x.device().is_cpu(),
                 "MoE input must be f32 [tokens, hidden] on the CPU, got ", x.describe());
  KHUB_CHECK_ARG(gate_up.dim() == 3 && down.dim() == 3 && gate_up.size(0) == down.size(0) &&
                     gate_up.size(2) == x.size(1) && down.size(1) == x.size(1) &&
                     gate_up.size(1) == 2 * down.size(2),
                 "MoE expert weights must be gate_up [E, 2I, H] and down [E, H, I] for hidden ",
                 x.size(1), ", got ", gate_up.describe(), " and ", down.describe());
  KHUB_CHECK_ARG(routes.tokens == x.size(0), "MoE routes are for ", routes.tokens,
                 " tokens, the input has ", x.size(0));
  const int64_t t = x.size(0), h = x.size(1), n_experts = gate_up.size(0), k = routes.top_k;
  // Tokens (and their routing slot) per expert, in token order.
  std::vector<std::vector<int32_t>> tokens(n_experts);
  std::vector<std::vector<float>> weights(n_experts);
  for (int64_t i = 0; i < t; ++i) {
    for (int64_t j = 0; j < k; ++j) {
      int32_t e = routes.expert[i * k + j];
      KHUB_CHECK_ARG(e >= 0 && e < n_experts, "MoE route to expert ", e, " of ", n_experts);
      tokens[e].push_back(static_cast<int32_t>(i));
      weights[e].push_back(routes.weight[i * k + j]);
    }
  }
  Tensor y = Tensor::zeros({t, h}, DType::kF32);
  float* yp = y.data_as<float>();
  for (int64_t e = 0; e < n_experts; ++e) {
    const size_t n = tokens[e].size();
    if (n == 0) continue;
    Tensor idx = Tensor::from_vector(tokens[e], {static_cast<int64_t>(n)}, DType::kI32);
    Tensor rows = index_rows(x, idx, DType::kF32);
    Tensor mid = act_and_mul(linear(rows, gate_up.select(0, e)), act);
    Tensor out = linear(mid, down.select(0, e));
    const float* op = out.data_as<float>();
    for (size_t r = 0; r < n; ++r) {
      float w = weights[e][r];
      float* dst = yp + static_cast<int64_t>(tokens[e][r]) * h;
      const float* src = op + static_cast<int64_t>(r) * h;
      for (int64_t c = 0; c < h; ++c) dst[c] += src[c] * w;
    }
  }
  return y;
}

}  // namespace khub::ops
