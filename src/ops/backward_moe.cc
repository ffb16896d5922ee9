// Backward of the mixture-of-experts reference (ops/moe.cc): per expert, the reverse of its
// gated MLP on the rows routed to it; per token, the routing weights' gradient through the
// softmax (and the renormalization) to the router logits. The top-k choice is piecewise
// constant and passes no gradient, as in torch.
#include <algorithm>
#include <cmath>

#include "core/error.h"
#include "ops/backward.h"
#include "ops/moe.h"

namespace khub::ops {
namespace {

// Backward of gpt-oss's clamped SwiGLU over gu [n, 2I] (gate columns, then up): returns d(gu).
Tensor clamped_swiglu_backward(const Tensor& gu, const Tensor& dmid, float alpha, float limit) {
  const int64_t n = gu.size(0), inter = gu.size(1) / 2;
  Tensor d = Tensor::zeros({n, 2 * inter}, DType::kF32);
  const float* in = gu.data_as<float>();
  const float* dm = dmid.data_as<float>();
  float* o = d.data_as<float>();
  for (int64_t r = 0; r < n; ++r) {
    for (int64_t c = 0; c < inter; ++c) {
      float g_raw = in[r * 2 * inter + c], u_raw = in[r * 2 * inter + inter + c];
      float g = std::min(g_raw, limit), u = std::clamp(u_raw, -limit, limit);
      float sig = 1.0f / (1.0f + std::exp(-alpha * g));
      float dy = dm[r * inter + c];
      // torch's clamp passes the gradient where the input lies inside the bounds (inclusive).
      if (g_raw <= limit)
        o[r * 2 * inter + c] = dy * (u + 1.0f) * sig * (1.0f + alpha * g * (1.0f - sig));
      if (u_raw >= -limit && u_raw <= limit) o[r * 2 * inter + inter + c] = dy * g * sig;
    }
  }
  return d;
}

}  // namespace

Tensor moe_experts_backward(const Tensor& dy, const ExpertRoutes& routes, const MoeSaved& s,
                            const Tensor& gate_up, const Tensor& down,
                            const ExpertActivation& activation, Tensor* dgate_up, Tensor* ddown,
                            Tensor* dgate_up_bias, Tensor* ddown_bias,
                            std::vector<float>* dweight) {
  const int64_t t = dy.size(0), h = dy.size(1), k = routes.top_k;
  const int64_t n_experts = static_cast<int64_t>(s.tokens.size());
  KHUB_CHECK_ARG(dy.dtype() == DType::kF32 && dy.is_contiguous() && routes.tokens == t &&
                     n_experts == gate_up.size(0) && dgate_up && ddown && dweight,
                 "moe_experts_backward: dy ", dy.describe(), " does not match the saved forward (",
                 routes.tokens, " tokens, ", n_experts, " experts)");
  dweight->assign(t * k, 0.0f);
  Tensor dx = Tensor::zeros({t, h}, DType::kF32);
  float* dxp = dx.data_as<float>();
  const float* dyp = dy.data_as<float>();
  for (int64_t e = 0; e < n_experts; ++e) {
    const std::vector<int32_t>& tok = s.tokens[e];
    const int64_t n = static_cast<int64_t>(tok.size());
    if (n == 0) continue;
    // y[tok] += w · out: d(out) = w · dy[tok]; d(w) = dy[tok] · out.
    Tensor dout = Tensor::empty({n, h}, DType::kF32);
    const float* outp = s.out[e].data_as<float>();
    for (int64_t r = 0; r < n; ++r) {
      int64_t i = tok[r], j = 0;
      while (routes.expert[i * k + j] != e) ++j;
      float w = routes.weight[i * k + j];
      const float* g = dyp + i * h;
      float dw = 0.0f;
      for (int64_t c = 0; c < h; ++c) {
        dout.data_as<float>()[r * h + c] = w * g[c];
        dw += g[c] * outp[r * h + c];
      }
      (*dweight)[i * k + j] = dw;
    }
    Tensor dd = ddown->select(0, e), ddb = ddown_bias ? ddown_bias->select(0, e) : Tensor();
    Tensor dmid =
        linear_backward(s.mid[e], down.select(0, e), dout, &dd, ddown_bias ? &ddb : nullptr);
    Tensor dgu = activation.swiglu_limit > 0
                     ? clamped_swiglu_backward(s.gate_up[e], dmid, activation.swiglu_alpha,
                                               activation.swiglu_limit)
                     : act_and_mul_backward(s.gate_up[e], dmid, activation.act);
    Tensor dg = dgate_up->select(0, e),
           dgb = dgate_up_bias ? dgate_up_bias->select(0, e) : Tensor();
    Tensor drows =
        linear_backward(s.rows[e], gate_up.select(0, e), dgu, &dg, dgate_up_bias ? &dgb : nullptr);
    const float* dr = drows.data_as<float>();
    for (int64_t r = 0; r < n; ++r) {
      float* dst = dxp + static_cast<int64_t>(tok[r]) * h;
      for (int64_t c = 0; c < h; ++c) dst[c] += dr[r * h + c];
    }
  }
  return dx;
}

Tensor route_backward(const Tensor& logits, const ExpertRoutes& r,
                      const std::vector<float>& dweight, bool softmax_topk, bool renormalize) {
  const int64_t t = logits.size(0), e = logits.size(1), k = r.top_k;
  KHUB_CHECK_ARG(static_cast<int64_t>(dweight.size()) == t * k && r.tokens == t,
                 "route_backward: ", dweight.size(), " weight gradients for ", t, " × ", k,
                 " routes");
  Tensor dl = Tensor::zeros({t, e}, DType::kF32);
  float* out = dl.data_as<float>();
  const float* lp = logits.data_as<float>();
  std::vector<float> p(e), dp(e);
  for (int64_t i = 0; i < t; ++i) {
    const float* dw = dweight.data() + i * k;
    const float* w = r.weight.data() + i * k;
    const int32_t* ex = r.expert.data() + i * k;
    if (!softmax_topk) {  // w = softmax(selected logits): d(selected logit) = w (dw - Σ w dw)
      float sum = 0.0f;
      for (int64_t j = 0; j < k; ++j) sum += w[j] * dw[j];
      for (int64_t j = 0; j < k; ++j) out[i * e + ex[j]] = w[j] * (dw[j] - sum);
      continue;
    }
    const float* row = lp + i * e;
    float mx = *std::max_element(row, row + e), z = 0.0f;
    for (int64_t c = 0; c < e; ++c) z += p[c] = std::exp(row[c] - mx);
    for (int64_t c = 0; c < e; ++c) p[c] /= z;
    std::fill(dp.begin(), dp.end(), 0.0f);
    if (renormalize) {  // w_j = p_j / S over the selected: dp_j = (dw_j - Σ_l dw_l w_l) / S
      float picked = 0.0f, sum = 0.0f;
      for (int64_t j = 0; j < k; ++j) {
        picked += p[ex[j]];
        sum += dw[j] * w[j];
      }
      for (int64_t j = 0; j < k; ++j) dp[ex[j]] = (dw[j] - sum) / picked;
    } else {
      for (int64_t j = 0; j < k; ++j) dp[ex[j]] = dw[j];
    }
    float dot = 0.0f;
    for (int64_t c = 0; c < e; ++c) dot += p[c] * dp[c];
    for (int64_t c = 0; c < e; ++c) out[i * e + c] = p[c] * (dp[c] - dot);
  }
  return dl;
}

}  // namespace khub::ops
