#include "ops/moe.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "core/error.h"
#include "ops/indexing.h"
#include "ops/linear.h"
#include "ops/ops_cuda.h"

namespace khub::ops {

namespace {

void check_logit_shape(const Tensor& logits, int64_t top_k) {
  KHUB_CHECK_ARG(logits.dim() == 2, "router logits must be [tokens, experts], got ",
                 logits.describe());
  KHUB_CHECK_ARG(top_k >= 1 && top_k <= logits.size(1), "top_k ", top_k, " is outside [1, ",
                 logits.size(1), "]");
}

void check_logits(const Tensor& logits, int64_t top_k) {
  KHUB_CHECK_ARG(logits.dim() == 2 && logits.dtype() == DType::kF32 && logits.device().is_cpu() &&
                     logits.is_contiguous(),
                 "router logits must be contiguous f32 [tokens, experts] on the CPU, got ",
                 logits.describe());
  check_logit_shape(logits, top_k);
}

// Indices of the k largest values of v (ties: the lower index first), largest first.
void top_indices(const std::vector<float>& v, int64_t k, std::vector<int32_t>& order) {
  order.resize(v.size());
  std::iota(order.begin(), order.end(), 0);
  std::partial_sort(order.begin(), order.begin() + k, order.end(),
                    [&](int32_t a, int32_t b) { return v[a] > v[b] || (v[a] == v[b] && a < b); });
}

// In-place softmax of v[0, n) in f32 (max subtracted first, as torch does).
void softmax(float* v, int64_t n) {
  float mx = *std::max_element(v, v + n), sum = 0.0f;
  for (int64_t j = 0; j < n; ++j) sum += v[j] = std::exp(v[j] - mx);
  for (int64_t j = 0; j < n; ++j) v[j] /= sum;
}

ExpertRoutes empty_routes(int64_t t, int64_t k) {
  ExpertRoutes r;
  r.tokens = t;
  r.top_k = k;
  r.expert.resize(t * k);
  r.weight.resize(t * k);
  return r;
}

}  // namespace

ExpertRoutes route_softmax_topk(const Tensor& logits, int64_t top_k, bool renormalize) {
  if (logits.device().is_cuda()) {
    check_logit_shape(logits, top_k);
    return cuda::moe_route(logits, top_k, true, renormalize);
  }
  check_logits(logits, top_k);
  const int64_t t = logits.size(0), e = logits.size(1);
  ExpertRoutes r = empty_routes(t, top_k);
  std::vector<float> p(e);
  std::vector<int32_t> order;
  for (int64_t i = 0; i < t; ++i) {
    std::copy_n(logits.data_as<float>() + i * e, e, p.begin());
    softmax(p.data(), e);
    top_indices(p, top_k, order);
    float picked = 0.0f;
    for (int64_t j = 0; j < top_k; ++j) picked += p[order[j]];
    for (int64_t j = 0; j < top_k; ++j) {
      r.expert[i * top_k + j] = order[j];
      r.weight[i * top_k + j] = renormalize ? p[order[j]] / picked : p[order[j]];
    }
  }
  return r;
}

ExpertRoutes route_topk_softmax(const Tensor& logits, int64_t top_k) {
  if (logits.device().is_cuda()) {
    check_logit_shape(logits, top_k);
    return cuda::moe_route(logits, top_k, false, false);
  }
  check_logits(logits, top_k);
  const int64_t t = logits.size(0), e = logits.size(1);
  ExpertRoutes r = empty_routes(t, top_k);
  std::vector<float> row(e);
  std::vector<int32_t> order;
  for (int64_t i = 0; i < t; ++i) {
    std::copy_n(logits.data_as<float>() + i * e, e, row.begin());
    top_indices(row, top_k, order);
    for (int64_t j = 0; j < top_k; ++j) {
      r.expert[i * top_k + j] = order[j];
      r.weight[i * top_k + j] = row[order[j]];
    }
    softmax(r.weight.data() + i * top_k, top_k);
  }
  return r;
}

namespace {

// gpt-oss's clamped SwiGLU over [n, 2I] (gate columns, then up columns) → [n, I].
Tensor clamped_swiglu(const Tensor& gu, float alpha, float limit) {
  const int64_t n = gu.size(0), inter = gu.size(1) / 2;
  Tensor out = Tensor::empty({n, inter}, DType::kF32);
  const float* in = gu.data_as<float>();
  float* o = out.data_as<float>();
  for (int64_t r = 0; r < n; ++r) {
    for (int64_t c = 0; c < inter; ++c) {
      float g = std::min(in[r * 2 * inter + c], limit);
      float u = std::clamp(in[r * 2 * inter + inter + c], -limit, limit);
      o[r * inter + c] = (u + 1.0f) * (g / (1.0f + std::exp(-alpha * g)));
    }
  }
  return out;
}

}  // namespace

Tensor moe_experts(const Tensor& x, const ExpertRoutes& routes, const Tensor& gate_up,
                   const Tensor& down, const ExpertActivation& activation,
                   const Tensor& gate_up_bias, const Tensor& down_bias, MoeSaved* saved) {
  const bool on_cuda = x.device().is_cuda();
  KHUB_CHECK_ARG(x.dim() == 2 && (on_cuda || x.dtype() == DType::kF32),
                 "MoE input must be [tokens, hidden] (f32 on the CPU), got ", x.describe());
  KHUB_CHECK_ARG(gate_up.dim() == 3 && down.dim() == 3 && gate_up.size(0) == down.size(0) &&
                     gate_up.size(2) == x.size(1) && down.size(1) == x.size(1) &&
                     gate_up.size(1) == 2 * down.size(2),
                 "MoE expert weights must be gate_up [E, 2I, H] and down [E, H, I] for hidden ",
                 x.size(1), ", got ", gate_up.describe(), " and ", down.describe());
  KHUB_CHECK_ARG(routes.tokens == x.size(0), "MoE routes are for ", routes.tokens,
                 " tokens, the input has ", x.size(0));
  if (on_cuda) {
    KHUB_CHECK_ARG(saved == nullptr, "ops::moe_experts: training keeps its activations on the ",
                   "CPU reference only (the MoE backward runs there)");
    return cuda::moe_experts(x, routes, gate_up, down, activation, gate_up_bias, down_bias);
  }
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
  if (saved) {
    *saved = MoeSaved{};
    saved->tokens = tokens;
    saved->rows.resize(n_experts);
    saved->gate_up.resize(n_experts);
    saved->mid.resize(n_experts);
    saved->out.resize(n_experts);
  }
  for (int64_t e = 0; e < n_experts; ++e) {
    const size_t n = tokens[e].size();
    if (n == 0) continue;
    Tensor idx = Tensor::from_vector(tokens[e], {static_cast<int64_t>(n)}, DType::kI32);
    Tensor rows = index_rows(x, idx, DType::kF32);
    Tensor gu = linear(rows, gate_up.select(0, e),
                       gate_up_bias.defined() ? gate_up_bias.select(0, e) : Tensor());
    Tensor mid = activation.swiglu_limit > 0
                     ? clamped_swiglu(gu, activation.swiglu_alpha, activation.swiglu_limit)
                     : act_and_mul(gu, activation.act);
    Tensor out =
        linear(mid, down.select(0, e), down_bias.defined() ? down_bias.select(0, e) : Tensor());
    if (saved) {
      saved->rows[e] = rows;
      saved->gate_up[e] = gu;
      saved->mid[e] = mid;
      saved->out[e] = out;
    }
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

Tensor dequantize_mxfp4(const Tensor& blocks, const Tensor& scales, const std::string& what) {
  if (blocks.dtype() != DType::kU8 || scales.dtype() != DType::kU8 || blocks.dim() < 2 ||
      blocks.size(-1) != 16 || scales.dim() != blocks.dim() - 1 || !blocks.device().is_cpu()) {
    fail(ErrorKind::kFormat, what,
         ": MXFP4 expects u8 blocks [..., G, 16] and u8 scales [..., G], got ", blocks.describe(),
         " and ", scales.describe());
  }
  for (int64_t d = 0; d < scales.dim(); ++d) {
    if (scales.size(d) != blocks.size(d)) {
      fail(ErrorKind::kFormat, what, ": MXFP4 scales ", shape_str(scales.shape()),
           " do not match blocks ", shape_str(blocks.shape()));
    }
  }
  static const float kE2M1[16] = {0.0f,  0.5f,  1.0f,  1.5f,  2.0f,  3.0f,  4.0f,  6.0f,
                                  -0.0f, -0.5f, -1.0f, -1.5f, -2.0f, -3.0f, -4.0f, -6.0f};
  Tensor b = blocks.contiguous(), sc = scales.contiguous();
  Shape shape = scales.shape();
  shape.back() *= 32;
  Tensor out = Tensor::empty(shape, DType::kF32);
  const uint8_t* bp = b.data_as<uint8_t>();
  const uint8_t* sp = sc.data_as<uint8_t>();
  float* o = out.data_as<float>();
  for (int64_t g = 0; g < sc.numel(); ++g) {
    const int exp = static_cast<int>(sp[g]) - 127;
    for (int64_t i = 0; i < 16; ++i) {
      uint8_t byte = bp[g * 16 + i];
      o[g * 32 + 2 * i] = std::ldexp(kE2M1[byte & 0x0F], exp);
      o[g * 32 + 2 * i + 1] = std::ldexp(kE2M1[byte >> 4], exp);
    }
  }
  return out;
}

}  // namespace khub::ops
