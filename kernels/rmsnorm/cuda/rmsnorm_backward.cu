// khub-community/rmsnorm, CUDA variant: the backward of the three families (rmsnorm_cuda.cuh;
// signatures as the CPU variant's, kernels/rmsnorm/cpu/rmsnorm_binding.cc). Rows are cut into at
// most kMaxGroups groups of consecutive rows, one block per group. Per row, pass 1 sums x^2 and
// g * w' * x (w' = w or 1 + w) over the block, pass 2 writes
// grad_x = rstd * g * w' - x * rstd^3 * sum(g * w' * x) / H (fused: + grad_residual, stored to
// grad_residual too) and adds g * x * rstd to the thread's grad_weight sums: in registers when the
// row has at most 8 vectors per thread, else in the group's row of the workspace. Each group writes
// its f32 sums to its workspace row [groups, H]; a second kernel adds the rows in group order, so
// grad_weight does not depend on scheduling (no atomics) and the functions stay deterministic.
// grad_weight is f32 (the sums as they are) or x's dtype (rounded once).
#include "../rmsnorm_backward_plan.h"
#include "rmsnorm_cuda.cuh"

namespace khub_rmsnorm_cuda {
namespace {

// At most this many row groups (../rmsnorm_backward_plan.h): enough blocks to fill a GPU several
// times over, a workspace of kMaxGroups x hidden f32 (8 MiB at hidden 4096).
constexpr int64_t kMaxGroups = 512;

using khub_rmsnorm_plan::BackwardPlan;

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
// are no groups, i.e. no rows), written as G: f32, or x's dtype (rounded once, at the end).
template <typename G>
__global__ void __launch_bounds__(256)
    rms_backward_weight(const float* partials, int64_t groups, int hidden, G* grad_weight) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= hidden) return;
  float s = 0.f;
#pragma unroll 8
  for (int64_t g = 0; g < groups; ++g) s += partials[g * hidden + i];
  grad_weight[i] = from_f32<G>(s);
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

template <typename T, Scale S, bool kFused, typename G>
void launch_backward(const BackwardParams& p, const BackwardPlan& plan, G* grad_weight,
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
  rms_backward_weight<G><<<static_cast<unsigned>((p.hidden + 255) / 256), 256, 0, stream>>>(
      p.partials, plan.groups, p.hidden, grad_weight);
}

// Tensor indices of a backward signature (as the CPU variant's).
struct BackwardSlots {
  int x, weight, grad_out, grad_residual, grad_x, grad_weight;
  const char* x_name;
};
constexpr BackwardSlots kPlainSlots{0, 1, 2, -1, 3, 4, "x"};
constexpr BackwardSlots kFusedSlots{0, 1, 2, 3, 4, 5, "residual"};

}  // namespace

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
      (tgw != ElemType::kF32 && !c.same_type(tgw, tx, "grad_weight", s.x_name)) ||
      !c.rank(s.grad_weight, "grad_weight", 1))
    return c.status();
  if (c.dim(s.weight, 0) != hidden || c.dim(s.grad_weight, 0) != hidden) {
    c.fail(KHUB_STATUS_INVALID_ARGUMENT,
           "weight and grad_weight have %lld and %lld elements, expected %lld (the last dim of %s)",
           static_cast<long long>(c.dim(s.weight, 0)),
           static_cast<long long>(c.dim(s.grad_weight, 0)), static_cast<long long>(hidden),
           s.x_name);
    return c.status();
  }
  float eps;
  if (!read_eps(c, &eps) || !fits_int_indexing(c, s.x, s.x_name, hidden)) return c.status();
  const int64_t rows = hidden > 0 ? c.numel(s.x) / hidden : 0;
  const BackwardPlan plan = khub_rmsnorm_plan::plan_backward(rows, hidden, kMaxGroups);
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
                   eps};
  return khub_cuda::dispatch(tx, [&](auto zero) {
    using T = decltype(zero);
    auto go = [&](auto* gw) {
      if (scale == Scale::kOnePlusWeight)
        launch_backward<T, Scale::kOnePlusWeight, false>(p, plan, gw, c.stream());
      else if (fused)
        launch_backward<T, Scale::kWeight, true>(p, plan, gw, c.stream());
      else
        launch_backward<T, Scale::kWeight, false>(p, plan, gw, c.stream());
    };
    if (tgw == ElemType::kF32)
      go(static_cast<float*>(c.data(s.grad_weight)));
    else
      go(static_cast<T*>(c.data(s.grad_weight)));
    return c.launched();
  });
}

uint64_t backward_workspace(const khub_call* call) {
  return khub_rmsnorm_plan::backward_workspace_bytes(call, kMaxGroups);
}

}  // namespace khub_rmsnorm_cuda
