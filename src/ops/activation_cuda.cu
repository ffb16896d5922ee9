// Gated activations on CUDA, the reference path: y = act(x[..., :D]) * x[..., D:].
// One thread per output element (grid-stride); each reads its gate and up value and writes one
// element: 3 elements of traffic per output. f32 math (expf, tanhf, erff), one rounding on store.
#include "ops/cuda_common.cuh"
#include "ops/ops_cuda.h"

namespace khub::ops::cuda {
namespace {

constexpr int kThreads = 256;

__device__ __forceinline__ float activate(float a, GatedActivation act) {
  switch (act) {
    case GatedActivation::kSilu:
      return a / (1.0f + expf(-a));
    case GatedActivation::kGeluTanh: {
      const float k = 0.7978845608028654f;  // sqrt(2 / pi)
      return 0.5f * a * (1.0f + tanhf(k * (a + 0.044715f * a * a * a)));
    }
    default:
      return 0.5f * a * (1.0f + erff(a * 0.7071067811865476f));
  }
}

template <typename T>
__global__ void act_and_mul_kernel(const T* __restrict__ x, T* __restrict__ y, int64_t d, int64_t n,
                                   GatedActivation act) {
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < n;
       i += int64_t{gridDim.x} * blockDim.x) {
    int64_t row = i / d, col = i - row * d;
    const T* xr = x + row * 2 * d;
    y[i] = from_f32<T>(activate(to_f32(xr[col]), act) * to_f32(xr[d + col]));
  }
}

}  // namespace

Tensor act_and_mul(const Tensor& x_in, GatedActivation act) {
  const char* op = "ops::act_and_mul";
  check_on_cuda(x_in, op, "x");
  Tensor x = x_in.contiguous();
  int64_t d = x.size(-1) / 2;
  Shape shape = x.shape();
  shape.back() = d;
  Tensor y = Tensor::empty(shape, x.dtype(), x.device());
  int64_t n = y.numel();
  if (n == 0) return y;
  khub::cuda::DeviceGuard g(x.device());
  cudaStream_t s = khub::cuda::stream_for(x.device());
  dispatch_float(x.dtype(), op, [&](auto tag) {
    using T = typename decltype(tag)::type;
    act_and_mul_kernel<T><<<blocks_for(n, kThreads), kThreads, 0, s>>>(
        static_cast<const T*>(x.data()), static_cast<T*>(y.data()), d, n, act);
  });
  KHUB_CUDA_CHECK_LAUNCH();
  return y;
}

}  // namespace khub::ops::cuda
