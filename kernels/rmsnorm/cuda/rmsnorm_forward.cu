// khub-community/rmsnorm, CUDA variant: the forward of the three families (rmsnorm_cuda.cuh).
//   hidden <= 256 vectors and at most kFewRows rows (decode): one block per row, one vector per
//     thread (latency: short per-thread chains);
//   hidden <= 256 vectors (2048 bf16/f16, 1024 f32): one warp per row, the row held in registers
//     (VPT vectors per lane), a shuffle reduction, no shared memory and no second read;
//   wider rows: one block per row, two passes (the second re-reads the row from L1/L2).
#include "khub_env.h"
#include "rmsnorm_cuda.cuh"

namespace khub_rmsnorm_cuda {
namespace {

struct Params {
  const void* x;
  void* residual;  // fused only
  const void* weight;
  void* out;
  int64_t rows;
  int hidden;
  float eps;
};

template <typename T, Scale S>
__device__ __forceinline__ float scaled(float xv, float rstd, float w) {
  if constexpr (S == Scale::kWeight) return round_to<T>(xv * rstd) * w;
  return xv * rstd * (1.0f + w);
}

// One warp per row; lane l holds vectors l, l + 32, ... (VPT of them) in registers.
template <typename T, int N, int VPT, Scale S, bool kFused, bool kEarlyWeight>
__global__ void __launch_bounds__(256) rms_warp(Params p) {
  khub_cuda::pdl_wait();
  khub_cuda::pdl_launch_dependents();
  const int lane = threadIdx.x & 31;
  const int64_t row = blockIdx.x * int64_t{blockDim.x / 32} + threadIdx.x / 32;
  if (row >= p.rows) return;
  const int nvec = p.hidden / N;
  const T* x = static_cast<const T*>(p.x) + row * p.hidden;
  T* res = kFused ? static_cast<T*>(p.residual) + row * p.hidden : nullptr;
  const T* w = static_cast<const T*>(p.weight);
  // Loads are issued before any is used: one memory latency per row instead of one per vector,
  // which is what a one-row decode step waits for. kEarlyWeight loads the weight with x too; the
  // fused norm does that only for a few rows (decode), where the latency is all there is: with
  // x, residual and weight held at once it takes 90 registers instead of 64, which costs
  // bandwidth at many rows (docs/cuda-measurements.md, "RMSNorm early weight loads").
  Vec<T, N> a[VPT], wv[VPT];
#pragma unroll
  for (int k = 0; k < VPT; ++k) {
    const int idx = lane + k * 32;
    if (idx < nvec) {
      a[k] = load_vec<T, N>(x + idx * N);
      if constexpr (kEarlyWeight) wv[k] = load_vec<T, N>(w + idx * N);
    }
  }
  if constexpr (kFused) {
    Vec<T, N> r[VPT];
#pragma unroll
    for (int k = 0; k < VPT; ++k) {
      const int idx = lane + k * 32;
      if (idx < nvec) r[k] = load_vec<T, N>(res + idx * N);
    }
#pragma unroll
    for (int k = 0; k < VPT; ++k) {
      const int idx = lane + k * 32;
      if (idx < nvec) {
#pragma unroll
        for (int j = 0; j < N; ++j) a[k].v[j] = from_f32<T>(to_f32(a[k].v[j]) + to_f32(r[k].v[j]));
        store_vec<T, N>(res + idx * N, a[k]);
      }
    }
  }
  float ss = 0.f;
#pragma unroll
  for (int k = 0; k < VPT; ++k) {
    if (lane + k * 32 < nvec) {
#pragma unroll
      for (int j = 0; j < N; ++j) ss += to_f32(a[k].v[j]) * to_f32(a[k].v[j]);
    }
  }
  ss = warp_sum(ss);
  const float rstd = rsqrtf(ss / static_cast<float>(p.hidden) + p.eps);
  T* out = static_cast<T*>(p.out) + row * p.hidden;
  if constexpr (!kEarlyWeight) {
#pragma unroll
    for (int k = 0; k < VPT; ++k) {
      if (lane + k * 32 < nvec) wv[k] = load_vec<T, N>(w + (lane + k * 32) * N);
    }
  }
#pragma unroll
  for (int k = 0; k < VPT; ++k) {
    const int idx = lane + k * 32;
    if (idx < nvec) {
      Vec<T, N> o;
#pragma unroll
      for (int j = 0; j < N; ++j)
        o.v[j] = from_f32<T>(scaled<T, S>(to_f32(a[k].v[j]), rstd, to_f32(wv[k].v[j])));
      store_vec<T, N>(out + idx * N, o);
    }
  }
}

// A few rows (a decode step): one block per row and one 16-byte vector per thread (hidden / N
// threads, at most 256), so each thread's chain of dependent instructions is one vector long where
// rms_warp's lane works through up to 8; the warps' sums meet in shared memory behind one barrier,
// and every thread adds them in the same order (one rstd per row).
template <typename T, int N, Scale S, bool kFused>
__global__ void __launch_bounds__(256) rms_row(Params p) {
  khub_cuda::pdl_wait();
  khub_cuda::pdl_launch_dependents();
  __shared__ float partial[8];
  const int64_t row = blockIdx.x;
  const int v = threadIdx.x, nvec = p.hidden / N;
  const bool mine = v < nvec;
  const T* x = static_cast<const T*>(p.x) + row * p.hidden + v * N;
  T* res = kFused ? static_cast<T*>(p.residual) + row * p.hidden + v * N : nullptr;
  Vec<T, N> a{}, r{}, wv{};
  if (mine) {
    a = load_vec<T, N>(x);
    if constexpr (kFused) r = load_vec<T, N>(res);
    wv = load_vec<T, N>(static_cast<const T*>(p.weight) + v * N);
  }
  float ss = 0.f;
  if (mine) {
    if constexpr (kFused) {
#pragma unroll
      for (int j = 0; j < N; ++j) a.v[j] = from_f32<T>(to_f32(a.v[j]) + to_f32(r.v[j]));
      store_vec<T, N>(res, a);
    }
#pragma unroll
    for (int j = 0; j < N; ++j) ss += to_f32(a.v[j]) * to_f32(a.v[j]);
  }
  ss = warp_sum(ss);
  if ((threadIdx.x & 31) == 0) partial[threadIdx.x / 32] = ss;
  __syncthreads();
  float total = 0.f;
  for (int i = 0; i < static_cast<int>(blockDim.x / 32); ++i) total += partial[i];
  const float rstd = rsqrtf(total / static_cast<float>(p.hidden) + p.eps);
  if (mine) {
    Vec<T, N> o;
#pragma unroll
    for (int j = 0; j < N; ++j)
      o.v[j] = from_f32<T>(scaled<T, S>(to_f32(a.v[j]), rstd, to_f32(wv.v[j])));
    store_vec<T, N>(static_cast<T*>(p.out) + row * p.hidden + v * N, o);
  }
}

// One block per row, any hidden size: pass 1 sums squares (and writes the fused residual), pass 2
// normalises.
template <typename T, int N, Scale S, bool kFused>
__global__ void __launch_bounds__(1024) rms_block(Params p) {
  khub_cuda::pdl_wait();
  khub_cuda::pdl_launch_dependents();
  __shared__ float partial[32];
  const int64_t row = blockIdx.x;
  const int nvec = p.hidden / N;
  const T* x = static_cast<const T*>(p.x) + row * p.hidden;
  T* res = kFused ? static_cast<T*>(p.residual) + row * p.hidden : nullptr;
  float ss = 0.f;
  for (int idx = threadIdx.x; idx < nvec; idx += blockDim.x) {
    Vec<T, N> a = load_vec<T, N>(x + idx * N);
    if constexpr (kFused) {
      Vec<T, N> r = load_vec<T, N>(res + idx * N);
#pragma unroll
      for (int j = 0; j < N; ++j) r.v[j] = from_f32<T>(to_f32(a.v[j]) + to_f32(r.v[j]));
      store_vec<T, N>(res + idx * N, r);
      a = r;
    }
#pragma unroll
    for (int j = 0; j < N; ++j) ss += to_f32(a.v[j]) * to_f32(a.v[j]);
  }
  ss = warp_sum(ss);
  if ((threadIdx.x & 31) == 0) partial[threadIdx.x / 32] = ss;
  __syncthreads();
  if (threadIdx.x < 32) {
    float t = threadIdx.x < blockDim.x / 32 ? partial[threadIdx.x] : 0.f;
    t = warp_sum(t);
    if (threadIdx.x == 0) partial[0] = t;
  }
  __syncthreads();
  const float rstd = rsqrtf(partial[0] / static_cast<float>(p.hidden) + p.eps);
  const T* src = kFused ? res : x;  // each thread re-reads only what it wrote itself
  const T* w = static_cast<const T*>(p.weight);
  T* out = static_cast<T*>(p.out) + row * p.hidden;
  for (int idx = threadIdx.x; idx < nvec; idx += blockDim.x) {
    Vec<T, N> a = load_vec<T, N>(src + idx * N), wv = load_vec<T, N>(w + idx * N), o;
#pragma unroll
    for (int j = 0; j < N; ++j)
      o.v[j] = from_f32<T>(scaled<T, S>(to_f32(a.v[j]), rstd, to_f32(wv.v[j])));
    store_vec<T, N>(out + idx * N, o);
  }
}

// Up to this many rows a call is latency-bound (decode steps): rms_row.
constexpr int64_t kFewRows = 64;

// KHUB_RMSNORM_FEW_ROWS=0 (for measurement): few rows take rms_warp too.
bool few_rows_off() {
  static const bool off = !khub_env::flag("KHUB_RMSNORM_FEW_ROWS", true);
  return off;
}

// rms_warp with VPT vectors per lane for rows of nvec vectors (nvec <= 256).
template <typename T, int N, Scale S, bool kFused, bool kEarlyWeight>
void launch_warp(const Params& p, int nvec, cudaStream_t stream) {
  const unsigned blocks = static_cast<unsigned>((p.rows + 7) / 8);
  if (nvec <= 32)
    khub_cuda::launch(rms_warp<T, N, 1, S, kFused, kEarlyWeight>, blocks, 256, 0, stream, p);
  else if (nvec <= 64)
    khub_cuda::launch(rms_warp<T, N, 2, S, kFused, kEarlyWeight>, blocks, 256, 0, stream, p);
  else if (nvec <= 128)
    khub_cuda::launch(rms_warp<T, N, 4, S, kFused, kEarlyWeight>, blocks, 256, 0, stream, p);
  else
    khub_cuda::launch(rms_warp<T, N, 8, S, kFused, kEarlyWeight>, blocks, 256, 0, stream, p);
}

template <typename T, Scale S, bool kFused>
void launch(const Params& p, cudaStream_t stream) {
  constexpr int N = khub_cuda::kVec16<T>;
  bool vec = p.hidden % N == 0 && khub_cuda::aligned16(p.x) && khub_cuda::aligned16(p.weight) &&
             khub_cuda::aligned16(p.out) && (!kFused || khub_cuda::aligned16(p.residual));
  if (vec && p.hidden / N <= 256 && p.rows <= kFewRows && !few_rows_off()) {
    const unsigned threads = static_cast<unsigned>((p.hidden / N + 31) / 32 * 32);
    khub_cuda::launch(rms_row<T, N, S, kFused>, static_cast<unsigned>(p.rows), threads, 0, stream,
                      p);
    return;
  }
  if (vec && p.hidden / N <= 256) {
    // The fused norm loads its weight early only for at most one wave of rows (decode).
    if (!kFused || p.rows <= 1024)
      launch_warp<T, N, S, kFused, true>(p, p.hidden / N, stream);
    else
      launch_warp<T, N, S, kFused, false>(p, p.hidden / N, stream);
    return;
  }
  const int nvec = vec ? p.hidden / N : p.hidden;
  int threads = ((nvec + 31) / 32) * 32;
  threads = threads < 128 ? 128 : (threads > 1024 ? 1024 : threads);
  if (vec)
    khub_cuda::launch(rms_block<T, N, S, kFused>, static_cast<unsigned>(p.rows), threads, 0, stream,
                      p);
  else
    khub_cuda::launch(rms_block<T, 1, S, kFused>, static_cast<unsigned>(p.rows), threads, 0, stream,
                      p);
}

}  // namespace

khub_status forward(const char* fn, Scale scale, bool fused, const khub_call* call,
                    khub_error* error) {
  Call c(fn, call, error);
  const int X = 0, R = 1, W = fused ? 2 : 1, O = fused ? 3 : 2;
  ElemType tx, tr, tw, to;
  if (!c.check_call(fused ? 4 : 3, 1) || !c.float_tensor(X, "x", &tx) || !c.min_rank(X, "x", 1))
    return c.status();
  const int64_t hidden = c.dim(X, -1);
  if ((fused && (!c.float_tensor(R, "residual", &tr) || !c.same_type(tr, tx, "residual", "x") ||
                 !c.shape_like(R, "residual", X, "x", hidden))) ||
      !c.float_tensor(W, "weight", &tw) || !c.same_type(tw, tx, "weight", "x") ||
      !c.rank(W, "weight", 1) || !c.float_tensor(O, "out", &to) ||
      !c.same_type(to, tx, "out", "x") || !c.shape_like(O, "out", X, "x", hidden))
    return c.status();
  if (c.dim(W, 0) != hidden) {
    c.fail(KHUB_STATUS_INVALID_ARGUMENT,
           "weight has %lld elements, expected %lld (the last dim of x)",
           static_cast<long long>(c.dim(W, 0)), static_cast<long long>(hidden));
    return c.status();
  }
  float eps;
  if (!read_eps(c, &eps) || !fits_int_indexing(c, X, "x", hidden)) return c.status();
  Params p;
  p.x = c.data(X);
  p.residual = fused ? c.data(R) : nullptr;
  p.weight = c.data(W);
  p.out = c.data(O);
  p.rows = hidden > 0 ? c.numel(X) / hidden : 0;
  p.hidden = static_cast<int>(hidden);
  p.eps = eps;
  if (p.rows == 0 || hidden == 0) return KHUB_STATUS_OK;
  return khub_cuda::dispatch(tx, [&](auto zero) {
    using T = decltype(zero);
    if (scale == Scale::kOnePlusWeight)
      launch<T, Scale::kOnePlusWeight, false>(p, c.stream());
    else if (fused)
      launch<T, Scale::kWeight, true>(p, c.stream());
    else
      launch<T, Scale::kWeight, false>(p, c.stream());
    return c.launched();
  });
}

}  // namespace khub_rmsnorm_cuda
