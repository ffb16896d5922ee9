// Rotary position embedding on CUDA, the reference path: in place on q [T, Hq, D] and k [T, Hk, D].
// One thread per rotated pair (token, head, j < rotary_dim/2), for q and k in one launch; each
// reads two elements and the pair's cos/sin (f32 tables [T, rotary_dim/2]) and writes two. Dims
// past rotary_dim are left as they are. f32 math, one rounding per element. The backward (the
// transpose of each pair's rotation) is the same kernel with sin negated.
#include "ops/cuda_common.cuh"
#include "ops/ops_cuda.h"

namespace khub::ops::cuda {
namespace {

constexpr int kThreads = 256;

template <typename T>
__global__ void rotary_kernel(T* __restrict__ q, T* __restrict__ k, const float* __restrict__ cos,
                              const float* __restrict__ sin, int64_t t, int64_t hq, int64_t hk,
                              int64_t d, int64_t half, bool interleaved, float sin_sign) {
  int64_t nq = t * hq * half, n = nq + t * hk * half;
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < n;
       i += int64_t{gridDim.x} * blockDim.x) {
    bool is_q = i < nq;
    int64_t r = is_q ? i : i - nq;
    int64_t heads = is_q ? hq : hk;
    int64_t j = r % half, th = r / half;  // th = token * heads + head
    int64_t tok = th / heads;
    T* v = (is_q ? q : k) + th * d;
    int64_t a = interleaved ? 2 * j : j;
    int64_t b = interleaved ? 2 * j + 1 : j + half;
    float c = cos[tok * half + j], s = sin_sign * sin[tok * half + j];
    float x1 = to_f32(v[a]), x2 = to_f32(v[b]);
    v[a] = from_f32<T>(x1 * c - x2 * s);
    v[b] = from_f32<T>(x2 * c + x1 * s);
  }
}

void rotate(Tensor& q, Tensor& k, const Tensor& cos_in, const Tensor& sin_in, int64_t rotary_dim,
            bool interleaved, float sin_sign, const char* op) {
  for (const Tensor* x : std::initializer_list<const Tensor*>{&q, &k, &cos_in, &sin_in}) {
    check_on_cuda(*x, op, "q, k, cos and sin");
    check_same_device(q, *x, op);
  }
  KHUB_CHECK_ARG(q.dtype() == k.dtype() && q.size(2) == k.size(2) && q.size(0) == k.size(0), op,
                 ": q ", q.describe(), " and k ", k.describe(), " disagree");
  KHUB_CHECK_ARG(cos_in.dtype() == DType::kF32 && sin_in.dtype() == DType::kF32, op,
                 ": cos and sin tables must be f32, got ", cos_in.describe());
  Tensor cos = cos_in.contiguous(), sin = sin_in.contiguous();
  int64_t t = q.size(0), hq = q.size(1), hk = k.size(1), d = q.size(2), half = rotary_dim / 2;
  int64_t n = t * (hq + hk) * half;
  if (n == 0) return;
  khub::cuda::DeviceGuard g(q.device());
  cudaStream_t s = khub::cuda::stream_for(q.device());
  dispatch_float(q.dtype(), op, [&](auto tag) {
    using T = typename decltype(tag)::type;
    rotary_kernel<T><<<blocks_for(n, kThreads), kThreads, 0, s>>>(
        static_cast<T*>(q.data()), static_cast<T*>(k.data()), cos.data_as<float>(),
        sin.data_as<float>(), t, hq, hk, d, half, interleaved, sin_sign);
  });
  KHUB_CUDA_CHECK_LAUNCH();
}

}  // namespace

void apply_rotary(Tensor& q, Tensor& k, const Tensor& cos, const Tensor& sin, int64_t rotary_dim,
                  bool interleaved) {
  rotate(q, k, cos, sin, rotary_dim, interleaved, 1.0f, "ops::apply_rotary");
}

void apply_rotary_backward(Tensor& dq, Tensor& dk, const Tensor& cos, const Tensor& sin,
                           int64_t rotary_dim, bool interleaved) {
  rotate(dq, dk, cos, sin, rotary_dim, interleaved, -1.0f, "ops::apply_rotary_backward");
}

}  // namespace khub::ops::cuda
