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

#include "core/env.h"
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

// Output feature `row` of x's row r: v plus the bias, rounded once, into the part holding it.
template <typename T>
__device__ __forceinline__ void store_feature(const GemvParams<T>& p, int64_t row, int r, float v) {
  if (p.bias != nullptr) v += to_f32(p.bias[row]);
  // The part (constant indices: a dynamic index into the parameters would copy them to the stack).
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
  y[r * (end - start) + (row - start)] = from_f32<T>(v);
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
    store_feature(p, row, lane, v);
  }
}

// The tensor-core GEMV (bf16/f16, m <= 8, in a multiple of 256 up to 4096): one block of W warps
// per 16 output features, warp w taking the w-th slice of the inputs (P pairs of 16-input mma
// chunks); each warp's 16 features x its slice are one 16x(32P) A operand, the m rows of x the
// B operand's columns (mma.m16n8k16, f32 accumulators), and the W partial sums meet in shared
// memory behind one barrier. Every lane loads its weights as two 16-byte vectors per chunk pair:
// the inputs inside a pair are taken in a permuted order (lane t's four k-slots of both chunks
// are the 8 consecutive inputs 32p + 8t ... + 7), the same for A and B, which leaves the dot
// products unchanged. Against the CUDA-core kernel above, what runs after the programmatic wait
// is 2P mma instructions per warp instead of ~40 conversions and FMAs per 8 inputs and feature,
// and each warp reads 1/W of x instead of all of it.
__device__ __forceinline__ void mma_16816(float (&c)[4], uint32_t a0, uint32_t a1, uint32_t a2,
                                          uint32_t a3, uint32_t b0, uint32_t b1, bf16) {
  asm volatile(
      "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, "
      "{%8,%9}, {%0,%1,%2,%3};"
      : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
      : "r"(a0), "r"(a1), "r"(a2), "r"(a3), "r"(b0), "r"(b1));
}
__device__ __forceinline__ void mma_16816(float (&c)[4], uint32_t a0, uint32_t a1, uint32_t a2,
                                          uint32_t a3, uint32_t b0, uint32_t b1, f16) {
  asm volatile(
      "mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, "
      "{%8,%9}, {%0,%1,%2,%3};"
      : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
      : "r"(a0), "r"(a1), "r"(a2), "r"(a3), "r"(b0), "r"(b1));
}

template <typename T, int W, int P>
__global__ void __launch_bounds__(W * 32) gemv_mma_kernel(GemvParams<T> p) {
  __shared__ float partial[W][16][8];
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
  const int g = lane / 4, t = lane % 4;
  const int64_t f0 = int64_t{blockIdx.x} * 16;
  const int64_t fa = f0 + g, fb = f0 + g + 8;
  const int64_t k0 = int64_t{warp} * P * 32 + t * 8;
  const T* wa = p.w + (fa < p.out ? fa : 0) * p.in + k0;
  const T* wb = p.w + (fb < p.out ? fb : 0) * p.in + k0;
  uint4 av[P], bv[P];
  auto load_weights = [&] {
#pragma unroll
    for (int q = 0; q < P; ++q) {
      av[q] = fa < p.out ? load_stream(wa + q * 32) : make_uint4(0, 0, 0, 0);
      bv[q] = fb < p.out ? load_stream(wb + q * 32) : make_uint4(0, 0, 0, 0);
    }
  };
  if (p.prefetch) load_weights();
  pdl_wait();
  pdl_launch_dependents();
  if (!p.prefetch) load_weights();
  // B's column g is row g of x (zero past m).
  uint4 xv[P];
#pragma unroll
  for (int q = 0; q < P; ++q) {
    xv[q] = g < p.m ? *reinterpret_cast<const uint4*>(p.x + g * p.in + k0 + q * 32)
                    : make_uint4(0, 0, 0, 0);
  }
  float c[4] = {0.0f, 0.0f, 0.0f, 0.0f};
#pragma unroll
  for (int q = 0; q < P; ++q) {
    mma_16816(c, av[q].x, bv[q].x, av[q].y, bv[q].y, xv[q].x, xv[q].y, T{});
    mma_16816(c, av[q].z, bv[q].z, av[q].w, bv[q].w, xv[q].z, xv[q].w, T{});
  }
  // c: rows g and g + 8 (features), columns 2t and 2t + 1 (rows of x).
  partial[warp][g][2 * t] = c[0];
  partial[warp][g][2 * t + 1] = c[1];
  partial[warp][g + 8][2 * t] = c[2];
  partial[warp][g + 8][2 * t + 1] = c[3];
  __syncthreads();
  const int i = threadIdx.x % 16, r = threadIdx.x / 16;
  const int64_t row = f0 + i;
  if (r >= p.m || row >= p.out) return;
  float v = 0.0f;
#pragma unroll
  for (int w = 0; w < W; ++w) v += partial[w][i][r];
  store_feature(p, row, r, v);
}

// KHUB_CUDA_GEMV_MMA=0 (for measurement): the CUDA-core GEMV for every shape.
bool gemv_mma_off() {
  static const bool off = !env::flag("KHUB_CUDA_GEMV_MMA", true);
  return off;
}

// Launches the tensor-core GEMV where the input count fits it; false where it does not.
template <typename T>
bool launch_gemv_mma(const GemvParams<T>& p, const Device& dev, cudaStream_t s) {
  if (gemv_mma_off() || p.in % 256 != 0 || p.in > 4096) return false;
  const dim3 grid(static_cast<unsigned>((p.out + 15) / 16));
  const int64_t pairs = p.in / 256;  // chunk pairs per warp with 8 warps
  switch (pairs) {
#define KHUB_GEMV_MMA(W, P)                                                  \
  launch_kernel(gemv_mma_kernel<T, W, P>, dev, grid, dim3(W * 32), 0, s, p); \
  return true
    case 1:
      KHUB_GEMV_MMA(8, 1);
    case 2:
      KHUB_GEMV_MMA(8, 2);
    case 3:
      KHUB_GEMV_MMA(8, 3);
    case 4:
      KHUB_GEMV_MMA(8, 4);
    case 5:
      KHUB_GEMV_MMA(8, 5);
    case 6:
      KHUB_GEMV_MMA(8, 6);
    case 7:
      KHUB_GEMV_MMA(8, 7);
    case 8:
      KHUB_GEMV_MMA(8, 8);
    // Longer rows: 16 warps, so that a warp holds at most 8 pairs (64 weight registers).
    case 10:
      KHUB_GEMV_MMA(16, 5);
    case 12:
      KHUB_GEMV_MMA(16, 6);
    case 14:
      KHUB_GEMV_MMA(16, 7);
    case 16:
      KHUB_GEMV_MMA(16, 8);
#undef KHUB_GEMV_MMA
    default:
      return false;
  }
}

// Output features per warp of a one-row GEMV whose rows have at most 2048 inputs: 2 (default;
// each input vector loaded serves both, and a 6144-feature projection fits one wave of blocks on
// an H100/H200) or 1 (KHUB_CUDA_GEMV_FEATURES=1, for measurement). The figures behind the choice:
// docs/cuda-measurements.md, "GEMV output features per warp".
int gemv_features() {
  static const int f = static_cast<int>(env::integer("KHUB_CUDA_GEMV_FEATURES", 2, 1, 2));
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
  if (launch_gemv_mma(p, dev, s)) return;
  if (p.m <= 1) return launch_gemv_m<T, 1>(p, dev, s);
  if (p.m <= 2) return launch_gemv_m<T, 2>(p, dev, s);
  if (p.m <= 4) return launch_gemv_m<T, 4>(p, dev, s);
  launch_gemv_m<T, 8>(p, dev, s);
}

bool gemv_switched_off() {
  static const bool off = !env::flag("KHUB_CUDA_GEMV", true);
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
