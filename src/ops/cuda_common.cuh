// Shared by the reference CUDA ops (ops/*_cuda.cu): element conversions, dtype dispatch, launch
// sizing and argument checks. Reference kernels compute in f32 whatever the storage dtype and
// round once on store (round-to-nearest-even for bf16 and f16).
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime_api.h>

#include <algorithm>
#include <utility>

#include "core/cuda/cuda_check.h"
#include "core/env.h"
#include "core/tensor.h"
#include "khub/cuda_launch.cuh"

namespace khub::ops::cuda {

using bf16 = __nv_bfloat16;
using f16 = __half;

template <typename T>
__device__ __forceinline__ float to_f32(T v);
template <>
__device__ __forceinline__ float to_f32<float>(float v) {
  return v;
}
template <>
__device__ __forceinline__ float to_f32<bf16>(bf16 v) {
  return __bfloat162float(v);
}
template <>
__device__ __forceinline__ float to_f32<f16>(f16 v) {
  return __half2float(v);
}

template <typename T>
__device__ __forceinline__ T from_f32(float v);
template <>
__device__ __forceinline__ float from_f32<float>(float v) {
  return v;
}
template <>
__device__ __forceinline__ bf16 from_f32<bf16>(float v) {
  return __float2bfloat16_rn(v);
}
template <>
__device__ __forceinline__ f16 from_f32<f16>(float v) {
  return __float2half_rn(v);
}

template <typename T>
struct TypeTag {
  using type = T;
};

// Calls fn(TypeTag<T>{}) with T the storage type of a floating dtype on CUDA.
template <typename Fn>
void dispatch_float(DType dtype, const char* op, Fn&& fn) {
  switch (dtype) {
    case DType::kF32:
      return fn(TypeTag<float>{});
    case DType::kBF16:
      return fn(TypeTag<bf16>{});
    case DType::kF16:
      return fn(TypeTag<f16>{});
    default:
      fail(ErrorKind::kUnsupported, op, ": dtype ", dtype_name(dtype),
           " on CUDA (supported: f32, bf16, f16)");
  }
}

// Blocks for a grid-stride loop over n elements (capped: the loop covers the rest).
inline unsigned blocks_for(int64_t n, int threads) {
  int64_t b = (n + threads - 1) / threads;
  return static_cast<unsigned>(std::clamp<int64_t>(b, 1, 65535LL * 32));
}

// Block-wide reductions for blocks of whole warps (blockDim.x a multiple of 32, at most 1024);
// every thread gets the result. scratch: 32 floats of shared memory, reusable after the call.
__device__ __forceinline__ float block_reduce_sum(float v, float* scratch) {
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  int warp = threadIdx.x / 32, lane = threadIdx.x % 32, warps = blockDim.x / 32;
  __syncthreads();  // scratch may still be read by a previous reduction
  if (lane == 0) scratch[warp] = v;
  __syncthreads();
  v = lane < warps ? scratch[lane] : 0.0f;
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}
__device__ __forceinline__ float block_reduce_max(float v, float* scratch) {
  for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
  int warp = threadIdx.x / 32, lane = threadIdx.x % 32, warps = blockDim.x / 32;
  __syncthreads();
  if (lane == 0) scratch[warp] = v;
  __syncthreads();
  v = lane < warps ? scratch[lane] : -INFINITY;
  for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
  return v;
}

// Programmatic dependent launch (include/khub/cuda_launch.cuh has the rules): kernels launched by
// launch_kernel begin with pdl_wait() and call pdl_launch_dependents() right after it.
__device__ __forceinline__ void pdl_wait() { khub_pdl_wait(); }
__device__ __forceinline__ void pdl_launch_dependents() { khub_pdl_launch_dependents(); }

// Whether khub's own CUDA ops launch as programmatic dependents where the device can:
// KHUB_CUDA_PDL (default on; 0 turns it off, for measurement). Read once.
inline bool pdl_switched_on() {
  static const bool on = env::flag("KHUB_CUDA_PDL", true);
  return on;
}

// Launches kernel<<<grid, block, smem, stream>>>(args...), as a programmatic dependent where the
// device supports it (khub_pdl_capable) and KHUB_CUDA_PDL allows; throws on a launch error.
template <typename... Params, typename... Args>
void launch_kernel(void (*kernel)(Params...), const Device& device, dim3 grid, dim3 block,
                   size_t smem, cudaStream_t stream, Args&&... args) {
  const bool pdl = pdl_switched_on() && khub_pdl_capable(device.index);
  KHUB_CUDA_CHECK(
      khub_cuda_launch(pdl, kernel, grid, block, smem, stream, std::forward<Args>(args)...));
}

inline void check_on_cuda(const Tensor& t, const char* op, const char* name) {
  KHUB_CHECK_ARG(t.defined() && t.device().is_cuda(), op, ": ", name,
                 " must be a CUDA tensor, got ", t.describe());
}

inline void check_same_device(const Tensor& a, const Tensor& b, const char* op) {
  KHUB_CHECK_ARG(a.device() == b.device(), op, ": tensors on different devices: ", a.describe(),
                 " and ", b.describe());
}

}  // namespace khub::ops::cuda
