// Row gathers and the KV-cache append on CUDA: one block per row, 16-byte accesses when rows are
// aligned, indices read from device memory (so a captured graph replays with new indices).
#include "ops/cuda_common.cuh"
#include "ops/ops_cuda.h"

namespace khub::ops::cuda {
namespace {

template <typename From, typename To>
__global__ void index_rows_kernel(const From* __restrict__ table, const int32_t* __restrict__ idx,
                                  To* __restrict__ out, int64_t width) {
  pdl_wait();
  pdl_launch_dependents();
  const From* src = table + int64_t{idx[blockIdx.x]} * width;
  To* dst = out + int64_t{blockIdx.x} * width;
  for (int64_t i = threadIdx.x; i < width; i += blockDim.x) dst[i] = from_f32<To>(to_f32(src[i]));
}

// Copies `width` bytes per row; `vec` bytes at a time (16 when every row start is 16-aligned).
template <typename V>
__global__ void kv_append_kernel(char* __restrict__ kc, char* __restrict__ vc,
                                 const char* __restrict__ k, const char* __restrict__ v,
                                 int64_t k_stride, int64_t v_stride,
                                 const int32_t* __restrict__ rows, int64_t width) {
  pdl_wait();
  pdl_launch_dependents();
  const V* ks = reinterpret_cast<const V*>(k + blockIdx.x * k_stride);
  const V* vs = reinterpret_cast<const V*>(v + blockIdx.x * v_stride);
  const int64_t n = width / int64_t{sizeof(V)};
  // The row index and the first vectors are loaded together (one memory latency, not two).
  const int64_t dst = int64_t{rows[blockIdx.x]} * width;
  int64_t i = threadIdx.x;
  V k0{}, v0{};
  if (i < n) {
    k0 = ks[i];
    v0 = vs[i];
  }
  V* kd = reinterpret_cast<V*>(kc + dst);
  V* vd = reinterpret_cast<V*>(vc + dst);
  if (i < n) {
    kd[i] = k0;
    vd[i] = v0;
  }
  for (i += blockDim.x; i < n; i += blockDim.x) {
    kd[i] = ks[i];
    vd[i] = vs[i];
  }
}

// Greedy picks: each row is cut into chunks of kArgmaxChunk columns; stage one finds each chunk's
// first maximum (one block per chunk and row), stage two reduces a row's chunks (one warp per
// row). Both prefer the larger value and, on ties, the smaller index, so the result is the row's
// first maximum; NaN is skipped (a row of only NaN gives 0), as on the host.
constexpr int kArgmaxThreads = 256;
constexpr int64_t kArgmaxChunk = 4096;

struct ArgMax {
  float v;
  int64_t i;  // `none` marks "nothing seen"
};
__device__ __forceinline__ ArgMax better(ArgMax a, ArgMax b, int64_t none) {
  if (a.i == none) return b;
  if (b.i == none) return a;
  if (b.v > a.v || (b.v == a.v && b.i < a.i)) return b;
  return a;
}
__device__ __forceinline__ ArgMax warp_best(ArgMax m, int64_t none) {
  for (int o = 16; o > 0; o >>= 1) {
    ArgMax other{__shfl_xor_sync(0xffffffffu, m.v, o), __shfl_xor_sync(0xffffffffu, m.i, o)};
    m = better(m, other, none);
  }
  return m;
}

template <typename T>
__global__ void argmax_chunks_kernel(const T* __restrict__ x, int64_t cols,
                                     ArgMax* __restrict__ partial) {
  pdl_wait();
  pdl_launch_dependents();
  __shared__ ArgMax warps[kArgmaxThreads / 32];
  const T* row = x + int64_t{blockIdx.y} * cols;
  int64_t begin = int64_t{blockIdx.x} * kArgmaxChunk;
  int64_t end = begin + kArgmaxChunk < cols ? begin + kArgmaxChunk : cols;
  ArgMax m{-INFINITY, cols};
  for (int64_t i = begin + threadIdx.x; i < end; i += kArgmaxThreads) {
    float v = to_f32(row[i]);
    if ((m.i == cols && !isnan(v)) || v > m.v) m = {v, i};
  }
  m = warp_best(m, cols);
  if (threadIdx.x % 32 == 0) warps[threadIdx.x / 32] = m;
  __syncthreads();
  if (threadIdx.x < 32) {
    m = threadIdx.x < kArgmaxThreads / 32 ? warps[threadIdx.x] : ArgMax{-INFINITY, cols};
    m = warp_best(m, cols);
    if (threadIdx.x == 0) partial[int64_t{blockIdx.y} * gridDim.x + blockIdx.x] = m;
  }
}

__global__ void argmax_rows_kernel(const ArgMax* __restrict__ partial, int chunks, int64_t cols,
                                   int32_t* __restrict__ out, int32_t* mirror,
                                   const int32_t* mirror_half) {
  pdl_wait();
  pdl_launch_dependents();
  const ArgMax* p = partial + int64_t{blockIdx.x} * chunks;
  ArgMax m{-INFINITY, cols};
  for (int c = threadIdx.x; c < chunks; c += 32) m = better(m, p[c], cols);
  m = warp_best(m, cols);
  const int32_t pick = m.i == cols ? 0 : static_cast<int32_t>(m.i);
  if (threadIdx.x == 0) out[blockIdx.x] = pick;
  if (threadIdx.x == 1 && mirror != nullptr)
    mirror[(*mirror_half & 1) * gridDim.x + blockIdx.x] = pick;
}

}  // namespace

Tensor argmax_rows(const Tensor& x, Tensor out, const PicksMirror& mirror) {
  if (!out.defined()) out = Tensor::empty({x.size(0)}, DType::kI32, x.device());
  int64_t rows = x.size(0), cols = x.size(1);
  if (rows == 0) return out;
  KHUB_CHECK_ARG(rows <= 65535 && cols <= INT32_MAX, "ops::argmax_rows: ", x.describe(),
                 " exceeds 65535 rows or 2^31 columns on CUDA");
  int64_t chunks = (cols + kArgmaxChunk - 1) / kArgmaxChunk;
  Tensor partial =
      Tensor::empty({rows * chunks * static_cast<int64_t>(sizeof(ArgMax))}, DType::kU8, x.device());
  khub::cuda::DeviceGuard g(x.device());
  cudaStream_t s = khub::cuda::stream_for(x.device());
  auto* pp = static_cast<ArgMax*>(partial.data());
  dispatch_float(x.dtype(), "ops::argmax_rows", [&](auto tag) {
    using T = typename decltype(tag)::type;
    launch_kernel(argmax_chunks_kernel<T>, x.device(),
                  dim3(static_cast<unsigned>(chunks), static_cast<unsigned>(rows)), kArgmaxThreads,
                  0, s, static_cast<const T*>(x.data()), cols, pp);
  });
  launch_kernel(argmax_rows_kernel, x.device(), static_cast<unsigned>(rows), 32, 0, s,
                static_cast<const ArgMax*>(pp), static_cast<int>(chunks), cols,
                out.data_as<int32_t>(), mirror.to,
                mirror.to != nullptr ? mirror.half.data_as<int32_t>() : nullptr);
  return out;
}

Tensor index_rows(const Tensor& table, const Tensor& idx, DType out_dtype) {
  const char* op = "ops::index_rows";
  int64_t n = idx.size(0), width = table.numel() / std::max<int64_t>(table.size(0), 1);
  Shape shape = table.shape();
  shape[0] = n;
  Tensor out = Tensor::empty(shape, out_dtype, table.device());
  if (n == 0 || width == 0) return out;
  khub::cuda::DeviceGuard g(table.device());
  cudaStream_t s = khub::cuda::stream_for(table.device());
  int threads = static_cast<int>(std::min<int64_t>(256, (width + 31) / 32 * 32));
  dispatch_float(table.dtype(), op, [&](auto from_tag) {
    using From = typename decltype(from_tag)::type;
    dispatch_float(out_dtype, op, [&](auto to_tag) {
      using To = typename decltype(to_tag)::type;
      launch_kernel(index_rows_kernel<From, To>, table.device(), static_cast<unsigned>(n), threads,
                    0, s, static_cast<const From*>(table.data()), idx.data_as<int32_t>(),
                    static_cast<To*>(out.data()), width);
    });
  });
  return out;
}

void kv_append(Tensor& k_cache, Tensor& v_cache, const Tensor& k, const Tensor& v,
               const Tensor& rows) {
  int64_t n = rows.size(0);
  if (n == 0) return;
  int64_t esize = static_cast<int64_t>(dtype_size(k_cache.dtype()));
  int64_t width = k_cache.size(2) * k_cache.size(3) * esize;  // bytes per row
  int64_t ks = k.stride(0) * esize, vs = v.stride(0) * esize;
  auto aligned = [](const void* p, int64_t a) { return reinterpret_cast<uintptr_t>(p) % a == 0; };
  bool vec16 = width % 16 == 0 && ks % 16 == 0 && vs % 16 == 0 && aligned(k.data(), 16) &&
               aligned(v.data(), 16) && aligned(k_cache.data(), 16) && aligned(v_cache.data(), 16);
  khub::cuda::DeviceGuard g(k_cache.device());
  cudaStream_t s = khub::cuda::stream_for(k_cache.device());
  auto* kc = static_cast<char*>(k_cache.data());
  auto* vc = static_cast<char*>(v_cache.data());
  auto* kp = static_cast<const char*>(k.data());
  auto* vp = static_cast<const char*>(v.data());
  const int32_t* rp = rows.data_as<int32_t>();
  const Device dev = k_cache.device();
  const auto grid = static_cast<unsigned>(n);
  if (vec16) {
    int threads = static_cast<int>(std::clamp<int64_t>(width / 16, 32, 256));
    launch_kernel(kv_append_kernel<uint4>, dev, grid, threads, 0, s, kc, vc, kp, vp, ks, vs, rp,
                  width);
  } else {
    KHUB_CHECK_ARG(esize == 2 || esize == 4, "ops::kv_append: dtype ", dtype_name(k_cache.dtype()),
                   " on CUDA (supported: f32, bf16, f16)");
    int threads = static_cast<int>(std::clamp<int64_t>(width / esize, 32, 256));
    if (esize == 2) {
      launch_kernel(kv_append_kernel<uint16_t>, dev, grid, threads, 0, s, kc, vc, kp, vp, ks, vs,
                    rp, width);
    } else {
      launch_kernel(kv_append_kernel<uint32_t>, dev, grid, threads, 0, s, kc, vc, kp, vp, ks, vs,
                    rp, width);
    }
  }
}

}  // namespace khub::ops::cuda
