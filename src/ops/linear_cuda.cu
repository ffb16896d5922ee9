// Linear layers on CUDA, the reference path: one cuBLAS GEMM (cublasGemmEx), as PyTorch eager does.
// bf16/f16 run on the tensor cores with f32 accumulation (CUBLAS_COMPUTE_32F); f32 uses
// CUBLAS_COMPUTE_32F_PEDANTIC, which rules out TF32 and other reduced-precision shortcuts, so f32
// models match f32 references. A bias is added by a second, elementwise kernel.
//
// Layout: row-major y[m, out] = x[m, in] · w[out, in]ᵀ is, in cuBLAS's column-major terms,
// yᵀ[out, m] = op_T(w as [in, out]) · (x as [in, m]).
#include "ops/cublas_handle.h"
#include "ops/cuda_common.cuh"
#include "ops/ops_cuda.h"

namespace khub::ops::cuda {
namespace {

constexpr int kThreads = 256;

template <typename T>
__global__ void add_bias_kernel(T* __restrict__ y, const T* __restrict__ b, int64_t out,
                                int64_t n) {
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < n;
       i += int64_t{gridDim.x} * blockDim.x) {
    y[i] = from_f32<T>(to_f32(y[i]) + to_f32(b[i % out]));
  }
}

}  // namespace

Tensor linear(const Tensor& x_in, const Tensor& w_in, const Tensor& bias_in) {
  const char* op = "ops::linear";
  check_on_cuda(x_in, op, "x");
  check_on_cuda(w_in, op, "weight");
  check_same_device(x_in, w_in, op);
  KHUB_CHECK_ARG(x_in.dtype() == w_in.dtype(), op, ": on CUDA the input and weight share a dtype, ",
                 "got ", x_in.describe(), " and ", w_in.describe(),
                 " (load the model with the activation dtype)");
  Tensor x = x_in.contiguous(), w = w_in.contiguous();
  int64_t in = w.size(1), out = w.size(0);
  int64_t m = in == 0 ? 0 : x.numel() / in;
  Shape out_shape = x.shape();
  out_shape.back() = out;
  Tensor y = Tensor::empty(out_shape, x.dtype(), x.device());
  if (m == 0 || out == 0) return y;
  KHUB_CHECK_ARG(m <= INT32_MAX && in <= INT32_MAX && out <= INT32_MAX, op, ": ", x.describe(),
                 " · ", w.describe(), " exceeds cuBLAS's 32-bit sizes");
  cudaDataType_t type = cublas_data_type(x.dtype(), op);
  khub::cuda::DeviceGuard g(x.device());
  cudaStream_t s = khub::cuda::stream_for(x.device());
  cublasHandle_t handle = cublas_handle(x.device(), s);
  cublasComputeType_t compute =
      x.dtype() == DType::kF32 ? CUBLAS_COMPUTE_32F_PEDANTIC : CUBLAS_COMPUTE_32F;
  float alpha = 1.0f, beta = 0.0f;
  if (in == 0) {
    KHUB_CUDA_CHECK(cudaMemsetAsync(y.data(), 0, y.nbytes(), s));
  } else {
    KHUB_CUBLAS_CHECK(cublasGemmEx(handle, CUBLAS_OP_T, CUBLAS_OP_N, static_cast<int>(out),
                                   static_cast<int>(m), static_cast<int>(in), &alpha, w.data(),
                                   type, static_cast<int>(in), x.data(), type, static_cast<int>(in),
                                   &beta, y.data(), type, static_cast<int>(out), compute,
                                   CUBLAS_GEMM_DEFAULT));
  }
  if (bias_in.defined()) {
    check_on_cuda(bias_in, op, "bias");
    check_same_device(x, bias_in, op);
    KHUB_CHECK_ARG(bias_in.dtype() == x.dtype(), op, ": bias ", bias_in.describe(),
                   " must have the input's dtype ", dtype_name(x.dtype()));
    Tensor b = bias_in.contiguous();
    int64_t n = m * out;
    dispatch_float(x.dtype(), op, [&](auto tag) {
      using T = typename decltype(tag)::type;
      add_bias_kernel<T><<<blocks_for(n, kThreads), kThreads, 0, s>>>(
          static_cast<T*>(y.data()), static_cast<const T*>(b.data()), out, n);
    });
    KHUB_CUDA_CHECK_LAUNCH();
  }
  return y;
}

}  // namespace khub::ops::cuda
