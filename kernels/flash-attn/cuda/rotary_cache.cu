// khub-community/flash-attn, CUDA variant: the `RotaryKVCache` layer (docs/layer-contracts.md):
// what a decoder layer does between its q/k/v projections and attention, in one launch where the
// separate layers take four (q norm, k norm, rotary, cache append). In a decode step these are
// tiny (one token's heads): each launch costs its latency, not its bytes, so fusing them shortens
// the step by three dependent kernels per layer.
//   q     <- rope(norm_q(q))            in place
//   k     <- rope(norm_k(k))            in place, and written to k_cache[rows[t]]
//   v_cache[rows[t]] <- v
// The norms (an RMSNorm over each head, HF's Qwen3 / Gemma3 q_norm and k_norm) run only when the
// weights are given. Numerics are the separate kernels': the norm rounds to the dtype exactly as
// the rmsnorm kernels do (LlamaRMSNorm: x * rstd rounded, then times weight, rounded; Gemma:
// x * rstd * (1 + weight), rounded once), then the rotation in f32, rounded once.
// One warp per (token, head) row, q rows then k rows; a lane holds D/32 consecutive elements.
// The rotation's partner elements come through a per-warp row in shared memory. A k row's warp
// also copies the v row. A cache row index outside the cache leaves that row unwritten.
#include "flash_attn.h"
#include "khub_cuda/abi_cuda.cuh"

namespace khub_flash {
namespace {

using khub_cuda::from_f32;
using khub_cuda::load_vec;
using khub_cuda::round_to;
using khub_cuda::store_vec;
using khub_cuda::to_f32;
using khub_cuda::Vec;

constexpr int kWarps = 4;

template <typename T, int E, bool kNorm, bool kGemma, bool kInterleaved>
__global__ void __launch_bounds__(kWarps * 32) rotary_cache_kernel(CacheParams p) {
  khub_cuda::pdl_wait();
  khub_cuda::pdl_launch_dependents();
  constexpr int D = 32 * E;
  __shared__ float s_row[kWarps][D];
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const int64_t r = int64_t{blockIdx.x} * kWarps + warp;
  const int64_t nq = p.t * p.hq;
  if (r >= nq + p.t * p.hk) return;  // whole warps only: no block-wide barrier below
  const bool is_q = r < nq;
  const int64_t rr = is_q ? r : r - nq;
  const int64_t heads = is_q ? p.hq : p.hk, tok = rr / heads;
  const int i0 = lane * E;

  // Every load first: the row, the weight, this lane's cos/sin, and for k rows v and the index.
  T* x = static_cast<T*>(is_q ? p.q : p.k) + rr * D + i0;
  const Vec<T, E> xv = load_vec<T, E>(x);
  Vec<T, E> wv{}, vv{};
  if constexpr (kNorm) wv = load_vec<T, E>(static_cast<const T*>(is_q ? p.q_w : p.k_w) + i0);
  int32_t row = -1;
  if (!is_q) {
    vv = load_vec<T, E>(static_cast<const T*>(p.v) + rr * D + i0);
    row = p.rows[tok];
  }
  float c[E], s[E];
  const float* cs = p.cos + tok * p.half;
  const float* sn = p.sin + tok * p.half;
#pragma unroll
  for (int e = 0; e < E; ++e) {
    const int i = i0 + e;
    const int j = kInterleaved ? i / 2 : (i < p.half ? i : i - p.half);
    const bool rotated = i < 2 * p.half;
    c[e] = rotated ? cs[j] : 1.f;
    s[e] = rotated ? sn[j] : 0.f;
  }

  float y[E];
#pragma unroll
  for (int e = 0; e < E; ++e) y[e] = to_f32(xv.v[e]);
  if constexpr (kNorm) {
    float ss = 0.f;
#pragma unroll
    for (int e = 0; e < E; ++e) ss += y[e] * y[e];
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) ss += __shfl_xor_sync(0xffffffffu, ss, o);
    const float rstd = rsqrtf(ss / static_cast<float>(D) + p.eps);
#pragma unroll
    for (int e = 0; e < E; ++e) {
      const float w = to_f32(wv.v[e]);
      y[e] =
          kGemma ? round_to<T>(y[e] * rstd * (1.f + w)) : round_to<T>(round_to<T>(y[e] * rstd) * w);
    }
  }
  float* sr = s_row[warp];
#pragma unroll
  for (int e = 0; e < E; ++e) sr[i0 + e] = y[e];
  __syncwarp();
  Vec<T, E> ov;
#pragma unroll
  for (int e = 0; e < E; ++e) {
    const int i = i0 + e;
    // x1 of a pair becomes x1 c - x2 s, x2 becomes x2 c + x1 s: with the partner's sign folded in,
    // every element is y c + sign * partner * s (s = 0 past rotary_dim).
    float partner = 0.f, sign = 0.f;
    if (i < 2 * p.half) {
      const bool first = kInterleaved ? (i % 2 == 0) : i < p.half;
      partner = sr[kInterleaved ? (i ^ 1) : (first ? i + p.half : i - p.half)];
      sign = first ? -1.f : 1.f;
    }
    ov.v[e] = from_f32<T>(y[e] * c[e] + sign * partner * s[e]);
  }
  store_vec<T, E>(x, ov);
  if (!is_q && row >= 0 && row < p.cache_rows) {
    const int64_t off = (int64_t{row} * p.hk + rr % p.hk) * D + i0;
    store_vec<T, E>(static_cast<T*>(p.k_cache) + off, ov);
    store_vec<T, E>(static_cast<T*>(p.v_cache) + off, vv);
  }
}

template <typename T, int E, bool kNorm, bool kGemma>
void launch_layout(const CacheParams& p, cudaStream_t stream) {
  const int64_t rows = p.t * (p.hq + p.hk);
  const auto blocks = static_cast<unsigned>((rows + kWarps - 1) / kWarps);
  if (p.interleaved)
    khub_cuda::launch(rotary_cache_kernel<T, E, kNorm, kGemma, true>, blocks, kWarps * 32, 0,
                      stream, p);
  else
    khub_cuda::launch(rotary_cache_kernel<T, E, kNorm, kGemma, false>, blocks, kWarps * 32, 0,
                      stream, p);
}

template <typename T, int E>
void launch_norm(const CacheParams& p, cudaStream_t stream) {
  if (p.q_w == nullptr)
    launch_layout<T, E, false, false>(p, stream);
  else if (p.gemma)
    launch_layout<T, E, true, true>(p, stream);
  else
    launch_layout<T, E, true, false>(p, stream);
}

template <typename T>
cudaError_t launch_dim(const CacheParams& p, cudaStream_t stream) {
  switch (p.d) {
    case 64:
      launch_norm<T, 2>(p, stream);
      break;
    case 128:
      launch_norm<T, 4>(p, stream);
      break;
    case 256:
      launch_norm<T, 8>(p, stream);
      break;
    default:
      return cudaErrorInvalidValue;
  }
  return cudaGetLastError();
}

}  // namespace

cudaError_t launch_rotary_cache(const CacheParams& p, Dtype dtype, cudaStream_t stream) {
  if (p.t == 0 || p.hq + p.hk == 0) return cudaSuccess;
  return dtype == Dtype::kBF16 ? launch_dim<__nv_bfloat16>(p, stream)
                               : launch_dim<__half>(p, stream);
}

}  // namespace khub_flash
