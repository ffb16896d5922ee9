// khub-community/rmsnorm, CUDA variant: RMSNorm, GemmaRMSNorm (scale 1 + weight) and fused
// residual-add + RMSNorm, forward and backward (docs/layer-contracts.md). Memory-bound: each row is
// read once and written once with 16-byte accesses; sums in f32.
// Forward:
//   hidden <= 256 vectors and at most kFewRows rows (decode): one block per row, one vector per
//     thread (latency: short per-thread chains);
//   hidden <= 256 vectors (2048 bf16/f16, 1024 f32): one warp per row, the row held in registers
//     (VPT vectors per lane), a shuffle reduction, no shared memory and no second read;
//   wider rows: one block per row, two passes (the second re-reads the row from L1/L2).
// Backward (signatures as the CPU variant's, kernels/rmsnorm/cpu/rmsnorm_binding.cc): rows are cut
// into at most kMaxGroups groups of consecutive rows, one block per group. Per row, pass 1 sums
// x^2 and g * w' * x (w' = w or 1 + w) over the block, pass 2 writes
// grad_x = rstd * g * w' - x * rstd^3 * sum(g * w' * x) / H (fused: + grad_residual, stored to
// grad_residual too) and adds g * x * rstd to the thread's grad_weight sums: in registers when the
// row has at most 8 vectors per thread, else in the group's row of the workspace. Each group writes
// its f32 sums to its workspace row [groups, H]; a second kernel adds the rows in group order, so
// grad_weight does not depend on scheduling (no atomics) and the functions stay deterministic.
// Unaligned pointers or a hidden size that is not a multiple of the vector use 1-element accesses.
// Numerics as HF: LlamaRMSNorm rounds x * rstd to the dtype before multiplying by weight;
// Gemma3RMSNorm multiplies by (1 + weight) in f32; the fused residual is rounded once to the dtype.
// The backward treats LlamaRMSNorm's intermediate rounding as the identity (as autograd does).
#include <cstdlib>

#include "../rmsnorm_manifest.h"
#include "khub/kernel_manifest.h"
#include "khub_cuda/abi_cuda.cuh"
#include "khub_env.h"

namespace khub_rmsnorm_cuda {
namespace {

using khub_cuda::Call;
using khub_cuda::ElemType;
using khub_cuda::from_f32;
using khub_cuda::load_vec;
using khub_cuda::round_to;
using khub_cuda::store_vec;
using khub_cuda::to_f32;
using khub_cuda::Vec;

enum class Scale { kWeight, kOnePlusWeight };

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

__device__ __forceinline__ float warp_sum(float v) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
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
  const khub_value* eps = c.attr("eps", KHUB_VALUE_FLOAT);
  if (eps == nullptr) return c.status();
  if (!std::isfinite(eps->v.f) || eps->v.f < 0) {
    c.fail(KHUB_STATUS_INVALID_ARGUMENT, "attribute eps is %g, expected a finite value >= 0",
           eps->v.f);
    return c.status();
  }
  if (hidden > (int64_t{1} << 30) || (hidden > 0 && c.numel(X) / hidden > 0x7fffffffLL)) {
    c.fail(KHUB_STATUS_UNSUPPORTED, "x is too large (%lld elements)",
           static_cast<long long>(c.numel(X)));
    return c.status();
  }
  Params p{c.data(X),
           fused ? c.data(R) : nullptr,
           c.data(W),
           c.data(O),
           hidden > 0 ? c.numel(X) / hidden : 0,
           static_cast<int>(hidden),
           static_cast<float>(eps->v.f)};
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

// ---- backward ----------------------------------------------------------------------------------

// At most this many row groups: enough blocks to fill a GPU several times over, a workspace of
// kMaxGroups x hidden f32 (8 MiB at hidden 4096).
constexpr int64_t kMaxGroups = 512;

struct BackwardPlan {
  int64_t rows_per_group = 1;
  int64_t groups = 0;
  uint64_t workspace_bytes = 0;  // groups * hidden * sizeof(float)
};

BackwardPlan plan_backward(int64_t rows, int64_t hidden) {
  BackwardPlan plan;
  if (rows <= 0 || hidden <= 0) return plan;
  plan.rows_per_group = (rows + kMaxGroups - 1) / kMaxGroups;
  plan.groups = (rows + plan.rows_per_group - 1) / plan.rows_per_group;
  plan.workspace_bytes = static_cast<uint64_t>(plan.groups * hidden) * sizeof(float);
  return plan;
}

struct BackwardParams {
  const void* x;  // the normalized input: x, or for the fused op the residual the forward left
  const void* weight;
  const void* grad_out;
  void* grad_residual;  // fused only: in dL/d residual_out, out dL/d residual_in
  void* grad_x;
  float* partials;  // workspace [groups, hidden]
  int64_t rows;
  int64_t rows_per_group;
  int hidden;
  float eps;
};

template <Scale S>
__device__ __forceinline__ float applied_scale(float w) {
  if constexpr (S == Scale::kWeight) return w;
  return 1.0f + w;
}

// Sums a and b over the block (blockDim.x a multiple of 32); every thread gets both sums. Safe to
// call again at once: red[32] is rewritten only after the next call's first barrier, which every
// thread reaches after reading it.
__device__ __forceinline__ float2 block_sum2(float a, float b, float2* red) {
  a = warp_sum(a);
  b = warp_sum(b);
  const int warp = threadIdx.x / 32, lane = threadIdx.x & 31;
  if (lane == 0) red[warp] = make_float2(a, b);
  __syncthreads();
  if (warp == 0) {
    float2 t = lane < static_cast<int>(blockDim.x / 32) ? red[lane] : make_float2(0.f, 0.f);
    t.x = warp_sum(t.x);
    t.y = warp_sum(t.y);
    if (lane == 0) red[32] = t;
  }
  __syncthreads();
  return red[32];
}

// One vector (N elements from element idx * N) of a row's pass 2: writes grad_x (and
// grad_residual) and returns the row's grad_weight terms g * x * rstd in dw.
template <typename T, int N, Scale S, bool kFused>
__device__ __forceinline__ void backward_vec(const BackwardParams& p, int64_t off, int idx,
                                             float rstd, float c, float (&dw)[N]) {
  const int64_t e = off + int64_t{idx} * N;
  Vec<T, N> xv = load_vec<T, N>(static_cast<const T*>(p.x) + e);
  Vec<T, N> gv = load_vec<T, N>(static_cast<const T*>(p.grad_out) + e);
  Vec<T, N> wv = load_vec<T, N>(static_cast<const T*>(p.weight) + idx * N), o;
  Vec<T, N> rv;
  if constexpr (kFused) rv = load_vec<T, N>(static_cast<const T*>(p.grad_residual) + e);
#pragma unroll
  for (int j = 0; j < N; ++j) {
    const float xf = to_f32(xv.v[j]), gf = to_f32(gv.v[j]);
    float v = rstd * gf * applied_scale<S>(to_f32(wv.v[j])) - c * xf;
    if constexpr (kFused) v += to_f32(rv.v[j]);
    o.v[j] = from_f32<T>(v);
    dw[j] = gf * xf * rstd;
  }
  if constexpr (kFused) store_vec<T, N>(static_cast<T*>(p.grad_residual) + e, o);
  store_vec<T, N>(static_cast<T*>(p.grad_x) + e, o);
}

// One block per group of rows. VPT > 0: thread t owns vectors t, t + blockDim.x, ... (at most
// VPT of them) and keeps their grad_weight sums in registers; VPT == 0 (wider rows): the sums
// live in the group's workspace row, each element read and written only by the thread that owns
// it. Either way the group's row of p.partials ends up holding its sums.
template <typename T, int N, int VPT, Scale S, bool kFused>
__global__ void __launch_bounds__(VPT == 0 ? 1024 : 256) rms_backward_groups(BackwardParams p) {
  __shared__ float2 red[33];
  const int nvec = p.hidden / N;
  const int64_t row_begin = blockIdx.x * p.rows_per_group;
  const int64_t row_end =
      row_begin + p.rows_per_group < p.rows ? row_begin + p.rows_per_group : p.rows;
  float* part = p.partials + blockIdx.x * int64_t{p.hidden};
  constexpr int K = VPT > 0 ? VPT : 1;
  float acc[K][N];
  if constexpr (VPT > 0) {
#pragma unroll
    for (int k = 0; k < K; ++k)
#pragma unroll
      for (int j = 0; j < N; ++j) acc[k][j] = 0.f;
  } else {
    for (int idx = threadIdx.x; idx < nvec; idx += blockDim.x)
#pragma unroll
      for (int j = 0; j < N; ++j) part[idx * N + j] = 0.f;
  }
  const T* w = static_cast<const T*>(p.weight);
  for (int64_t row = row_begin; row < row_end; ++row) {
    const int64_t off = row * p.hidden;
    const T* x = static_cast<const T*>(p.x) + off;
    const T* g = static_cast<const T*>(p.grad_out) + off;
    float ss = 0.f, dot = 0.f;
    for (int idx = threadIdx.x; idx < nvec; idx += blockDim.x) {
      Vec<T, N> xv = load_vec<T, N>(x + idx * N), gv = load_vec<T, N>(g + idx * N);
      Vec<T, N> wv = load_vec<T, N>(w + idx * N);
#pragma unroll
      for (int j = 0; j < N; ++j) {
        const float xf = to_f32(xv.v[j]);
        ss += xf * xf;
        dot += to_f32(gv.v[j]) * applied_scale<S>(to_f32(wv.v[j])) * xf;
      }
    }
    const float2 sums = block_sum2(ss, dot, red);
    const float hf = static_cast<float>(p.hidden);
    const float rstd = rsqrtf(sums.x / hf + p.eps);
    const float c = sums.y * rstd * rstd * rstd / hf;
    float dw[N];
    if constexpr (VPT > 0) {
#pragma unroll
      for (int k = 0; k < K; ++k) {
        const int idx = threadIdx.x + k * blockDim.x;
        if (idx < nvec) {
          backward_vec<T, N, S, kFused>(p, off, idx, rstd, c, dw);
#pragma unroll
          for (int j = 0; j < N; ++j) acc[k][j] += dw[j];
        }
      }
    } else {
      for (int idx = threadIdx.x; idx < nvec; idx += blockDim.x) {
        backward_vec<T, N, S, kFused>(p, off, idx, rstd, c, dw);
#pragma unroll
        for (int j = 0; j < N; ++j) part[idx * N + j] += dw[j];
      }
    }
  }
  if constexpr (VPT > 0) {
#pragma unroll
    for (int k = 0; k < K; ++k) {
      const int idx = threadIdx.x + k * blockDim.x;
      if (idx < nvec)
#pragma unroll
        for (int j = 0; j < N; ++j) part[idx * N + j] = acc[k][j];
    }
  }
}

// grad_weight[i] = the sum of partials[g][i] over the groups, in group order (zero when there
// are no groups, i.e. no rows).
template <typename T>
__global__ void __launch_bounds__(256)
    rms_backward_weight(const float* partials, int64_t groups, int hidden, T* grad_weight) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= hidden) return;
  float s = 0.f;
#pragma unroll 8
  for (int64_t g = 0; g < groups; ++g) s += partials[g * hidden + i];
  grad_weight[i] = from_f32<T>(s);
}

template <typename T, int N, Scale S, bool kFused>
void launch_backward_groups(const BackwardParams& p, int64_t groups, cudaStream_t stream) {
  const int nvec = p.hidden / N;
  const unsigned blocks = static_cast<unsigned>(groups);
  if (nvec > 8 * 256) {
    rms_backward_groups<T, N, 0, S, kFused><<<blocks, 1024, 0, stream>>>(p);
    return;
  }
  const int threads = nvec >= 256 ? 256 : ((nvec + 31) / 32) * 32;
  const int per_thread = (nvec + threads - 1) / threads;
  if (per_thread <= 1)
    rms_backward_groups<T, N, 1, S, kFused><<<blocks, threads, 0, stream>>>(p);
  else if (per_thread <= 2)
    rms_backward_groups<T, N, 2, S, kFused><<<blocks, threads, 0, stream>>>(p);
  else if (per_thread <= 4)
    rms_backward_groups<T, N, 4, S, kFused><<<blocks, threads, 0, stream>>>(p);
  else
    rms_backward_groups<T, N, 8, S, kFused><<<blocks, threads, 0, stream>>>(p);
}

template <typename T, Scale S, bool kFused>
void launch_backward(const BackwardParams& p, const BackwardPlan& plan, T* grad_weight,
                     cudaStream_t stream) {
  constexpr int N = khub_cuda::kVec16<T>;
  if (plan.groups > 0) {
    const bool vec = p.hidden % N == 0 && khub_cuda::aligned16(p.x) &&
                     khub_cuda::aligned16(p.weight) && khub_cuda::aligned16(p.grad_out) &&
                     khub_cuda::aligned16(p.grad_x) &&
                     (!kFused || khub_cuda::aligned16(p.grad_residual));
    if (vec)
      launch_backward_groups<T, N, S, kFused>(p, plan.groups, stream);
    else
      launch_backward_groups<T, 1, S, kFused>(p, plan.groups, stream);
  }
  rms_backward_weight<T><<<static_cast<unsigned>((p.hidden + 255) / 256), 256, 0, stream>>>(
      p.partials, plan.groups, p.hidden, grad_weight);
}

// Tensor indices of a backward signature (as the CPU variant's).
struct BackwardSlots {
  int x, weight, grad_out, grad_residual, grad_x, grad_weight;
  const char* x_name;
};
constexpr BackwardSlots kPlainSlots{0, 1, 2, -1, 3, 4, "x"};
constexpr BackwardSlots kFusedSlots{0, 1, 2, 3, 4, 5, "residual"};

khub_status backward(const char* fn, Scale scale, bool fused, const khub_call* call,
                     khub_error* error) {
  Call c(fn, call, error);
  const BackwardSlots s = fused ? kFusedSlots : kPlainSlots;
  ElemType tx, tw, tg, tr, tgx, tgw;
  if (!c.check_call(fused ? 6 : 5, 1) || !c.float_tensor(s.x, s.x_name, &tx) ||
      !c.min_rank(s.x, s.x_name, 1))
    return c.status();
  const int64_t hidden = c.dim(s.x, -1);
  if (!c.float_tensor(s.weight, "weight", &tw) || !c.same_type(tw, tx, "weight", s.x_name) ||
      !c.rank(s.weight, "weight", 1) || !c.float_tensor(s.grad_out, "grad_out", &tg) ||
      !c.same_type(tg, tx, "grad_out", s.x_name) ||
      !c.shape_like(s.grad_out, "grad_out", s.x, s.x_name, hidden) ||
      (fused && (!c.float_tensor(s.grad_residual, "grad_residual", &tr) ||
                 !c.same_type(tr, tx, "grad_residual", s.x_name) ||
                 !c.shape_like(s.grad_residual, "grad_residual", s.x, s.x_name, hidden))) ||
      !c.float_tensor(s.grad_x, "grad_x", &tgx) || !c.same_type(tgx, tx, "grad_x", s.x_name) ||
      !c.shape_like(s.grad_x, "grad_x", s.x, s.x_name, hidden) ||
      !c.float_tensor(s.grad_weight, "grad_weight", &tgw) ||
      !c.same_type(tgw, tx, "grad_weight", s.x_name) || !c.rank(s.grad_weight, "grad_weight", 1))
    return c.status();
  if (c.dim(s.weight, 0) != hidden || c.dim(s.grad_weight, 0) != hidden) {
    c.fail(KHUB_STATUS_INVALID_ARGUMENT,
           "weight and grad_weight have %lld and %lld elements, expected %lld (the last dim of %s)",
           static_cast<long long>(c.dim(s.weight, 0)),
           static_cast<long long>(c.dim(s.grad_weight, 0)), static_cast<long long>(hidden),
           s.x_name);
    return c.status();
  }
  const khub_value* eps = c.attr("eps", KHUB_VALUE_FLOAT);
  if (eps == nullptr) return c.status();
  if (!std::isfinite(eps->v.f) || eps->v.f < 0) {
    c.fail(KHUB_STATUS_INVALID_ARGUMENT, "attribute eps is %g, expected a finite value >= 0",
           eps->v.f);
    return c.status();
  }
  if (hidden > (int64_t{1} << 30) || (hidden > 0 && c.numel(s.x) / hidden > 0x7fffffffLL)) {
    c.fail(KHUB_STATUS_UNSUPPORTED, "%s is too large (%lld elements)", s.x_name,
           static_cast<long long>(c.numel(s.x)));
    return c.status();
  }
  const int64_t rows = hidden > 0 ? c.numel(s.x) / hidden : 0;
  const BackwardPlan plan = plan_backward(rows, hidden);
  void* workspace = call->context->workspace;
  const uint64_t workspace_bytes = workspace == nullptr ? 0 : call->context->workspace_bytes;
  if (workspace_bytes < plan.workspace_bytes) {
    c.fail(KHUB_STATUS_INVALID_ARGUMENT,
           "workspace is %llu bytes, expected at least %llu (%lld row groups x hidden %lld x 4 "
           "bytes, as the workspace query returns)",
           static_cast<unsigned long long>(workspace_bytes),
           static_cast<unsigned long long>(plan.workspace_bytes),
           static_cast<long long>(plan.groups), static_cast<long long>(hidden));
    return c.status();
  }
  if (reinterpret_cast<uintptr_t>(workspace) % alignof(float) != 0) {
    c.fail(KHUB_STATUS_INVALID_ARGUMENT, "workspace %p is not 4-byte aligned", workspace);
    return c.status();
  }
  if (hidden == 0) return KHUB_STATUS_OK;
  BackwardParams p{c.data(s.x),
                   c.data(s.weight),
                   c.data(s.grad_out),
                   fused ? c.data(s.grad_residual) : nullptr,
                   c.data(s.grad_x),
                   static_cast<float*>(workspace),
                   rows,
                   plan.rows_per_group,
                   static_cast<int>(hidden),
                   static_cast<float>(eps->v.f)};
  return khub_cuda::dispatch(tx, [&](auto zero) {
    using T = decltype(zero);
    T* gw = static_cast<T*>(c.data(s.grad_weight));
    if (scale == Scale::kOnePlusWeight)
      launch_backward<T, Scale::kOnePlusWeight, false>(p, plan, gw, c.stream());
    else if (fused)
      launch_backward<T, Scale::kWeight, true>(p, plan, gw, c.stream());
    else
      launch_backward<T, Scale::kWeight, false>(p, plan, gw, c.stream());
    return c.launched();
  });
}

// Workspace query of the backward functions: rows and hidden come from the first tensor (x, or
// the fused op's residual).
uint64_t backward_workspace(const khub_call* call) {
  if (call == nullptr || call->tensors == nullptr || call->num_tensors < 1) return 0;
  const DLTensor& x = call->tensors[0];
  if (x.ndim < 1 || x.shape == nullptr) return 0;
  int64_t hidden = x.shape[x.ndim - 1], rows = 1;
  for (int d = 0; d + 1 < x.ndim; ++d) rows *= x.shape[d];
  return plan_backward(rows, hidden).workspace_bytes;
}

// ---- manifest ----------------------------------------------------------------------------------

constexpr const char* kDtypes = "f32,bf16,f16";
constexpr uint32_t kFnFlags = KHUB_FN_CAN_CAPTURE | KHUB_FN_DETERMINISTIC;
constexpr uint32_t kC = KHUB_ARG_CONTIGUOUS;

KHUB_RMSNORM_ARG_TABLES(kC);

}  // namespace
}  // namespace khub_rmsnorm_cuda

using khub_rmsnorm_cuda::Scale;

extern "C" {

#define KHUB_RMSNORM_ENTRY(fn, impl, scale, fused)                                             \
  KHUB_KERNEL_EXPORT khub_status khub_rmsnorm_##fn(const khub_call* call, khub_error* error) { \
    return khub_cuda::guard_boundary(                                                          \
        #fn, error, [&] { return khub_rmsnorm_cuda::impl(#fn, scale, fused, call, error); });  \
  }

KHUB_RMSNORM_ENTRY(rms_norm_forward, forward, Scale::kWeight, false)
KHUB_RMSNORM_ENTRY(rms_norm_backward, backward, Scale::kWeight, false)
KHUB_RMSNORM_ENTRY(gemma_rms_norm_forward, forward, Scale::kOnePlusWeight, false)
KHUB_RMSNORM_ENTRY(gemma_rms_norm_backward, backward, Scale::kOnePlusWeight, false)
KHUB_RMSNORM_ENTRY(fused_add_rms_norm_forward, forward, Scale::kWeight, true)
KHUB_RMSNORM_ENTRY(fused_add_rms_norm_backward, backward, Scale::kWeight, true)

}  // extern "C"

namespace khub_rmsnorm_cuda {
namespace {

KHUB_RMSNORM_FUNCTION_TABLE(kFnFlags, "{\"min_compute_capability\": \"8.0\"}");
constexpr uint32_t kLayerFlags = KHUB_LAYER_HAS_BACKWARD | KHUB_LAYER_CAN_CAPTURE;
KHUB_RMSNORM_LAYER_TABLE(kLayerFlags);

}  // namespace
}  // namespace khub_rmsnorm_cuda

KHUB_DEFINE_KERNEL_MANIFEST("rmsnorm", "cuda", khub_rmsnorm_cuda::kFunctions,
                            khub_rmsnorm_cuda::kLayers)
