// Mixture-of-experts on CUDA, the reference path (ops/moe.h, docs/design.md §9): routing on the
// device (one thread per token), read back to the host, then per expert in ascending order a row
// gather of its tokens, the gate_up GEMM (cuBLAS through ops::linear), the gated activation, the
// down GEMM and a weighted scatter-add into an f32 sum (one launch per expert, so every token's sum
// adds its experts in the CPU reference's order). The host reads the routes, so this path is not
// captured into a CUDA graph (CausalLM::capture_blocker says so); the moe kernel is.
#include <cfloat>

#include "ops/cuda_common.cuh"
#include "ops/elementwise.h"
#include "ops/indexing.h"
#include "ops/linear.h"
#include "ops/ops_cuda.h"

namespace khub::ops::cuda {
namespace {

constexpr int kThreads = 256;
constexpr int kMaxTopK = 32;

// The j-th pick of a row: the largest value not yet picked (the lower index first on ties).
__device__ __forceinline__ int pick_next(const float* v, int64_t e, const int* picked, int j) {
  int best = -1;
  float bv = -FLT_MAX;
  for (int64_t c = 0; c < e; ++c) {
    bool taken = false;
    for (int q = 0; q < j; ++q) taken |= picked[q] == c;
    if (taken) continue;
    if (best < 0 || v[c] > bv) {
      best = static_cast<int>(c);
      bv = v[c];
    }
  }
  return best;
}

// softmax_topk: p = softmax(row), the top k of p (renormalized when asked); else the top k
// logits, then a softmax over those k. probs: scratch [T, E] f32.
__global__ void route_kernel(const float* __restrict__ logits, float* __restrict__ probs,
                             int64_t tokens, int64_t e, int k, bool softmax_topk, bool renormalize,
                             int32_t* __restrict__ expert, float* __restrict__ weight) {
  const int64_t t = blockIdx.x * int64_t{blockDim.x} + threadIdx.x;
  if (t >= tokens) return;
  const float* row = logits + t * e;
  float* p = probs + t * e;
  int picked[kMaxTopK];
  float w[kMaxTopK];
  if (softmax_topk) {
    float mx = -INFINITY, sum = 0.0f;
    for (int64_t c = 0; c < e; ++c) mx = fmaxf(mx, row[c]);
    for (int64_t c = 0; c < e; ++c) sum += p[c] = expf(row[c] - mx);
    for (int64_t c = 0; c < e; ++c) p[c] /= sum;
    float total = 0.0f;
    for (int j = 0; j < k; ++j) {
      picked[j] = pick_next(p, e, picked, j);
      total += w[j] = p[picked[j]];
    }
    if (renormalize)
      for (int j = 0; j < k; ++j) w[j] /= total;
  } else {
    for (int j = 0; j < k; ++j) {
      picked[j] = pick_next(row, e, picked, j);
      w[j] = row[picked[j]];
    }
    float mx = w[0], sum = 0.0f;  // w[0] is the largest
    for (int j = 0; j < k; ++j) sum += w[j] = expf(w[j] - mx);
    for (int j = 0; j < k; ++j) w[j] /= sum;
  }
  for (int j = 0; j < k; ++j) {
    expert[t * k + j] = picked[j];
    weight[t * k + j] = w[j];
  }
}

// gpt-oss's clamped SwiGLU: [n, 2I] (gate columns, then up columns) → [n, I].
template <typename T>
__global__ void clamped_swiglu_kernel(const T* __restrict__ gu, T* __restrict__ out, int64_t inter,
                                      int64_t n, float alpha, float limit) {
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < n;
       i += int64_t{gridDim.x} * blockDim.x) {
    int64_t r = i / inter, c = i - r * inter;
    float g = fminf(to_f32(gu[r * 2 * inter + c]), limit);
    float u = fminf(fmaxf(to_f32(gu[r * 2 * inter + inter + c]), -limit), limit);
    out[i] = from_f32<T>((u + 1.0f) * (g / (1.0f + expf(-alpha * g))));
  }
}

// y[tokens[r]] += weight[r] · rows[r] for the n rows of one expert (each token at most once).
template <typename T>
__global__ void scatter_add_kernel(const T* __restrict__ rows, const int32_t* __restrict__ tokens,
                                   const float* __restrict__ weight, float* __restrict__ y,
                                   int64_t h) {
  const int64_t r = blockIdx.x;
  const float w = weight[r];
  float* dst = y + int64_t{tokens[r]} * h;
  const T* src = rows + r * h;
  for (int64_t c = threadIdx.x; c < h; c += blockDim.x) dst[c] += w * to_f32(src[c]);
}

}  // namespace

ExpertRoutes moe_route(const Tensor& logits_in, int64_t top_k, bool softmax_topk,
                       bool renormalize) {
  const char* op = "ops::moe_route";
  check_on_cuda(logits_in, op, "router logits");
  KHUB_CHECK_ARG(top_k <= kMaxTopK, op, ": top_k ", top_k, " exceeds the CUDA reference's ",
                 kMaxTopK);
  Tensor logits = cast(logits_in.contiguous(), DType::kF32);
  const int64_t t = logits.size(0), e = logits.size(1);
  ExpertRoutes r;
  r.tokens = t;
  r.top_k = top_k;
  if (t == 0) return r;
  Tensor probs = Tensor::empty({t, e}, DType::kF32, logits.device());
  Tensor expert = Tensor::empty({t, top_k}, DType::kI32, logits.device());
  Tensor weight = Tensor::empty({t, top_k}, DType::kF32, logits.device());
  {
    khub::cuda::DeviceGuard g(logits.device());
    cudaStream_t s = khub::cuda::stream_for(logits.device());
    route_kernel<<<static_cast<unsigned>((t + 127) / 128), 128, 0, s>>>(
        logits.data_as<float>(), probs.data_as<float>(), t, e, static_cast<int>(top_k),
        softmax_topk, renormalize, expert.data_as<int32_t>(), weight.data_as<float>());
    KHUB_CUDA_CHECK_LAUNCH();
  }
  Tensor he = expert.to(Device::cpu()), hw = weight.to(Device::cpu());
  r.expert.assign(he.data_as<int32_t>(), he.data_as<int32_t>() + t * top_k);
  r.weight.assign(hw.data_as<float>(), hw.data_as<float>() + t * top_k);
  return r;
}

Tensor moe_experts(const Tensor& x, const ExpertRoutes& routes, const Tensor& gate_up,
                   const Tensor& down, const ExpertActivation& activation,
                   const Tensor& gate_up_bias, const Tensor& down_bias) {
  const char* op = "ops::moe_experts";
  check_on_cuda(x, op, "x");
  for (const Tensor* w : {&gate_up, &down, &gate_up_bias, &down_bias}) {
    if (!w->defined()) continue;
    check_same_device(x, *w, op);
    KHUB_CHECK_ARG(w->dtype() == x.dtype(), op, ": on CUDA the expert weights take the input's ",
                   "dtype ", dtype_name(x.dtype()), ", got ", w->describe());
  }
  const int64_t t = x.size(0), h = x.size(1), n_experts = gate_up.size(0), k = routes.top_k;
  const int64_t inter = down.size(2);
  // Tokens and weights per expert, in token order, packed expert after expert.
  std::vector<std::vector<int32_t>> tokens(n_experts);
  std::vector<std::vector<float>> weights(n_experts);
  for (int64_t i = 0; i < t; ++i) {
    for (int64_t j = 0; j < k; ++j) {
      int32_t e = routes.expert[i * k + j];
      KHUB_CHECK_ARG(e >= 0 && e < n_experts, op, ": route to expert ", e, " of ", n_experts);
      tokens[e].push_back(static_cast<int32_t>(i));
      weights[e].push_back(routes.weight[i * k + j]);
    }
  }
  std::vector<int32_t> all_tokens;
  std::vector<float> all_weights;
  std::vector<int64_t> start(n_experts + 1, 0);
  for (int64_t e = 0; e < n_experts; ++e) {
    all_tokens.insert(all_tokens.end(), tokens[e].begin(), tokens[e].end());
    all_weights.insert(all_weights.end(), weights[e].begin(), weights[e].end());
    start[e + 1] = static_cast<int64_t>(all_tokens.size());
  }
  Tensor y = Tensor::zeros({t, h}, DType::kF32, x.device());
  if (all_tokens.empty()) return cast(y, x.dtype());
  const int64_t slots = static_cast<int64_t>(all_tokens.size());
  Tensor d_tokens = Tensor::from_vector(all_tokens, {slots}, DType::kI32).to(x.device());
  Tensor d_weights = Tensor::from_vector(all_weights, {slots}, DType::kF32).to(x.device());
  Tensor xc = x.contiguous();
  khub::cuda::DeviceGuard g(x.device());
  cudaStream_t s = khub::cuda::stream_for(x.device());
  for (int64_t e = 0; e < n_experts; ++e) {
    const int64_t n = start[e + 1] - start[e];
    if (n == 0) continue;
    Tensor idx = d_tokens.slice(0, start[e], start[e + 1]);
    Tensor rows = ops::index_rows(xc, idx, x.dtype());
    Tensor gu = ops::linear(rows, gate_up.select(0, e),
                            gate_up_bias.defined() ? gate_up_bias.select(0, e) : Tensor(), true);
    Tensor mid;
    if (activation.swiglu_limit > 0) {
      mid = Tensor::empty({n, inter}, x.dtype(), x.device());
      dispatch_float(x.dtype(), op, [&](auto tag) {
        using T = typename decltype(tag)::type;
        clamped_swiglu_kernel<T><<<blocks_for(n * inter, kThreads), kThreads, 0, s>>>(
            static_cast<const T*>(gu.data()), static_cast<T*>(mid.data()), inter, n * inter,
            activation.swiglu_alpha, activation.swiglu_limit);
      });
      KHUB_CUDA_CHECK_LAUNCH();
    } else {
      mid = ops::act_and_mul(gu, activation.act);
    }
    Tensor out = ops::linear(mid, down.select(0, e),
                             down_bias.defined() ? down_bias.select(0, e) : Tensor(), true);
    dispatch_float(x.dtype(), op, [&](auto tag) {
      using T = typename decltype(tag)::type;
      scatter_add_kernel<T><<<static_cast<unsigned>(n), kThreads, 0, s>>>(
          static_cast<const T*>(out.data()), idx.data_as<int32_t>(),
          d_weights.data_as<float>() + start[e], y.data_as<float>(), h);
    });
    KHUB_CUDA_CHECK_LAUNCH();
  }
  return cast(y, x.dtype());
}

}  // namespace khub::ops::cuda
