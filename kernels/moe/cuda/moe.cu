// khub-community/moe, CUDA variant: the `MoE` layer (../moe_signature.h has the signature and the
// workspace layout). x, out and the weights in one dtype (f32, bf16, f16), f32 accumulation.
// Five launches, every size from the shapes and every route from the workspace (no host read, no
// allocation: capturable into a CUDA graph):
//   router_kernel   one block per token: logits (one warp per expert), then its top-k routes
//   sort_kernel     one block: per-expert counts, offsets, GEMM tile offsets, and a stable
//                   placement of the routes by expert (one thread per expert scans the routes)
//   gate_up_kernel  grouped GEMM: 32 permuted rows × 64 gate columns and their 64 up columns per
//                   block, x rows gathered through perm, the gated activation fused; → mid
//   down_kernel     grouped GEMM: 32 rows × 64 columns of mid · downᵀ (+ bias); → expert_out
//   combine_kernel  out[t] = Σ of t's routes in ascending expert order of weight · expert_out
// Intermediate values are rounded to the dtype where the reference rounds them (the gate_up and
// down products, the activation), so bf16 results follow the reference path's.
#include <cmath>
#include <cstring>

#include "../moe_signature.h"
#include "khub_cuda/abi_cuda.cuh"

namespace khub_moe_cuda {
namespace {

using khub_cuda::Call;
using khub_cuda::ElemType;
using khub_cuda::from_f32;
using khub_cuda::round_to;
using khub_cuda::to_f32;
using khub_moe::Arg;

constexpr int kBM = 32, kBN = 64, kBK = 32, kThreads = 256;

struct Params {
  khub_moe::Shape s;
  khub_moe::Attrs at;
  const void *x, *router, *gate_up, *down, *router_bias, *gate_up_bias, *down_bias;
  void* out;
  float *logits, *weight, *mid, *eout;
  int32_t *expert, *offsets, *tiles, *cursor, *perm, *pos;
};

template <typename T>
__global__ void router_kernel(Params p) {
  const int64_t t = blockIdx.x, e = p.s.e, h = p.s.h, k = p.s.k;
  const T* x = static_cast<const T*>(p.x) + t * h;
  const T* rw = static_cast<const T*>(p.router);
  const T* rb = static_cast<const T*>(p.router_bias);
  float* logits = p.logits + t * e;
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32, warps = blockDim.x / 32;
  for (int64_t c = warp; c < e; c += warps) {
    float s = 0.0f;
    for (int64_t i = lane; i < h; i += 32) s += to_f32(x[i]) * to_f32(rw[c * h + i]);
    for (int o = 16; o > 0; o >>= 1) s += __shfl_xor_sync(0xffffffffu, s, o);
    // The reference's router is a linear layer in the activations' dtype.
    if (lane == 0) logits[c] = round_to<T>(s + (rb ? to_f32(rb[c]) : 0.0f));
  }
  __syncthreads();
  if (threadIdx.x != 0) return;
  int32_t* ex = p.expert + t * k;
  float* w = p.weight + t * k;
  float mx = -INFINITY, sum = 0.0f;
  if (!p.at.topk_softmax) {
    for (int64_t c = 0; c < e; ++c) mx = fmaxf(mx, logits[c]);
    for (int64_t c = 0; c < e; ++c) sum += expf(logits[c] - mx);
  }
  // The j-th pick: the largest value not yet picked, the lower index first on ties; softmax
  // probabilities and logits order the experts alike.
  float total = 0.0f;
  for (int j = 0; j < k; ++j) {
    int best = -1;
    for (int64_t c = 0; c < e; ++c) {
      bool taken = false;
      for (int q = 0; q < j; ++q) taken |= ex[q] == c;
      if (!taken && (best < 0 || logits[c] > logits[best])) best = static_cast<int>(c);
    }
    ex[j] = best;
    w[j] = p.at.topk_softmax ? logits[best] : expf(logits[best] - mx) / sum;
    total += w[j];
  }
  if (p.at.topk_softmax) {
    float m0 = w[0], s0 = 0.0f;
    for (int j = 0; j < k; ++j) s0 += w[j] = expf(w[j] - m0);
    for (int j = 0; j < k; ++j) w[j] /= s0;
  } else if (p.at.renormalize) {
    for (int j = 0; j < k; ++j) w[j] /= total;
  }
}

__global__ void sort_kernel(Params p) {
  const int64_t e = p.s.e, tk = p.s.t * p.s.k;
  __shared__ int32_t counts[khub_moe::kMaxExperts];
  for (int64_t c = threadIdx.x; c < e; c += blockDim.x) counts[c] = 0;
  __syncthreads();
  for (int64_t r = threadIdx.x; r < tk; r += blockDim.x) atomicAdd(&counts[p.expert[r]], 1);
  __syncthreads();
  if (threadIdx.x == 0) {
    int32_t at = 0, tiles = 0;
    for (int64_t c = 0; c < e; ++c) {
      p.offsets[c] = at;
      p.tiles[c] = tiles;
      at += counts[c];
      tiles += (counts[c] + kBM - 1) / kBM;
    }
    p.offsets[e] = at;
    p.tiles[e] = tiles;
  }
  __syncthreads();
  // Expert c's routes in token order: every thread reads the same route at the same time.
  for (int64_t c = threadIdx.x; c < e; c += blockDim.x) {
    int32_t at = p.offsets[c];
    for (int64_t r = 0; r < tk; ++r) {
      if (p.expert[r] == c) {
        p.perm[at] = static_cast<int32_t>(r);
        p.pos[r] = at++;
      }
    }
  }
}

// The expert and first permuted row of GEMM tile `tile`; false past the last tile.
__device__ __forceinline__ bool find_tile(const Params& p, int tile, int* expert, int* row0,
                                          int* row_end) {
  if (tile >= p.tiles[p.s.e]) return false;
  int lo = 0, hi = static_cast<int>(p.s.e) - 1;  // the last expert whose first tile <= tile
  while (lo < hi) {
    int mid = (lo + hi + 1) / 2;
    if (p.tiles[mid] <= tile)
      lo = mid;
    else
      hi = mid - 1;
  }
  *expert = lo;
  *row0 = p.offsets[lo] + (tile - p.tiles[lo]) * kBM;
  *row_end = p.offsets[lo + 1];
  return true;
}

template <typename T>
__global__ void gate_up_kernel(Params p) {
  int x_e, row0, row_end;
  if (!find_tile(p, blockIdx.y, &x_e, &row0, &row_end)) return;
  const int64_t h = p.s.h, inter = p.s.inter, k = p.s.k;
  const int64_t col0 = int64_t{blockIdx.x} * kBN;
  const T* x = static_cast<const T*>(p.x);
  const T* w = static_cast<const T*>(p.gate_up) + x_e * 2 * inter * h;
  __shared__ float a[kBM][kBK + 1], g[kBN][kBK + 1], u[kBN][kBK + 1];
  __shared__ int64_t src[kBM];
  if (threadIdx.x < kBM) {
    int r = row0 + threadIdx.x;
    src[threadIdx.x] = r < row_end ? int64_t{p.perm[r] / k} * h : -1;
  }
  const int tx = threadIdx.x % 16, ty = threadIdx.x / 16;  // 4 columns × 2 rows each
  float ag[2][4] = {}, au[2][4] = {};
  for (int64_t k0 = 0; k0 < h; k0 += kBK) {
    __syncthreads();
    for (int i = threadIdx.x; i < kBM * kBK; i += kThreads) {
      int r = i / kBK, c = i % kBK;
      a[r][c] = src[r] >= 0 && k0 + c < h ? to_f32(x[src[r] + k0 + c]) : 0.0f;
    }
    for (int i = threadIdx.x; i < kBN * kBK; i += kThreads) {
      int r = i / kBK, c = i % kBK;
      bool ok = col0 + r < inter && k0 + c < h;
      g[r][c] = ok ? to_f32(w[(col0 + r) * h + k0 + c]) : 0.0f;
      u[r][c] = ok ? to_f32(w[(inter + col0 + r) * h + k0 + c]) : 0.0f;
    }
    __syncthreads();
    for (int c = 0; c < kBK; ++c) {
      float a0 = a[ty * 2][c], a1 = a[ty * 2 + 1][c];
      for (int j = 0; j < 4; ++j) {
        float gv = g[tx * 4 + j][c], uv = u[tx * 4 + j][c];
        ag[0][j] += a0 * gv;
        ag[1][j] += a1 * gv;
        au[0][j] += a0 * uv;
        au[1][j] += a1 * uv;
      }
    }
  }
  const T* bias = static_cast<const T*>(p.gate_up_bias);
  const float limit = p.at.swiglu_limit, alpha = p.at.swiglu_alpha;
  for (int i = 0; i < 2; ++i) {
    const int r = row0 + ty * 2 + i;
    if (r >= row_end) continue;
    for (int j = 0; j < 4; ++j) {
      const int64_t c = col0 + tx * 4 + j;
      if (c >= inter) continue;
      float gv = ag[i][j] + (bias ? to_f32(bias[x_e * 2 * inter + c]) : 0.0f);
      float uv = au[i][j] + (bias ? to_f32(bias[x_e * 2 * inter + inter + c]) : 0.0f);
      gv = round_to<T>(gv);
      uv = round_to<T>(uv);
      float y;
      if (limit > 0.0f) {
        gv = fminf(gv, limit);
        uv = fminf(fmaxf(uv, -limit), limit);
        y = (uv + 1.0f) * (gv / (1.0f + expf(-alpha * gv)));
      } else {
        y = gv / (1.0f + expf(-gv)) * uv;
      }
      p.mid[int64_t{r} * inter + c] = round_to<T>(y);
    }
  }
}

template <typename T>
__global__ void down_kernel(Params p) {
  int x_e, row0, row_end;
  if (!find_tile(p, blockIdx.y, &x_e, &row0, &row_end)) return;
  const int64_t h = p.s.h, inter = p.s.inter;
  const int64_t col0 = int64_t{blockIdx.x} * kBN;
  const T* w = static_cast<const T*>(p.down) + x_e * h * inter;
  __shared__ float a[kBM][kBK + 1], b[kBN][kBK + 1];
  const int tx = threadIdx.x % 16, ty = threadIdx.x / 16;
  float acc[2][4] = {};
  for (int64_t k0 = 0; k0 < inter; k0 += kBK) {
    __syncthreads();
    for (int i = threadIdx.x; i < kBM * kBK; i += kThreads) {
      int r = i / kBK, c = i % kBK;
      a[r][c] = row0 + r < row_end && k0 + c < inter ? p.mid[(row0 + r) * inter + k0 + c] : 0.0f;
    }
    for (int i = threadIdx.x; i < kBN * kBK; i += kThreads) {
      int r = i / kBK, c = i % kBK;
      b[r][c] = col0 + r < h && k0 + c < inter ? to_f32(w[(col0 + r) * inter + k0 + c]) : 0.0f;
    }
    __syncthreads();
    for (int c = 0; c < kBK; ++c) {
      float a0 = a[ty * 2][c], a1 = a[ty * 2 + 1][c];
      for (int j = 0; j < 4; ++j) {
        acc[0][j] += a0 * b[tx * 4 + j][c];
        acc[1][j] += a1 * b[tx * 4 + j][c];
      }
    }
  }
  const T* bias = static_cast<const T*>(p.down_bias);
  for (int i = 0; i < 2; ++i) {
    const int r = row0 + ty * 2 + i;
    if (r >= row_end) continue;
    for (int j = 0; j < 4; ++j) {
      const int64_t c = col0 + tx * 4 + j;
      if (c < h)
        p.eout[int64_t{r} * h + c] =
            round_to<T>(acc[i][j] + (bias ? to_f32(bias[x_e * h + c]) : 0.0f));
    }
  }
}

template <typename T>
__global__ void combine_kernel(Params p) {
  const int64_t t = blockIdx.x, h = p.s.h, k = p.s.k;
  __shared__ int32_t order[khub_moe::kMaxTopK];
  if (threadIdx.x == 0) {
    for (int j = 0; j < k; ++j) order[j] = j;
    for (int j = 1; j < k; ++j)  // insertion sort by expert
      for (int q = j; q > 0 && p.expert[t * k + order[q]] < p.expert[t * k + order[q - 1]]; --q) {
        int32_t tmp = order[q];
        order[q] = order[q - 1];
        order[q - 1] = tmp;
      }
  }
  __syncthreads();
  T* out = static_cast<T*>(p.out) + t * h;
  for (int64_t c = threadIdx.x; c < h; c += blockDim.x) {
    float s = 0.0f;
    for (int j = 0; j < k; ++j) {
      const int64_t r = t * k + order[j];
      s += p.weight[r] * p.eout[int64_t{p.pos[r]} * h + c];
    }
    out[c] = from_f32<T>(s);
  }
}

khub_status forward(const khub_call* call, khub_error* error) {
  Call c("moe_forward", call, error);
  if (!c.check_call(khub_moe::kNumArgs, khub_moe::kNumAttrs)) return c.status();
  Params p{};
  char msg[256];
  if (!khub_moe::read_attrs(call, &p.at, msg, sizeof(msg)) ||
      !khub_moe::check_shapes(call, p.at.top_k, &p.s, msg, sizeof(msg))) {
    c.fail(KHUB_STATUS_INVALID_ARGUMENT, "%s", msg);
    return c.status();
  }
  const char* names[] = {"x",   "router_weight", "gate_up",      "down",
                         "out", "router_bias",   "gate_up_bias", "down_bias"};
  ElemType tx = ElemType::kF32, ta;
  if (!c.float_tensor(Arg::kX, "x", &tx)) return c.status();
  for (int a = 1; a < khub_moe::kNumArgs; ++a) {
    if (a >= Arg::kRouterBias && c.absent(a)) continue;
    if (!c.float_tensor(a, names[a], &ta) || !c.same_type(ta, tx, names[a], "x")) return c.status();
  }
  const khub_moe::Layout l = khub_moe::layout(p.s);
  if (p.s.t == 0) return KHUB_STATUS_OK;
  const int64_t max_tiles = (p.s.t * p.s.k + kBM - 1) / kBM + p.s.e;
  if (max_tiles > 65535 || p.s.t > 0x7fffffff) {
    c.fail(KHUB_STATUS_UNSUPPORTED, "%lld tokens x top_k %lld is more than one call handles",
           static_cast<long long>(p.s.t), static_cast<long long>(p.s.k));
    return c.status();
  }
  const khub_exec_context* ctx = call->context;
  if (ctx->workspace == nullptr || ctx->workspace_bytes < l.bytes) {
    c.fail(KHUB_STATUS_INVALID_ARGUMENT, "workspace has %llu bytes, expected %llu",
           static_cast<unsigned long long>(ctx->workspace_bytes),
           static_cast<unsigned long long>(l.bytes));
    return c.status();
  }
  char* ws = static_cast<char*>(ctx->workspace);
  p.logits = reinterpret_cast<float*>(ws + l.logits);
  p.expert = reinterpret_cast<int32_t*>(ws + l.expert);
  p.weight = reinterpret_cast<float*>(ws + l.weight);
  p.offsets = reinterpret_cast<int32_t*>(ws + l.offsets);
  p.tiles = reinterpret_cast<int32_t*>(ws + l.tiles);
  p.cursor = reinterpret_cast<int32_t*>(ws + l.cursor);
  p.perm = reinterpret_cast<int32_t*>(ws + l.perm);
  p.pos = reinterpret_cast<int32_t*>(ws + l.pos);
  p.mid = reinterpret_cast<float*>(ws + l.mid);
  p.eout = reinterpret_cast<float*>(ws + l.eout);
  p.x = c.data(Arg::kX);
  p.out = c.data(Arg::kOut);
  p.router = c.data(Arg::kRouter);
  p.gate_up = c.data(Arg::kGateUp);
  p.down = c.data(Arg::kDown);
  p.router_bias = c.absent(Arg::kRouterBias) ? nullptr : c.data(Arg::kRouterBias);
  p.gate_up_bias = c.absent(Arg::kGateUpBias) ? nullptr : c.data(Arg::kGateUpBias);
  p.down_bias = c.absent(Arg::kDownBias) ? nullptr : c.data(Arg::kDownBias);
  cudaStream_t s = c.stream();
  return khub_cuda::dispatch(tx, [&](auto zero) {
    using T = decltype(zero);
    const unsigned tiles = static_cast<unsigned>(max_tiles);
    router_kernel<T><<<static_cast<unsigned>(p.s.t), kThreads, 0, s>>>(p);
    sort_kernel<<<1, 1024, 0, s>>>(p);
    gate_up_kernel<T>
        <<<dim3(static_cast<unsigned>((p.s.inter + kBN - 1) / kBN), tiles), kThreads, 0, s>>>(p);
    down_kernel<T>
        <<<dim3(static_cast<unsigned>((p.s.h + kBN - 1) / kBN), tiles), kThreads, 0, s>>>(p);
    combine_kernel<T><<<static_cast<unsigned>(p.s.t), kThreads, 0, s>>>(p);
    return c.launched();
  });
}

}  // namespace
}  // namespace khub_moe_cuda

KHUB_MOE_DEFINE_KERNEL("cuda", khub_moe_cuda, khub_cuda::guard_boundary, "f32,bf16,f16", "same:x",
                       KHUB_ARG_CONTIGUOUS, KHUB_FN_CAN_CAPTURE | KHUB_FN_DETERMINISTIC,
                       KHUB_LAYER_CAN_CAPTURE,
                       "{\"min_compute_capability\": \"8.0\", \"activations\": [\"silu\", "
                       "\"clamped_swiglu\"]}")
