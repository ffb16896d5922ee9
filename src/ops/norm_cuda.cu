// RMSNorm and Gemma's RMSNorm on CUDA, the reference path.
//
// Algorithm: one block per row; threads stride over the row summing x² in f32, a block reduction
// (warp shuffles, then one value per warp through shared memory) gives rsqrt(mean + eps), and a
// second pass over the row (an L1/L2 hit) writes the output. Traffic: the row is read twice from
// cache and once from memory, written once.
// Numerics: f32 throughout. RMSNorm rounds x·rsqrt to the storage dtype before multiplying by the
// weight (transformers' Llama/Qwen order); Gemma multiplies by (1 + w) in f32 and rounds once.
#include "ops/cuda_common.cuh"
#include "ops/ops_cuda.h"

namespace khub::ops::cuda {
namespace {

template <typename T, typename W>
__global__ void rms_norm_kernel(const T* __restrict__ x, const W* __restrict__ w, T* __restrict__ y,
                                int64_t h, float eps, float weight_offset, bool gemma) {
  __shared__ float scratch[32];
  const T* xr = x + blockIdx.x * h;
  T* yr = y + blockIdx.x * h;
  float ss = 0.0f;
  for (int64_t i = threadIdx.x; i < h; i += blockDim.x) {
    float v = to_f32(xr[i]);
    ss += v * v;
  }
  float inv = rsqrtf(block_reduce_sum(ss, scratch) / static_cast<float>(h) + eps);
  for (int64_t i = threadIdx.x; i < h; i += blockDim.x) {
    float n = to_f32(xr[i]) * inv;
    float wi = to_f32(w[i]) + weight_offset;
    yr[i] = gemma ? from_f32<T>(n * wi) : from_f32<T>(to_f32(from_f32<T>(n)) * wi);
  }
}

}  // namespace

Tensor rms_norm(const Tensor& x_in, const Tensor& weight_in, float eps, float weight_offset) {
  const char* op = weight_offset != 0.0f ? "ops::gemma_rms_norm" : "ops::rms_norm";
  check_on_cuda(x_in, op, "x");
  check_on_cuda(weight_in, op, "weight");
  check_same_device(x_in, weight_in, op);
  Tensor x = x_in.contiguous(), w = weight_in.contiguous();
  Tensor y = Tensor::empty(x.shape(), x.dtype(), x.device());
  int64_t h = x.size(-1);
  int64_t rows = h == 0 ? 0 : x.numel() / h;
  if (rows == 0) return y;
  KHUB_CHECK_ARG(rows <= 0x7fffffff, op, ": ", rows, " rows exceed one launch");
  int threads = static_cast<int>(std::clamp<int64_t>((h + 31) / 32 * 32, 32, 256));
  khub::cuda::DeviceGuard g(x.device());
  cudaStream_t s = khub::cuda::stream_for(x.device());
  bool gemma = weight_offset != 0.0f;
  dispatch_float(x.dtype(), op, [&](auto xt) {
    using T = typename decltype(xt)::type;
    dispatch_float(w.dtype(), op, [&](auto wt) {
      using W = typename decltype(wt)::type;
      rms_norm_kernel<T, W><<<static_cast<unsigned>(rows), threads, 0, s>>>(
          static_cast<const T*>(x.data()), static_cast<const W*>(w.data()),
          static_cast<T*>(y.data()), h, eps, weight_offset, gemma);
    });
  });
  KHUB_CUDA_CHECK_LAUNCH();
  return y;
}

}  // namespace khub::ops::cuda
