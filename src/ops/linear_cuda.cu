// Linear layers on CUDA, the reference path.
//
// GEMM (any row count): one cuBLAS call (cublasGemmEx), as PyTorch eager does. bf16/f16 run on the
// tensor cores with f32 accumulation (CUBLAS_COMPUTE_32F); f32 uses CUBLAS_COMPUTE_32F_PEDANTIC,
// which rules out TF32 and other reduced-precision shortcuts, so f32 models match f32 references.
// A bias is added by a second, elementwise kernel. Row-major y[m, out] = x[m, in] · w[out, in]ᵀ is,
// in cuBLAS's column-major terms, yᵀ[out, m] = op_T(w as [in, out]) · (x as [in, m]).
//
// GEMV (bf16/f16, m <= kGemvMaxRows, in % 8 == 0: the decode steps): a weight-streaming kernel,
// one warp per output feature (two for one row of up to 2048 inputs) for all m rows at once,
// 16-byte loads, f32 accumulation, the bias added before the one rounding. It is one kernel where
// cuBLAS's small-m GEMMs take one or two (split-K + reduce) at a fraction of the memory bandwidth,
// and it writes a fused projection's parts (q, k, v) into separate tensors. Launched as a
// programmatic dependent, and with weight_constant it loads its first 4096 weights per row before
// waiting for the previous kernel.
#include <cstdlib>
#include <cstring>

#include "ops/cublas_handle.h"
#include "ops/cuda_common.cuh"
#include "ops/ops_cuda.h"

namespace khub::ops::cuda {
namespace {

constexpr int kThreads = 256;
constexpr int64_t kGemvMaxRows = 8;
constexpr int kGemvWarps = kThreads / 32;
constexpr int kMaxParts = 3;

template <typename T>
__global__ void add_bias_kernel(T* __restrict__ y, const T* __restrict__ b, int64_t out,
                                int64_t n) {
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < n;
       i += int64_t{gridDim.x} * blockDim.x) {
    y[i] = from_f32<T>(to_f32(y[i]) + to_f32(b[i % out]));
  }
}

template <typename T>
struct GemvParams {
  const T* x;     // [m, in], rows contiguous
  const T* w;     // [out, in]
  const T* bias;  // [out] or null
  int64_t in, out;
  int m;
  bool prefetch;  // the weight is constant: load it before pdl_wait()
  int parts;
  T* y[kMaxParts];         // part i: [m, end[i] - start], features [start, end[i])
  int64_t end[kMaxParts];  // exclusive feature bound of each part
};

// Streams 16 bytes of weights past L1 (each is read once).
__device__ __forceinline__ uint4 load_stream(const void* p) {
  uint4 v;
  asm volatile("ld.global.nc.L1::no_allocate.v4.u32 {%0, %1, %2, %3}, [%4];"
               : "=r"(v.x), "=r"(v.y), "=r"(v.z), "=r"(v.w)
               : "l"(p));
  return v;
}

__device__ __forceinline__ float2 to_f32x2(uint32_t v, bf16) {
  return __bfloat1622float2(*reinterpret_cast<const __nv_bfloat162*>(&v));
}
__device__ __forceinline__ float2 to_f32x2(uint32_t v, f16) {
  return __half22float2(*reinterpret_cast<const __half2*>(&v));
}

template <typename T>
__device__ __forceinline__ float dot8(uint4 a, uint4 b) {
  const uint32_t* pa = reinterpret_cast<const uint32_t*>(&a);
  const uint32_t* pb = reinterpret_cast<const uint32_t*>(&b);
  float s = 0.0f;
#pragma unroll
  for (int i = 0; i < 4; ++i) {
    float2 fa = to_f32x2(pa[i], T{}), fb = to_f32x2(pb[i], T{});
    s = fmaf(fa.x, fb.x, s);
    s = fmaf(fa.y, fb.y, s);
  }
  return s;
}

// M: rows of x handled (p.m <= M); U: 16-byte weight vectors per lane held at once, so a pass
// covers U * 256 input features of one output feature; F: output features per warp (each input
// vector loaded once serves all F).
template <typename T, int M, int U, int F>
__global__ void __launch_bounds__(kThreads) gemv_kernel(GemvParams<T> p) {
  const int lane = threadIdx.x % 32;
  const int64_t first = (int64_t{blockIdx.x} * kGemvWarps + threadIdx.x / 32) * F;
  const T* wrow[F];
#pragma unroll
  for (int f = 0; f < F; ++f) wrow[f] = p.w + (first + f < p.out ? first + f : 0) * p.in;
  uint4 wv[F][U];
  auto load_pass = [&](int64_t base) {
#pragma unroll
    for (int f = 0; f < F; ++f) {
#pragma unroll
      for (int u = 0; u < U; ++u) {
        int64_t e = base + (u * 32 + lane) * 8;
        wv[f][u] =
            first + f < p.out && e < p.in ? load_stream(wrow[f] + e) : make_uint4(0, 0, 0, 0);
      }
    }
  };
  if (p.prefetch) load_pass(0);
  pdl_wait();
  pdl_launch_dependents();
  if (!p.prefetch) load_pass(0);
  float acc[F][M];
#pragma unroll
  for (int f = 0; f < F; ++f) {
#pragma unroll
    for (int r = 0; r < M; ++r) acc[f][r] = 0.0f;
  }
  for (int64_t base = 0;;) {
    // Each row's U input vectors are loaded together, then used: one memory latency per row and
    // pass (a load per use would wait U times).
#pragma unroll
    for (int r = 0; r < M; ++r) {
      if (r < p.m) {
        uint4 xv[U];
#pragma unroll
        for (int u = 0; u < U; ++u) {
          int64_t e = base + (u * 32 + lane) * 8;
          xv[u] = e < p.in ? *reinterpret_cast<const uint4*>(p.x + r * p.in + e)
                           : make_uint4(0, 0, 0, 0);
        }
#pragma unroll
        for (int f = 0; f < F; ++f) {
#pragma unroll
          for (int u = 0; u < U; ++u) acc[f][r] += dot8<T>(wv[f][u], xv[u]);
        }
      }
    }
    base += U * 256;
    if (base >= p.in) break;
    load_pass(base);
  }
#pragma unroll
  for (int f = 0; f < F; ++f) {
#pragma unroll
    for (int r = 0; r < M; ++r) {
      for (int o = 16; o > 0; o >>= 1) acc[f][r] += __shfl_xor_sync(0xffffffffu, acc[f][r], o);
    }
  }
  if (lane >= p.m) return;
#pragma unroll
  for (int f = 0; f < F; ++f) {
    const int64_t row = first + f;
    if (row >= p.out) return;
    float v = 0.0f;
#pragma unroll
    for (int r = 0; r < M; ++r) v = lane == r ? acc[f][r] : v;
    if (p.bias != nullptr) v += to_f32(p.bias[row]);
    // The part holding this feature (constant indices: a dynamic index into the parameters would
    // copy them to the stack).
    T* y = p.y[0];
    int64_t start = 0, end = p.end[0];
#pragma unroll
    for (int i = 1; i < kMaxParts; ++i) {
      if (i < p.parts && row >= p.end[i - 1]) {
        y = p.y[i];
        start = p.end[i - 1];
        end = p.end[i];
      }
    }
    y[lane * (end - start) + (row - start)] = from_f32<T>(v);
  }
}

// Output features per warp of a one-row GEMV whose rows have at most 2048 inputs: 2 (default;
// each input vector loaded serves both, and a 6144-feature projection fits one wave of blocks on
// an H100/H200) or 1 (KHUB_CUDA_GEMV_FEATURES=1, for measurement). Measured on the H200 in Qwen3-
// 0.6B's decode chain (2026-12-03): 1,410 tok/s with 2 against 1,360 with 1; 4 features per warp
// gave 1,362, 4 warps per block instead of 8 no better (dev/cuda/NOTES.md).
int gemv_features() {
  static const int f = [] {
    const char* v = std::getenv("KHUB_CUDA_GEMV_FEATURES");
    if (v == nullptr || *v == 0) return 2;
    KHUB_CHECK_ARG((v[0] == '1' || v[0] == '2') && v[1] == 0, "KHUB_CUDA_GEMV_FEATURES=", v,
                   ": expected 1 or 2");
    return v[0] - '0';
  }();
  return f;
}

template <typename T, int M, int U, int F>
void launch_gemv_f(const GemvParams<T>& p, const Device& dev, cudaStream_t s) {
  dim3 grid(static_cast<unsigned>((p.out + kGemvWarps * F - 1) / (kGemvWarps * F)));
  launch_kernel(gemv_kernel<T, M, U, F>, dev, grid, dim3(kThreads), 0, s, p);
}

template <typename T, int M, int U>
void launch_gemv_u(const GemvParams<T>& p, const Device& dev, cudaStream_t s) {
  if constexpr (M == 1 && U <= 8) {
    if (gemv_features() == 2) return launch_gemv_f<T, M, U, 2>(p, dev, s);
  }
  launch_gemv_f<T, M, U, 1>(p, dev, s);
}

template <typename T, int M>
void launch_gemv_m(const GemvParams<T>& p, const Device& dev, cudaStream_t s) {
  // One pass over rows of up to 4096 features: all of a row's weights in flight at once.
  if (p.in <= 512) return launch_gemv_u<T, M, 2>(p, dev, s);
  if (p.in <= 1024) return launch_gemv_u<T, M, 4>(p, dev, s);
  if (p.in <= 2048) return launch_gemv_u<T, M, 8>(p, dev, s);
  if (p.in <= 3072) return launch_gemv_u<T, M, 12>(p, dev, s);
  launch_gemv_u<T, M, 16>(p, dev, s);
}

template <typename T>
void launch_gemv(const GemvParams<T>& p, const Device& dev, cudaStream_t s) {
  if (p.m <= 1) return launch_gemv_m<T, 1>(p, dev, s);
  if (p.m <= 2) return launch_gemv_m<T, 2>(p, dev, s);
  if (p.m <= 4) return launch_gemv_m<T, 4>(p, dev, s);
  launch_gemv_m<T, 8>(p, dev, s);
}

bool gemv_switched_off() {
  static const bool off = [] {
    const char* v = std::getenv("KHUB_CUDA_GEMV");
    return v != nullptr && std::strcmp(v, "0") == 0;
  }();
  return off;
}

bool aligned16(const void* p) { return reinterpret_cast<uintptr_t>(p) % 16 == 0; }

// y parts = x · wᵀ (+ bias) into `outs` (contiguous [m, cols_i], cols summing to w's rows).
void linear_into(const Tensor& x_in, const Tensor& w_in, const Tensor& bias_in,
                 std::vector<Tensor>& outs, bool weight_constant) {
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
  Tensor b;
  if (bias_in.defined()) {
    check_on_cuda(bias_in, op, "bias");
    check_same_device(x, bias_in, op);
    KHUB_CHECK_ARG(bias_in.dtype() == x.dtype(), op, ": bias ", bias_in.describe(),
                   " must have the input's dtype ", dtype_name(x.dtype()));
    b = bias_in.contiguous();
  }
  if (m == 0 || out == 0) return;
  KHUB_CHECK_ARG(m <= INT32_MAX && in <= INT32_MAX && out <= INT32_MAX, op, ": ", x.describe(),
                 " · ", w.describe(), " exceeds cuBLAS's 32-bit sizes");
  khub::cuda::DeviceGuard g(x.device());
  cudaStream_t s = khub::cuda::stream_for(x.device());

  bool gemv = (x.dtype() == DType::kBF16 || x.dtype() == DType::kF16) && m <= kGemvMaxRows &&
              in % 8 == 0 && in > 0 && aligned16(x.data()) && aligned16(w.data()) &&
              outs.size() <= kMaxParts && !gemv_switched_off();
  if (gemv) {
    dispatch_float(x.dtype(), op, [&](auto tag) {
      using T = typename decltype(tag)::type;
      if constexpr (!std::is_same_v<T, float>) {
        GemvParams<T> p{};
        p.x = static_cast<const T*>(x.data());
        p.w = static_cast<const T*>(w.data());
        p.bias = b.defined() ? static_cast<const T*>(b.data()) : nullptr;
        p.in = in;
        p.out = out;
        p.m = static_cast<int>(m);
        p.prefetch = weight_constant;
        p.parts = static_cast<int>(outs.size());
        int64_t end = 0;
        for (size_t i = 0; i < outs.size(); ++i) {
          end += outs[i].size(-1);
          p.y[i] = static_cast<T*>(outs[i].data());
          p.end[i] = end;
        }
        launch_gemv(p, x.device(), s);
      }
    });
    return;
  }

  // cuBLAS into one [m, out] buffer (the single output itself when there is one), then the parts.
  Tensor y = outs.size() == 1 ? outs[0] : Tensor::empty({m, out}, x.dtype(), x.device());
  cudaDataType_t type = cublas_data_type(x.dtype(), op);
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
  if (b.defined()) {
    int64_t n = m * out;
    dispatch_float(x.dtype(), op, [&](auto tag) {
      using T = typename decltype(tag)::type;
      add_bias_kernel<T><<<blocks_for(n, kThreads), kThreads, 0, s>>>(
          static_cast<T*>(y.data()), static_cast<const T*>(b.data()), out, n);
    });
    KHUB_CUDA_CHECK_LAUNCH();
  }
  if (outs.size() > 1) {
    Tensor y2 = y.view({m, out});
    int64_t start = 0;
    for (Tensor& part : outs) {
      int64_t cols = part.size(-1);
      part.view({m, cols}).copy_from(y2.slice(1, start, start + cols));
      start += cols;
    }
  }
}

}  // namespace

Tensor linear(const Tensor& x, const Tensor& w, const Tensor& bias, bool weight_constant) {
  Shape shape = x.shape();
  shape.back() = w.size(0);
  std::vector<Tensor> outs{Tensor::empty(shape, x.dtype(), x.device())};
  linear_into(x, w, bias, outs, weight_constant);
  return outs[0];
}

std::vector<Tensor> linear_split(const Tensor& x, const Tensor& w, const Tensor& bias,
                                 const std::vector<int64_t>& sizes, bool weight_constant) {
  std::vector<Tensor> outs;
  for (int64_t cols : sizes) {
    Shape shape = x.shape();
    shape.back() = cols;
    outs.push_back(Tensor::empty(shape, x.dtype(), x.device()));
  }
  linear_into(x, w, bias, outs, weight_constant);
  return outs;
}

}  // namespace khub::ops::cuda
