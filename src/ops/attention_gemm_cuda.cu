// Attention for long query blocks (prefill) on CUDA: the eager formulation, on cuBLAS.
//
// Algorithm, per KV head (its G = Hq/Hk query heads batched in one strided GEMM) and per chunk
// of at most kChunkRows query rows:
//   S[g] = scale · Q[g] · K[k0:k1]ᵀ   cublasGemmStridedBatchedEx, f32 scores (f32 accumulation)
//   P[g] = softmax(mask(softcap(S[g])) [+ sink])   one block per row, f32, P rounded to q's dtype
//   O[g] = P[g] · V[k0:k1]            cublasGemmStridedBatchedEx, written in place into out
// where [k0, k1) is the union of the chunk's visible keys (causal and window limits), so a causal
// prefill in chunks computes about 60% of the full score matrix rather than all of it.
// Traffic: the scores are written and read once in f32 and P once in q's dtype
// (G · rows · (k1 - k0) · (4 + 4 + 2·sizeof)); the GEMMs run on the tensor cores for bf16/f16.
// Numerics: as PyTorch eager with an f32 softmax; f32 inputs use the pedantic f32 compute (no
// TF32). Matches the fused kernel (attention_cuda.cu) within the dtype's rounding.
#include <cmath>

#include "ops/attention_gemm_cuda.h"
#include "ops/cublas_handle.h"
#include "ops/cuda_common.cuh"

namespace khub::ops::cuda {
namespace {

constexpr int64_t kChunkRows = 1024;
constexpr size_t kScoreBudgetBytes = size_t{256} << 20;  // f32 scores of one chunk
constexpr int kSoftmaxThreads = 256;

struct SoftmaxArgs {
  const float* s;      // [G, rows, cols] f32 scores (already scaled)
  void* p;             // [G, rows, cols] probabilities in q's dtype
  int64_t rows, cols;  // cols = k1 - k0
  int64_t pos0;        // absolute position of row 0
  int64_t k0;          // absolute key index of column 0
  int64_t skv, window;
  bool causal;
  float softcap;
  const float* sinks;  // [Hq] or null
  int64_t head0;       // query head of g = 0
};

template <typename T>
__global__ void masked_softmax_kernel(SoftmaxArgs a) {
  __shared__ float scratch[32];
  const int64_t r = blockIdx.x, g = blockIdx.y;
  const float* sr = a.s + (g * a.rows + r) * a.cols;
  T* pr = static_cast<T*>(a.p) + (g * a.rows + r) * a.cols;
  const int64_t pos = a.pos0 + r;
  const int64_t hi = (a.causal ? min(pos, a.skv - 1) : a.skv - 1) - a.k0;  // columns [lo, hi]
  const int64_t lo = (a.window > 0 ? max(int64_t{0}, pos - a.window + 1) : 0) - a.k0;
  auto score = [&](int64_t c) {
    float x = sr[c];
    return a.softcap > 0.0f ? a.softcap * tanhf(x / a.softcap) : x;
  };
  const float sink = a.sinks != nullptr ? a.sinks[a.head0 + g] : -INFINITY;
  float m = sink;
  for (int64_t c = max(lo, int64_t{0}) + threadIdx.x; c <= hi; c += blockDim.x) {
    m = fmaxf(m, score(c));
  }
  m = block_reduce_max(m, scratch);
  float sum = 0.0f;
  if (m != -INFINITY) {
    for (int64_t c = max(lo, int64_t{0}) + threadIdx.x; c <= hi; c += blockDim.x) {
      sum += expf(score(c) - m);
    }
  }
  sum = block_reduce_sum(sum, scratch);
  if (a.sinks != nullptr) sum += expf(sink - m);
  const float inv = sum > 0.0f ? 1.0f / sum : 0.0f;
  for (int64_t c = threadIdx.x; c < a.cols; c += blockDim.x) {
    float pc = c >= lo && c <= hi && sum > 0.0f ? expf(score(c) - m) * inv : 0.0f;
    pr[c] = from_f32<T>(pc);
  }
}

}  // namespace

void attention_gemm(const Tensor& q, const Tensor& k, const Tensor& v, const AttentionParams& p,
                    const float* sinks, Tensor& out, cudaStream_t stream) {
  const char* op = "ops::attention";
  const int64_t sq = q.size(0), hq = q.size(1), d = q.size(2), skv = k.size(0), hk = k.size(1);
  const int64_t group = hq / hk;
  const cudaDataType_t type = cublas_data_type(q.dtype(), op);
  const cublasComputeType_t compute =
      q.dtype() == DType::kF32 ? CUBLAS_COMPUTE_32F_PEDANTIC : CUBLAS_COMPUTE_32F;
  cublasHandle_t handle = cublas_handle(q.device(), stream);
  const size_t esize = q.element_size();
  const char* qp = static_cast<const char*>(q.data());
  const char* kp = static_cast<const char*>(k.data());
  const char* vp = static_cast<const char*>(v.data());
  char* op_ = static_cast<char*>(out.data());
  const int64_t rows_budget = std::max<int64_t>(
      1, static_cast<int64_t>(kScoreBudgetBytes / (4 * group * std::max<int64_t>(skv, 1))));
  const int64_t chunk = std::min({kChunkRows, rows_budget, sq});
  KHUB_CHECK_ARG(skv <= INT32_MAX && d <= INT32_MAX && hq * d <= INT32_MAX &&
                     k.stride(0) <= INT32_MAX && v.stride(0) <= INT32_MAX,
                 op, ": sizes exceed cuBLAS's 32-bit arguments");
  Tensor scores = Tensor::empty({group, chunk, skv}, DType::kF32, q.device());
  Tensor probs = Tensor::empty({group, chunk, skv}, q.dtype(), q.device());
  const float scale = p.scale, one = 1.0f, zero = 0.0f;

  for (int64_t i0 = 0; i0 < sq; i0 += chunk) {
    const int64_t rows = std::min(chunk, sq - i0);
    const int64_t pos0 = p.q_offset + i0, pos1 = p.q_offset + i0 + rows - 1;
    const int64_t k1 = p.causal ? std::min(skv, pos1 + 1) : skv;  // one past the last key
    const int64_t k0 = p.window > 0 ? std::clamp<int64_t>(pos0 - p.window + 1, 0, k1) : 0;
    const int64_t cols = k1 - k0;
    if (cols <= 0) {  // no visible key for any row of the chunk: its output rows are 0
      KHUB_CUDA_CHECK(cudaMemsetAsync(op_ + i0 * hq * d * esize, 0, rows * hq * d * esize, stream));
      continue;
    }
    for (int64_t kh = 0; kh < hk; ++kh) {
      const int64_t head0 = kh * group;
      KHUB_CUBLAS_CHECK(cublasGemmStridedBatchedEx(
          handle, CUBLAS_OP_T, CUBLAS_OP_N, static_cast<int>(cols), static_cast<int>(rows),
          static_cast<int>(d), &scale, kp + (k0 * k.stride(0) + kh * d) * esize, type,
          static_cast<int>(k.stride(0)), 0, qp + (i0 * hq + head0) * d * esize, type,
          static_cast<int>(hq * d), d, &zero, scores.data(), CUDA_R_32F, static_cast<int>(cols),
          rows * cols, static_cast<int>(group), compute, CUBLAS_GEMM_DEFAULT));
      SoftmaxArgs sa{scores.data_as<float>(),
                     probs.data(),
                     rows,
                     cols,
                     pos0,
                     k0,
                     skv,
                     p.window,
                     p.causal,
                     p.softcap,
                     sinks,
                     head0};
      dim3 grid(static_cast<unsigned>(rows), static_cast<unsigned>(group));
      dispatch_float(q.dtype(), op, [&](auto tag) {
        using T = typename decltype(tag)::type;
        masked_softmax_kernel<T><<<grid, kSoftmaxThreads, 0, stream>>>(sa);
      });
      KHUB_CUDA_CHECK_LAUNCH();
      KHUB_CUBLAS_CHECK(cublasGemmStridedBatchedEx(
          handle, CUBLAS_OP_N, CUBLAS_OP_N, static_cast<int>(d), static_cast<int>(rows),
          static_cast<int>(cols), &one, vp + (k0 * v.stride(0) + kh * d) * esize, type,
          static_cast<int>(v.stride(0)), 0, probs.data(), type, static_cast<int>(cols), rows * cols,
          &zero, op_ + (i0 * hq + head0) * d * esize, type, static_cast<int>(hq * d), d,
          static_cast<int>(group), compute, CUBLAS_GEMM_DEFAULT));
    }
  }
}

}  // namespace khub::ops::cuda
