// Backward of the row-wise reference ops and of the linear layer on CUDA (ops/backward.h,
// docs/design.md §10): the reference the training kernels fall back to, and what they are checked
// against. Each kernel is the derivative of the CUDA forward it names, computed in f32; activation
// gradients are stored in the activations' dtype, parameter gradients are f32 accumulators.
//
// Algorithms:
// - RMSNorm: a block walks a strip of rows (one row at a time, threads over the hidden size);
//   per row two block reductions (Σx², Σ g·x with g = dy·w'), then dx in one pass. The weight's
//   gradient Σ_rows dy·x·r is kept per thread in shared memory for the strip and added into the
//   f32 accumulator once per block (one atomic per column per block, not per row).
// - gated activations, soft-capping: one thread per element, grid-stride.
// - linear: two cuBLAS GEMMs (dx = dy·w, dw += dyᵀ·x with beta = 1; f32 accumulation, the
//   pedantic f32 compute for f32 so no TF32 enters), a column-sum kernel for the bias.
// - embedding: one atomic add per (token, column) into the f32 table gradient.
// - cross-entropy: one block per row, max then Σexp then the gradient row, in place allowed; the
//   row losses are summed on the device and read back once per call.
#include <cmath>

#include "core/cuda/cuda_check.h"
#include "ops/cublas_handle.h"
#include "ops/cuda_common.cuh"
#include "ops/ops_cuda.h"

namespace khub::ops::cuda {
namespace {

constexpr int kThreads = 256;

void check_f32_accumulator(const Tensor& t, const Tensor& like, const char* op, const char* name) {
  check_on_cuda(t, op, name);
  check_same_device(t, like, op);
  KHUB_CHECK_ARG(t.dtype() == DType::kF32 && t.is_contiguous(), op, ": ", name,
                 " must be a contiguous f32 CUDA tensor, got ", t.describe());
}

// ---- RMSNorm ------------------------------------------------------------------------------

constexpr int64_t kNormSharedColumns = 12288;  // 48 KiB of f32 per block

template <typename T, typename W>
__global__ void rms_norm_backward_kernel(const T* __restrict__ x, const W* __restrict__ w,
                                         const T* __restrict__ dy, T* __restrict__ dx,
                                         float* __restrict__ dweight, int64_t rows, int64_t h,
                                         float eps, float weight_offset, bool shared_dw) {
  extern __shared__ float dw_acc[];
  __shared__ float scratch[32];
  if (dweight != nullptr && shared_dw) {
    for (int64_t i = threadIdx.x; i < h; i += blockDim.x) dw_acc[i] = 0.0f;
  }
  for (int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
    const T* xr = x + r * h;
    const T* gr = dy + r * h;
    T* dxr = dx + r * h;
    float ss = 0.0f, gx = 0.0f;
    for (int64_t i = threadIdx.x; i < h; i += blockDim.x) {
      float xv = to_f32(xr[i]);
      ss += xv * xv;
      gx += to_f32(gr[i]) * (to_f32(w[i]) + weight_offset) * xv;
    }
    ss = block_reduce_sum(ss, scratch);
    gx = block_reduce_sum(gx, scratch);
    float inv = rsqrtf(ss / static_cast<float>(h) + eps);
    float c = gx * inv * inv * inv / static_cast<float>(h);
    for (int64_t i = threadIdx.x; i < h; i += blockDim.x) {
      float xv = to_f32(xr[i]), g = to_f32(gr[i]);
      dxr[i] = from_f32<T>(inv * g * (to_f32(w[i]) + weight_offset) - c * xv);
      if (dweight != nullptr) {
        if (shared_dw) {
          dw_acc[i] += g * xv * inv;
        } else {
          atomicAdd(dweight + i, g * xv * inv);
        }
      }
    }
  }
  if (dweight != nullptr && shared_dw) {
    for (int64_t i = threadIdx.x; i < h; i += blockDim.x) atomicAdd(dweight + i, dw_acc[i]);
  }
}

// ---- gated activations, soft-capping --------------------------------------------------------

template <typename T>
__global__ void act_and_mul_backward_kernel(const T* __restrict__ x, const T* __restrict__ dy,
                                            T* __restrict__ dx, int64_t rows, int64_t d, int act) {
  const float k = 0.7978845608028654f;  // sqrt(2 / pi)
  const float inv_sqrt2 = 0.7071067811865476f, inv_sqrt2pi = 0.3989422804014327f;
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < rows * d;
       i += int64_t{gridDim.x} * blockDim.x) {
    int64_t r = i / d, j = i % d;
    float a = to_f32(x[r * 2 * d + j]), up = to_f32(x[r * 2 * d + d + j]), g = to_f32(dy[i]);
    float v, dv;  // act(a) and act'(a)
    if (act == static_cast<int>(GatedActivation::kSilu)) {
      float s = 1.0f / (1.0f + expf(-a));
      v = a * s;
      dv = s * (1.0f + a * (1.0f - s));
    } else if (act == static_cast<int>(GatedActivation::kGeluTanh)) {
      float t = tanhf(k * (a + 0.044715f * a * a * a));
      v = 0.5f * a * (1.0f + t);
      dv = 0.5f * (1.0f + t) + 0.5f * a * (1.0f - t * t) * k * (1.0f + 3.0f * 0.044715f * a * a);
    } else {
      float cdf = 0.5f * (1.0f + erff(a * inv_sqrt2));
      v = a * cdf;
      dv = cdf + a * inv_sqrt2pi * expf(-0.5f * a * a);
    }
    dx[r * 2 * d + j] = from_f32<T>(g * up * dv);
    dx[r * 2 * d + d + j] = from_f32<T>(g * v);
  }
}

template <typename T>
__global__ void softcap_backward_kernel(T* __restrict__ dy, const T* __restrict__ y, int64_t n,
                                        float inv_cap) {
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < n;
       i += int64_t{gridDim.x} * blockDim.x) {
    float t = to_f32(y[i]) * inv_cap;
    dy[i] = from_f32<T>(to_f32(dy[i]) * (1.0f - t * t));
  }
}

// ---- linear bias, embedding ---------------------------------------------------------------

// db[j] += Σ_i dy[i, j]: one thread per column, rows walked in order (coalesced across threads).
template <typename T>
__global__ void column_sum_kernel(const T* __restrict__ dy, float* __restrict__ db, int64_t m,
                                  int64_t out) {
  int64_t j = blockIdx.x * int64_t{blockDim.x} + threadIdx.x;
  if (j >= out) return;
  float s = 0.0f;
  for (int64_t i = 0; i < m; ++i) s += to_f32(dy[i * out + j]);
  db[j] += s;
}

template <typename T>
__global__ void embedding_backward_kernel(const T* __restrict__ dy, const int32_t* __restrict__ ids,
                                          float scale, float* __restrict__ table, int64_t n,
                                          int64_t h) {
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < n * h;
       i += int64_t{gridDim.x} * blockDim.x) {
    int64_t r = i / h, c = i % h;
    atomicAdd(table + static_cast<int64_t>(ids[r]) * h + c, scale * to_f32(dy[i]));
  }
}

// ---- cross-entropy ------------------------------------------------------------------------

template <typename T>
__global__ void cross_entropy_kernel(const T* x, const int32_t* __restrict__ labels, T* grad,
                                     int64_t vocab, float grad_scale, float* __restrict__ losses) {
  __shared__ float scratch[32];
  const int64_t r = blockIdx.x;
  const T* xr = x + r * vocab;
  T* gr = grad != nullptr ? grad + r * vocab : nullptr;
  const int32_t y = labels[r];
  if (y == -100) {
    if (gr != nullptr)
      for (int64_t j = threadIdx.x; j < vocab; j += blockDim.x) gr[j] = from_f32<T>(0.0f);
    if (threadIdx.x == 0) losses[r] = 0.0f;
    return;
  }
  const float x_label = to_f32(xr[y]);  // read by every thread before any write (below)
  float m = -INFINITY;
  for (int64_t j = threadIdx.x; j < vocab; j += blockDim.x) m = fmaxf(m, to_f32(xr[j]));
  m = block_reduce_max(m, scratch);
  float sum = 0.0f;
  for (int64_t j = threadIdx.x; j < vocab; j += blockDim.x) sum += expf(to_f32(xr[j]) - m);
  sum = block_reduce_sum(sum, scratch);  // ends with every thread past its reads of x_label
  if (threadIdx.x == 0) losses[r] = logf(sum) + m - x_label;
  if (gr != nullptr) {
    const float f = grad_scale / sum;
    for (int64_t j = threadIdx.x; j < vocab; j += blockDim.x) {
      float e = expf(to_f32(xr[j]) - m) * f;
      gr[j] = from_f32<T>(j == y ? e - grad_scale : e);
    }
  }
}

}  // namespace

void zero_inplace(Tensor& t) {
  check_on_cuda(t, "ops::zero_inplace", "t");
  KHUB_CHECK_ARG(t.is_contiguous(), "ops::zero_inplace: ", t.describe(), " is not contiguous");
  if (t.nbytes() == 0) return;
  khub::cuda::DeviceGuard g(t.device());
  KHUB_CUDA_CHECK(cudaMemsetAsync(t.data(), 0, t.nbytes(), khub::cuda::stream_for(t.device())));
}

Tensor rms_norm_backward(const Tensor& x_in, const Tensor& weight_in, float eps,
                         float weight_offset, const Tensor& dy_in, Tensor* dweight) {
  const char* op = "ops::rms_norm_backward";
  check_on_cuda(x_in, op, "x");
  for (const Tensor* t : {&weight_in, &dy_in}) check_same_device(x_in, *t, op);
  KHUB_CHECK_ARG(dy_in.dtype() == x_in.dtype(), op, ": dy ", dy_in.describe(), " and x ",
                 x_in.describe(), " must share a dtype");
  if (dweight != nullptr) check_f32_accumulator(*dweight, x_in, op, "dweight");
  Tensor x = x_in.contiguous(), w = weight_in.contiguous(), dy = dy_in.contiguous();
  Tensor dx = Tensor::empty(x.shape(), x.dtype(), x.device());
  const int64_t h = x.size(-1), rows = h == 0 ? 0 : x.numel() / h;
  if (rows == 0) return dx;
  const int threads = static_cast<int>(std::clamp<int64_t>((h + 31) / 32 * 32, 32, 512));
  const bool shared_dw = dweight != nullptr && h <= kNormSharedColumns;
  const size_t smem = shared_dw ? static_cast<size_t>(h) * sizeof(float) : 0;
  // Enough blocks to fill the GPU; each walks rows / blocks rows, so the dweight atomics are
  // blocks × h rather than rows × h.
  const unsigned blocks = static_cast<unsigned>(std::min<int64_t>(rows, 1024));
  khub::cuda::DeviceGuard g(x.device());
  cudaStream_t s = khub::cuda::stream_for(x.device());
  dispatch_float(x.dtype(), op, [&](auto xt) {
    using T = typename decltype(xt)::type;
    dispatch_float(w.dtype(), op, [&](auto wt) {
      using W = typename decltype(wt)::type;
      rms_norm_backward_kernel<T, W><<<blocks, threads, smem, s>>>(
          static_cast<const T*>(x.data()), static_cast<const W*>(w.data()),
          static_cast<const T*>(dy.data()), static_cast<T*>(dx.data()),
          dweight != nullptr ? dweight->data_as<float>() : nullptr, rows, h, eps, weight_offset,
          shared_dw);
    });
  });
  KHUB_CUDA_CHECK_LAUNCH();
  return dx;
}

Tensor act_and_mul_backward(const Tensor& x_in, const Tensor& dy_in, GatedActivation act) {
  const char* op = "ops::act_and_mul_backward";
  check_on_cuda(x_in, op, "x");
  check_same_device(x_in, dy_in, op);
  KHUB_CHECK_ARG(dy_in.dtype() == x_in.dtype(), op, ": dy ", dy_in.describe(), " and x ",
                 x_in.describe(), " must share a dtype");
  Tensor x = x_in.contiguous(), dy = dy_in.contiguous();
  Tensor dx = Tensor::empty(x.shape(), x.dtype(), x.device());
  const int64_t d = x.size(-1) / 2, rows = d == 0 ? 0 : x.numel() / (2 * d);
  if (rows * d == 0) return dx;
  khub::cuda::DeviceGuard g(x.device());
  cudaStream_t s = khub::cuda::stream_for(x.device());
  dispatch_float(x.dtype(), op, [&](auto tag) {
    using T = typename decltype(tag)::type;
    act_and_mul_backward_kernel<T><<<blocks_for(rows * d, kThreads), kThreads, 0, s>>>(
        static_cast<const T*>(x.data()), static_cast<const T*>(dy.data()),
        static_cast<T*>(dx.data()), rows, d, static_cast<int>(act));
  });
  KHUB_CUDA_CHECK_LAUNCH();
  return dx;
}

void softcap_backward_inplace(Tensor& dy, const Tensor& y_in, float cap) {
  const char* op = "ops::softcap_backward_inplace";
  check_on_cuda(dy, op, "dy");
  check_same_device(dy, y_in, op);
  KHUB_CHECK_ARG(dy.dtype() == y_in.dtype(), op, ": dy ", dy.describe(), " and y ", y_in.describe(),
                 " must share a dtype");
  Tensor y = y_in.contiguous();
  const int64_t n = dy.numel();
  if (n == 0) return;
  khub::cuda::DeviceGuard g(dy.device());
  cudaStream_t s = khub::cuda::stream_for(dy.device());
  dispatch_float(dy.dtype(), op, [&](auto tag) {
    using T = typename decltype(tag)::type;
    softcap_backward_kernel<T><<<blocks_for(n, kThreads), kThreads, 0, s>>>(
        static_cast<T*>(dy.data()), static_cast<const T*>(y.data()), n, 1.0f / cap);
  });
  KHUB_CUDA_CHECK_LAUNCH();
}

void linear_backward(const Tensor& x_in, const Tensor& w, const Tensor& dy_in, Tensor* dx,
                     Tensor* dw, Tensor* db) {
  const char* op = "ops::linear_backward";
  check_on_cuda(x_in, op, "x");
  for (const Tensor* t : {&w, &dy_in}) check_same_device(x_in, *t, op);
  KHUB_CHECK_ARG(w.dtype() == x_in.dtype() && dy_in.dtype() == x_in.dtype(), op, ": x ",
                 x_in.describe(), ", w ", w.describe(), " and dy ", dy_in.describe(),
                 " must share a dtype");
  if (dw != nullptr) check_f32_accumulator(*dw, x_in, op, "dw");
  if (db != nullptr) check_f32_accumulator(*db, x_in, op, "db");
  const int64_t out = w.size(0), in = w.size(1), m = in == 0 ? 0 : x_in.numel() / in;
  KHUB_CHECK_ARG(m <= INT32_MAX && in <= INT32_MAX && out <= INT32_MAX, op,
                 ": sizes exceed cuBLAS's 32-bit arguments");
  Tensor dy = dy_in.contiguous();
  khub::cuda::DeviceGuard g(x_in.device());
  cudaStream_t s = khub::cuda::stream_for(x_in.device());
  cublasHandle_t handle = cublas_handle(x_in.device(), s);
  const cudaDataType_t type = cublas_data_type(x_in.dtype(), op);
  const cublasComputeType_t compute =
      x_in.dtype() == DType::kF32 ? CUBLAS_COMPUTE_32F_PEDANTIC : CUBLAS_COMPUTE_32F;
  const float one = 1.0f, zero = 0.0f;
  const int mi = static_cast<int>(m), ii = static_cast<int>(in), oi = static_cast<int>(out);
  if (dx != nullptr) {
    *dx = Tensor::empty(x_in.shape(), x_in.dtype(), x_in.device());
    if (m > 0 && in > 0 && out > 0) {
      // Column-major: dxᵀ [in, m] = wᵀ [in, out] · dyᵀ [out, m].
      KHUB_CUBLAS_CHECK(cublasGemmEx(handle, CUBLAS_OP_N, CUBLAS_OP_N, ii, mi, oi, &one, w.data(),
                                     type, ii, dy.data(), type, oi, &zero, dx->data(), type, ii,
                                     compute, CUBLAS_GEMM_DEFAULT));
    } else if (dx->nbytes() > 0) {
      zero_inplace(*dx);
    }
  }
  if (m == 0 || in == 0 || out == 0) return;
  if (dw != nullptr) {
    Tensor x = x_in.contiguous();
    // Column-major: dwᵀ [in, out] += xᵀ [in, m] · dy [m, out].
    KHUB_CUBLAS_CHECK(cublasGemmEx(handle, CUBLAS_OP_N, CUBLAS_OP_T, ii, oi, mi, &one, x.data(),
                                   type, ii, dy.data(), type, oi, &one, dw->data(), CUDA_R_32F, ii,
                                   compute, CUBLAS_GEMM_DEFAULT));
  }
  if (db != nullptr) {
    dispatch_float(dy.dtype(), op, [&](auto tag) {
      using T = typename decltype(tag)::type;
      column_sum_kernel<T>
          <<<static_cast<unsigned>((out + kThreads - 1) / kThreads), kThreads, 0, s>>>(
              static_cast<const T*>(dy.data()), db->data_as<float>(), m, out);
    });
    KHUB_CUDA_CHECK_LAUNCH();
  }
}

void embedding_backward(const Tensor& dy_in, const Tensor& ids, float scale, Tensor& dtable) {
  const char* op = "ops::embedding_backward";
  check_on_cuda(dy_in, op, "dy");
  check_same_device(dy_in, ids, op);
  check_f32_accumulator(dtable, dy_in, op, "dtable");
  Tensor dy = dy_in.contiguous();
  const int64_t n = ids.numel(), h = dtable.size(1);
  if (n * h == 0) return;
  khub::cuda::DeviceGuard g(dy.device());
  cudaStream_t s = khub::cuda::stream_for(dy.device());
  dispatch_float(dy.dtype(), op, [&](auto tag) {
    using T = typename decltype(tag)::type;
    embedding_backward_kernel<T><<<blocks_for(n * h, kThreads), kThreads, 0, s>>>(
        static_cast<const T*>(dy.data()), ids.data_as<int32_t>(), scale, dtable.data_as<float>(), n,
        h);
  });
  KHUB_CUDA_CHECK_LAUNCH();
}

double cross_entropy(const Tensor& logits_in, const Tensor& labels, float grad_scale,
                     Tensor* dlogits) {
  const char* op = "ops::cross_entropy";
  check_on_cuda(logits_in, op, "logits");
  check_same_device(logits_in, labels, op);
  const int64_t vocab = logits_in.size(-1), rows = logits_in.numel() / vocab;
  if (dlogits != nullptr) {
    if (!dlogits->defined()) {
      *dlogits = Tensor::empty(logits_in.shape(), logits_in.dtype(), logits_in.device());
    } else {
      check_same_device(logits_in, *dlogits, op);
      KHUB_CHECK_ARG(dlogits->dtype() == logits_in.dtype() && dlogits->is_contiguous() &&
                         dlogits->shape() == logits_in.shape(),
                     op, ": dlogits ", dlogits->describe(), " must be contiguous ",
                     shape_str(logits_in.shape()), " in the logits' dtype");
    }
  }
  if (rows == 0) return 0.0;
  Tensor logits = logits_in.contiguous();
  Tensor losses = Tensor::empty({rows}, DType::kF32, logits.device());
  khub::cuda::DeviceGuard g(logits.device());
  cudaStream_t s = khub::cuda::stream_for(logits.device());
  dispatch_float(logits.dtype(), op, [&](auto tag) {
    using T = typename decltype(tag)::type;
    cross_entropy_kernel<T><<<static_cast<unsigned>(rows), 512, 0, s>>>(
        static_cast<const T*>(logits.data()), labels.data_as<int32_t>(),
        dlogits != nullptr ? static_cast<T*>(dlogits->data()) : nullptr, vocab, grad_scale,
        losses.data_as<float>());
  });
  KHUB_CUDA_CHECK_LAUNCH();
  Tensor host = losses.to(Device::cpu());
  double sum = 0.0;
  for (int64_t r = 0; r < rows; ++r) sum += host.data_as<float>()[r];
  return sum;
}

}  // namespace khub::ops::cuda
