// Backward of the reference attention on CUDA (ops/backward.h, docs/design.md §10), the eager
// formulation on cuBLAS that the flash-attn kernel's backward is checked against and falls back
// to. Per KV head (its G = Hq/Hk query heads) and per chunk of query rows:
//   S  = scale · Q Kᵀ                      strided-batched over the G heads, f32
//   P  = softmax(mask(softcap(S)) [+ sink]) row kernel: P in q's dtype and the row's log-sum-exp
//   dP = dO Vᵀ                              strided-batched, f32
//   dS = P ∘ (dP − Σ_j P dP) ∘ softcap'     row kernel (P recomputed in f32 from S and the lse);
//                                           a sink's logit gets −p_sink · Σ_j P dP
//   dQ = scale · dS K                       strided-batched (each head writes its own rows)
//   dK += scale · dSᵀ Q,  dV += Pᵀ dO       one GEMM per query head (the G heads share a KV head),
//                                           into the f32 accumulators
// [k0, k1) is the union of the chunk's visible keys, as in the forward (attention_gemm_cuda.cu).
// Numerics: f32 scores, softmax and accumulation; f32 inputs use the pedantic f32 compute (no
// TF32), so an f32 model's gradients match the CPU reference to rounding.
#include <cmath>

#include "core/cuda/cuda_check.h"
#include "ops/cublas_handle.h"
#include "ops/cuda_common.cuh"
#include "ops/ops_cuda.h"

namespace khub::ops::cuda {
namespace {

constexpr int64_t kChunkRows = 1024;
constexpr size_t kBufferBudgetBytes = size_t{128} << 20;  // per f32 [G, rows, cols] buffer
constexpr int kRowThreads = 256;

struct RowArgs {
  const float* s;      // [G, rows, cols] scaled scores
  int64_t rows, cols;  // cols = k1 - k0
  int64_t pos0, k0, skv, window;
  bool causal;
  float softcap;
  const float* sinks;  // [Hq] or null
  int64_t head0;
};

struct RowRange {
  int64_t lo, hi;  // visible columns [lo, hi] of the chunk (may be empty)
};

__device__ __forceinline__ RowRange visible(const RowArgs& a, int64_t r) {
  const int64_t pos = a.pos0 + r;
  const int64_t hi = (a.causal ? min(pos, a.skv - 1) : a.skv - 1) - a.k0;
  const int64_t lo =
      max(int64_t{0}, (a.window > 0 ? max(int64_t{0}, pos - a.window + 1) : 0) - a.k0);
  return {lo, hi};
}

__device__ __forceinline__ float capped(float x, float softcap) {
  return softcap > 0.0f ? softcap * tanhf(x / softcap) : x;
}

// P (in q's dtype) and lse[g, r] = max + log Σ exp (−inf for a row with no visible key and no
// sink).
template <typename T>
__global__ void softmax_lse_kernel(RowArgs a, T* __restrict__ p, float* __restrict__ lse) {
  __shared__ float scratch[32];
  const int64_t r = blockIdx.x, g = blockIdx.y;
  const float* sr = a.s + (g * a.rows + r) * a.cols;
  T* pr = p + (g * a.rows + r) * a.cols;
  const RowRange v = visible(a, r);
  const float sink = a.sinks != nullptr ? a.sinks[a.head0 + g] : -INFINITY;
  float m = sink;
  for (int64_t c = v.lo + threadIdx.x; c <= v.hi; c += blockDim.x)
    m = fmaxf(m, capped(sr[c], a.softcap));
  m = block_reduce_max(m, scratch);
  float sum = 0.0f;
  if (m != -INFINITY) {
    for (int64_t c = v.lo + threadIdx.x; c <= v.hi; c += blockDim.x)
      sum += expf(capped(sr[c], a.softcap) - m);
  }
  sum = block_reduce_sum(sum, scratch);
  if (a.sinks != nullptr && m != -INFINITY) sum += expf(sink - m);
  const float l = sum > 0.0f ? m + logf(sum) : -INFINITY;
  for (int64_t c = threadIdx.x; c < a.cols; c += blockDim.x) {
    float pc = c >= v.lo && c <= v.hi && l != -INFINITY ? expf(capped(sr[c], a.softcap) - l) : 0.0f;
    pr[c] = from_f32<T>(pc);
  }
  if (threadIdx.x == 0) lse[g * a.rows + r] = l;
}

// dS (in q's dtype) from dP (f32), P recomputed from S and lse; sink gradients added into dsinks.
template <typename T>
__global__ void softmax_backward_kernel(RowArgs a, const float* __restrict__ lse,
                                        const float* __restrict__ dp, T* __restrict__ ds,
                                        float* __restrict__ dsinks) {
  __shared__ float scratch[32];
  const int64_t r = blockIdx.x, g = blockIdx.y;
  const int64_t off = (g * a.rows + r) * a.cols;
  const float* sr = a.s + off;
  const float* dpr = dp + off;
  T* dsr = ds + off;
  const RowRange v = visible(a, r);
  const float l = lse[g * a.rows + r];
  float dot = 0.0f;
  if (l != -INFINITY) {
    for (int64_t c = v.lo + threadIdx.x; c <= v.hi; c += blockDim.x) {
      dot += expf(capped(sr[c], a.softcap) - l) * dpr[c];
    }
  }
  dot = block_reduce_sum(dot, scratch);
  for (int64_t c = threadIdx.x; c < a.cols; c += blockDim.x) {
    float d = 0.0f;
    if (c >= v.lo && c <= v.hi && l != -INFINITY) {
      const float sc = capped(sr[c], a.softcap);
      d = expf(sc - l) * (dpr[c] - dot);
      if (a.softcap > 0.0f) {
        const float t = sc / a.softcap;
        d *= 1.0f - t * t;
      }
    }
    dsr[c] = from_f32<T>(d);
  }
  if (threadIdx.x == 0 && a.sinks != nullptr && dsinks != nullptr && l != -INFINITY) {
    atomicAdd(dsinks + a.head0 + g, -expf(a.sinks[a.head0 + g] - l) * dot);
  }
}

}  // namespace

void attention_backward(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& dout,
                        const AttentionParams& p, const Tensor& sinks, Tensor& dq, Tensor& dk,
                        Tensor& dv, Tensor* dsinks) {
  const char* op = "ops::attention_backward";
  for (const Tensor* t : std::initializer_list<const Tensor*>{&q, &k, &v, &dout, &dq, &dk, &dv}) {
    check_on_cuda(*t, op, "q, k, v, dout and the gradients");
    check_same_device(q, *t, op);
  }
  KHUB_CHECK_ARG(k.dtype() == q.dtype() && v.dtype() == q.dtype() && dout.dtype() == q.dtype() &&
                     dq.dtype() == q.dtype() && dk.dtype() == DType::kF32 &&
                     dv.dtype() == DType::kF32,
                 op, ": q, k, v, dout and dq share one dtype and dk, dv are f32; got q ",
                 q.describe(), ", dk ", dk.describe());
  const int64_t sq = q.size(0), hq = q.size(1), d = q.size(2), skv = k.size(0), hk = k.size(1);
  const int64_t group = hq / hk;
  if (sq == 0) return;
  KHUB_CHECK_ARG(skv <= INT32_MAX && hq * d <= INT32_MAX && k.stride(0) <= INT32_MAX &&
                     v.stride(0) <= INT32_MAX && dk.stride(0) <= INT32_MAX &&
                     dv.stride(0) <= INT32_MAX,
                 op, ": sizes exceed cuBLAS's 32-bit arguments");
  khub::cuda::DeviceGuard guard(q.device());
  cudaStream_t stream = khub::cuda::stream_for(q.device());
  const cudaDataType_t type = cublas_data_type(q.dtype(), op);
  const cublasComputeType_t compute =
      q.dtype() == DType::kF32 ? CUBLAS_COMPUTE_32F_PEDANTIC : CUBLAS_COMPUTE_32F;
  cublasHandle_t handle = cublas_handle(q.device(), stream);
  const size_t es = q.element_size();
  const char* qp = static_cast<const char*>(q.data());
  const char* kp = static_cast<const char*>(k.data());
  const char* vp = static_cast<const char*>(v.data());
  const char* gp = static_cast<const char*>(dout.data());
  char* dqp = static_cast<char*>(dq.data());
  float* dkp = dk.data_as<float>();
  float* dvp = dv.data_as<float>();
  const int64_t rows_budget = std::max<int64_t>(
      1, static_cast<int64_t>(kBufferBudgetBytes / (4 * group * std::max<int64_t>(skv, 1))));
  const int64_t chunk = std::min({kChunkRows, rows_budget, sq});
  Tensor s_buf = Tensor::empty({group, chunk, skv}, DType::kF32, q.device());
  Tensor dp_buf = Tensor::empty({group, chunk, skv}, DType::kF32, q.device());
  Tensor p_buf = Tensor::empty({group, chunk, skv}, q.dtype(), q.device());
  Tensor ds_buf = Tensor::empty({group, chunk, skv}, q.dtype(), q.device());
  Tensor lse = Tensor::empty({group, chunk}, DType::kF32, q.device());
  const float* sinks_p = sinks.defined() ? sinks.data_as<float>() : nullptr;
  float* dsinks_p = dsinks != nullptr && dsinks->defined() ? dsinks->data_as<float>() : nullptr;
  const float scale = p.scale, one = 1.0f, zero = 0.0f;
  const int di = static_cast<int>(d), ldq = static_cast<int>(hq * d);

  for (int64_t i0 = 0; i0 < sq; i0 += chunk) {
    const int64_t rows = std::min(chunk, sq - i0);
    const int64_t pos0 = p.q_offset + i0, pos1 = pos0 + rows - 1;
    const int64_t k1 = p.causal ? std::min(skv, pos1 + 1) : skv;
    const int64_t k0 = p.window > 0 ? std::clamp<int64_t>(pos0 - p.window + 1, 0, k1) : 0;
    const int64_t cols = k1 - k0;
    if (cols <= 0) {  // no visible key for any row: dq rows are 0 (a sink alone has no gradient
                      // path back to q)
      KHUB_CUDA_CHECK(cudaMemsetAsync(dqp + i0 * hq * d * es, 0, rows * hq * d * es, stream));
      continue;
    }
    const int ri = static_cast<int>(rows), ci = static_cast<int>(cols);
    for (int64_t kh = 0; kh < hk; ++kh) {
      const int64_t head0 = kh * group;
      const char* k_rows = kp + (k0 * k.stride(0) + kh * d) * es;
      const char* v_rows = vp + (k0 * v.stride(0) + kh * d) * es;
      const char* q_rows = qp + (i0 * hq + head0) * d * es;
      const char* g_rows = gp + (i0 * hq + head0) * d * es;
      // S = scale · Q Kᵀ and dP = dO Vᵀ: column-major [cols, rows] per head.
      KHUB_CUBLAS_CHECK(cublasGemmStridedBatchedEx(
          handle, CUBLAS_OP_T, CUBLAS_OP_N, ci, ri, di, &scale, k_rows, type,
          static_cast<int>(k.stride(0)), 0, q_rows, type, ldq, d, &zero, s_buf.data(), CUDA_R_32F,
          ci, rows * cols, static_cast<int>(group), compute, CUBLAS_GEMM_DEFAULT));
      KHUB_CUBLAS_CHECK(cublasGemmStridedBatchedEx(
          handle, CUBLAS_OP_T, CUBLAS_OP_N, ci, ri, di, &one, v_rows, type,
          static_cast<int>(v.stride(0)), 0, g_rows, type, ldq, d, &zero, dp_buf.data(), CUDA_R_32F,
          ci, rows * cols, static_cast<int>(group), compute, CUBLAS_GEMM_DEFAULT));
      RowArgs ra{s_buf.data_as<float>(),
                 rows,
                 cols,
                 pos0,
                 k0,
                 skv,
                 p.window,
                 p.causal,
                 p.softcap,
                 sinks_p,
                 head0};
      dim3 grid(static_cast<unsigned>(rows), static_cast<unsigned>(group));
      dispatch_float(q.dtype(), op, [&](auto tag) {
        using T = typename decltype(tag)::type;
        softmax_lse_kernel<T><<<grid, kRowThreads, 0, stream>>>(ra, static_cast<T*>(p_buf.data()),
                                                                lse.data_as<float>());
        softmax_backward_kernel<T>
            <<<grid, kRowThreads, 0, stream>>>(ra, lse.data_as<float>(), dp_buf.data_as<float>(),
                                               static_cast<T*>(ds_buf.data()), dsinks_p);
      });
      KHUB_CUDA_CHECK_LAUNCH();
      // dQ = scale · dS K: column-major [D, rows] = K [D, cols] · dSᵀ [cols, rows].
      KHUB_CUBLAS_CHECK(cublasGemmStridedBatchedEx(
          handle, CUBLAS_OP_N, CUBLAS_OP_N, di, ri, ci, &scale, k_rows, type,
          static_cast<int>(k.stride(0)), 0, ds_buf.data(), type, ci, rows * cols, &zero,
          dqp + (i0 * hq + head0) * d * es, type, ldq, d, static_cast<int>(group), compute,
          CUBLAS_GEMM_DEFAULT));
      for (int64_t g = 0; g < group; ++g) {
        const char* ds_g = static_cast<const char*>(ds_buf.data()) + g * rows * cols * es;
        const char* p_g = static_cast<const char*>(p_buf.data()) + g * rows * cols * es;
        // dK += scale · dSᵀ Q: column-major [D, cols] = Q [D, rows] · dS [rows, cols].
        KHUB_CUBLAS_CHECK(
            cublasGemmEx(handle, CUBLAS_OP_N, CUBLAS_OP_T, di, ci, ri, &scale, q_rows + g * d * es,
                         type, ldq, ds_g, type, ci, &one, dkp + k0 * dk.stride(0) + kh * d,
                         CUDA_R_32F, static_cast<int>(dk.stride(0)), compute, CUBLAS_GEMM_DEFAULT));
        // dV += Pᵀ dO: column-major [D, cols] = dO [D, rows] · P [rows, cols].
        KHUB_CUBLAS_CHECK(
            cublasGemmEx(handle, CUBLAS_OP_N, CUBLAS_OP_T, di, ci, ri, &one, g_rows + g * d * es,
                         type, ldq, p_g, type, ci, &one, dvp + k0 * dv.stride(0) + kh * d,
                         CUDA_R_32F, static_cast<int>(dv.stride(0)), compute, CUBLAS_GEMM_DEFAULT));
      }
    }
  }
}

}  // namespace khub::ops::cuda
