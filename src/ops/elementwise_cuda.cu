// Elementwise reference ops on CUDA: residual add, scale, soft-capping and dtype casts (the
// embedding gather is ops::index_rows, indexing_cuda.cu). One thread per element in grid-stride
// loops, f32 arithmetic, one rounding on store. Memory-bound: each element is read and written
// once. Launched as programmatic dependents (cuda_common.cuh).
#include "ops/cuda_common.cuh"
#include "ops/ops_cuda.h"

namespace khub::ops::cuda {
namespace {

constexpr int kThreads = 256;

template <typename T>
__global__ void add_kernel(T* __restrict__ a, const T* __restrict__ b, int64_t n) {
  pdl_wait();
  pdl_launch_dependents();
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < n;
       i += int64_t{gridDim.x} * blockDim.x) {
    a[i] = from_f32<T>(to_f32(a[i]) + to_f32(b[i]));
  }
}

template <typename T>
__global__ void scale_kernel(T* __restrict__ a, float s, int64_t n) {
  pdl_wait();
  pdl_launch_dependents();
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < n;
       i += int64_t{gridDim.x} * blockDim.x) {
    a[i] = from_f32<T>(to_f32(a[i]) * s);
  }
}

template <typename T>
__global__ void softcap_kernel(T* __restrict__ a, float cap, int64_t n) {
  pdl_wait();
  pdl_launch_dependents();
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < n;
       i += int64_t{gridDim.x} * blockDim.x) {
    a[i] = from_f32<T>(cap * tanhf(to_f32(a[i]) / cap));
  }
}

template <typename From, typename To>
__global__ void cast_kernel(const From* __restrict__ x, To* __restrict__ y, int64_t n) {
  pdl_wait();
  pdl_launch_dependents();
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < n;
       i += int64_t{gridDim.x} * blockDim.x) {
    y[i] = from_f32<To>(to_f32(x[i]));
  }
}

// One block row per token: threads stride over the hidden dimension.
void check_inplace(const Tensor& a, const char* op) {
  check_on_cuda(a, op, "tensor");
  KHUB_CHECK_ARG(a.is_contiguous(), op, ": needs a contiguous tensor, got ", a.describe());
}

}  // namespace

void add_inplace(Tensor& a, const Tensor& b_in) {
  const char* op = "ops::add_inplace";
  check_inplace(a, op);
  check_on_cuda(b_in, op, "b");
  check_same_device(a, b_in, op);
  KHUB_CHECK_ARG(a.shape() == b_in.shape() && a.dtype() == b_in.dtype(), op, ": ", a.describe(),
                 " += ", b_in.describe());
  Tensor b = b_in.contiguous();
  int64_t n = a.numel();
  if (n == 0) return;
  khub::cuda::DeviceGuard g(a.device());
  cudaStream_t s = khub::cuda::stream_for(a.device());
  dispatch_float(a.dtype(), op, [&](auto tag) {
    using T = typename decltype(tag)::type;
    launch_kernel(add_kernel<T>, a.device(), blocks_for(n, kThreads), kThreads, 0, s,
                  static_cast<T*>(a.data()), static_cast<const T*>(b.data()), n);
  });
}

void scale_inplace(Tensor& a, float scale) {
  const char* op = "ops::scale_inplace";
  check_inplace(a, op);
  int64_t n = a.numel();
  if (n == 0) return;
  khub::cuda::DeviceGuard g(a.device());
  cudaStream_t s = khub::cuda::stream_for(a.device());
  dispatch_float(a.dtype(), op, [&](auto tag) {
    using T = typename decltype(tag)::type;
    launch_kernel(scale_kernel<T>, a.device(), blocks_for(n, kThreads), kThreads, 0, s,
                  static_cast<T*>(a.data()), scale, n);
  });
}

void softcap_inplace(Tensor& x, float cap) {
  const char* op = "ops::softcap_inplace";
  check_inplace(x, op);
  int64_t n = x.numel();
  if (n == 0) return;
  khub::cuda::DeviceGuard g(x.device());
  cudaStream_t s = khub::cuda::stream_for(x.device());
  dispatch_float(x.dtype(), op, [&](auto tag) {
    using T = typename decltype(tag)::type;
    launch_kernel(softcap_kernel<T>, x.device(), blocks_for(n, kThreads), kThreads, 0, s,
                  static_cast<T*>(x.data()), cap, n);
  });
}

Tensor cast(const Tensor& x_in, DType dtype) {
  const char* op = "ops::cast";
  check_on_cuda(x_in, op, "x");
  if (x_in.dtype() == dtype) return x_in;
  Tensor x = x_in.contiguous();
  Tensor y = Tensor::empty(x.shape(), dtype, x.device());
  int64_t n = x.numel();
  if (n == 0) return y;
  khub::cuda::DeviceGuard g(x.device());
  cudaStream_t s = khub::cuda::stream_for(x.device());
  dispatch_float(x.dtype(), op, [&](auto from_tag) {
    using From = typename decltype(from_tag)::type;
    dispatch_float(dtype, op, [&](auto to_tag) {
      using To = typename decltype(to_tag)::type;
      launch_kernel(cast_kernel<From, To>, x.device(), blocks_for(n, kThreads), kThreads, 0, s,
                    static_cast<const From*>(x.data()), static_cast<To*>(y.data()), n);
    });
  });
  return y;
}

}  // namespace khub::ops::cuda
