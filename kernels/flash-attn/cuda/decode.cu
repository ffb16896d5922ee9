// khub-community/flash-attn, CUDA variant: the decode kernel (few query rows per sequence).
// Memory-bound: each key and value row of the cache is read once per query row (the query rows of
// one sequence run in adjacent blocks, so the second and later reads mostly hit L2).
//   One block per (query row, split, sequence, kv head, chunk of that head's q heads): all the q
//     heads of a GQA group that share a kv head are computed together, so K/V are read once per
//     group, not once per q head. Up to 8 q heads per block; larger groups take several chunks.
//     When the grid would cover at most a quarter of the SMs (a batch-1 step), each block takes
//     one q head instead: the work after the programmatic wait is spread over the group's blocks
//     (docs/cuda-measurements.md, "Decode attention: one q head per block").
//   Inside a block, D/8 lanes share one key (each loads one 16-byte vector of the K and V rows);
//     the 256 (or 128) / (D/8) lane groups take different keys and keep their own running max,
//     sum and output (an online softmax per group, no synchronisation in the key loop; the next
//     tile's rows are loaded while the current one is computed); at the end the groups of a warp
//     merge by shuffles and the warps through shared memory (one barrier).
//   Before the programmatic-dependent wait the block already reads `seqs` and loads its first two
//     tiles of the keys older than the step's own, and sends the next few tiles toward L2: the
//     Attention contract lets it (docs/layer-contracts.md: the kernel launched right before
//     writes only the step's rows). q and the step's own rows are read after the wait. In a
//     decode step this takes the DRAM round trip for the cache off the chain of dependent kernels.
//   Split-KV: when the caller gives a workspace, a query row's visible keys are cut into up to
//     kMaxSplits ranges, one block each; the blocks write unnormalised partials (output, max, sum)
//     into the workspace and a second kernel merges them. The split count depends only on the
//     grid's shape attributes (never on lengths in device memory), so a captured CUDA graph stays
//     valid while sequences grow: each block derives its key range from kv_len at run time, and a
//     block whose range is empty writes an empty partial. Workspace layout: the outputs
//     [kMaxSplits][T][Hq][D], then (max, sum) pairs [kMaxSplits][T][Hq][2]: 16 x T x Hq x (D + 2).
// Scores are kept in log2 units (scale * log2(e) folded into q) and the exponentials use exp2f.
#include <atomic>
#include <cmath>
#include <cstdlib>

#include "flash_attn.h"
#include "khub_cuda/abi_cuda.cuh"
#include "khub_env.h"

namespace khub_flash {
namespace {

using khub_cuda::from_f32;
using khub_cuda::to_f32;
using khub_cuda::Vec;

constexpr int kThreads = 128;  // combine kernel; the decode kernel's block is Tiling::kThreads
constexpr float kLog2e = 1.4426950408889634f;

// Keys per lane group and tile (the next tile is loaded while this one is computed, so twice this
// many are in flight): more for small groups, fewer registers for large ones.
template <int kG>
constexpr int kKeysPerGroup = kG <= 2 ? 4 : 2;
// A split gets at least this many keys: below it the combine launch costs more than it saves.
constexpr int64_t kMinSplitKeys = 256;

// 256 threads (more keys side by side: shorter dependent chains per block, which matters when a
// few blocks per SM are all there is) unless the merge buffer would pass 32 KiB.
template <int D, int kG>
struct Tiling {
  static constexpr int kThreads = kG <= 4 ? 256 : 128;
  static constexpr int kLanes = D / 8;                       // lanes per key
  static constexpr int kGroups = kThreads / kLanes;          // keys side by side
  static constexpr int kTile = kGroups * kKeysPerGroup<kG>;  // keys per loop iteration
};

// Tiles' worth of a block's older keys sent toward L2 before the wait (two more are loaded).
constexpr int kPrefetchTiles = 8;

__device__ __forceinline__ void prefetch_l2(const void* p) {
  asm volatile("prefetch.global.L2 [%0];" ::"l"(p));
}

__device__ __forceinline__ Vec<uint32_t, 4> load16(const void* p) {
  const int4 v = __ldg(static_cast<const int4*>(p));
  return {{static_cast<uint32_t>(v.x), static_cast<uint32_t>(v.y), static_cast<uint32_t>(v.z),
           static_cast<uint32_t>(v.w)}};
}

template <typename T>
__device__ __forceinline__ void unpack8(const Vec<uint32_t, 4>& raw, float* f) {
  const T* e = reinterpret_cast<const T*>(raw.v);
#pragma unroll
  for (int j = 0; j < 8; ++j) f[j] = to_f32(e[j]);
}

// The sequence a block serves, checked against the tensors' sizes (a bad `seqs` row leaves its
// rows unwritten rather than touching memory out of bounds).
struct Row {
  int64_t t = 0;           // row of q / out
  int64_t slot = 0;        // cache slot
  int64_t lo = 0, hi = 0;  // visible keys [lo, hi)
  int64_t fresh = 0;       // the first key this step wrote (kv_len - q_len), within [lo, hi]
  bool valid = false;
};

__device__ __forceinline__ Row query_row(const Params& p, int n, int i) {
  Row r;
  const int32_t* s = p.seqs + 4 * static_cast<int64_t>(n);
  const int64_t slot = s[0], q_start = s[1], q_len = s[2];
  int64_t kv_len = s[3];
  if (i >= q_len || slot < 0 || slot >= p.slots || q_start < 0 || q_start + q_len > p.total_q)
    return r;
  kv_len = kv_len < p.capacity ? kv_len : p.capacity;
  const int64_t pos = kv_len - q_len + i;  // the query's position; it sees keys <= pos
  r.t = q_start + i;
  r.slot = slot;
  r.hi = pos + 1 > 0 ? pos + 1 : 0;
  r.lo = p.window > 0 && pos - p.window + 1 > 0 ? pos - p.window + 1 : 0;
  if (r.lo > r.hi) r.lo = r.hi;
  const int64_t fresh = kv_len - q_len;
  r.fresh = fresh < r.lo ? r.lo : (fresh > r.hi ? r.hi : fresh);
  r.valid = true;
  return r;
}

template <typename T, int D, int kG>
__global__ void __launch_bounds__(Tiling<D, kG>::kThreads, Tiling<D, kG>::kThreads == 256 ? 2 : 1)
    decode_kernel(Params p, int splits, int chunks) {
  using Tl = Tiling<D, kG>;
  constexpr int L = Tl::kLanes, NG = Tl::kGroups, U = kKeysPerGroup<kG>, TILE = Tl::kTile;
  constexpr int NT = Tl::kThreads;
  constexpr int W = NT / 32;  // warps
  __shared__ __align__(16) float s_acc[W][kG][D];
  __shared__ float s_m[W][kG], s_l[W][kG];

  // Block order: query row fastest, so the blocks that read the same keys run together.
  int64_t b = blockIdx.x;
  const int i = static_cast<int>(b % p.max_q_len);
  b /= p.max_q_len;
  const int split = static_cast<int>(b % splits);
  b /= splits;
  const int chunk = static_cast<int>(b % chunks);
  b /= chunks;
  const int hk = static_cast<int>(b % p.hk);
  const int n = static_cast<int>(b / p.hk);
  // Before the programmatic-dependent wait, only what the kernel launched right before this one
  // never writes (the Attention contract): `seqs`, and the cache rows older than the step's own.
  const Row row = query_row(p, n, i);

  const int group = p.hq / p.hk;
  const int h0 = hk * group + chunk * kG;  // first q head of this block
  const int rows = min(kG, group - chunk * kG);
  const int tid = threadIdx.x, grp = tid / L, lane = tid % L;

  // This split's keys: whole tiles, so that short ranges do not leave most lanes idle.
  const int64_t nkeys = row.hi - row.lo;
  int64_t per = (nkeys + splits - 1) / splits;
  per = (per + TILE - 1) / TILE * TILE;
  const int64_t k_begin = row.lo + split * per;
  const int64_t k_end = k_begin + per < row.hi ? k_begin + per : row.hi;
  const int64_t old_end = row.fresh < k_end ? row.fresh : k_end;  // keys before the step's

  const int64_t kstride = static_cast<int64_t>(p.hk) * D;  // between consecutive keys
  const int64_t head_base = (row.slot * p.capacity * p.hk + hk) * D + lane * 8;
  const T* kb = static_cast<const T*>(p.k_cache) + head_base;
  const T* vb = static_cast<const T*>(p.v_cache) + head_base;

  // Two tiles in registers (the one being computed and the next), keys below `end` loaded and
  // the rest zero (zero V: p = 0 must not meet NaN).
  Vec<uint32_t, 4> kr[U], vr[U], kn[U], vn[U];
  auto load_tile = [&](int64_t k0, int64_t end, Vec<uint32_t, 4>* kt, Vec<uint32_t, 4>* vt) {
#pragma unroll
    for (int u = 0; u < U; ++u) {
      const int64_t k = k0 + u * NG + grp;
      if (k < end) {
        kt[u] = load16(kb + k * kstride);
        vt[u] = load16(vb + k * kstride);
      } else {
        kt[u] = vt[u] = Vec<uint32_t, 4>{{0u, 0u, 0u, 0u}};
      }
    }
  };
  // The step's own keys, once the kernel that wrote them has finished.
  auto load_fresh = [&](int64_t k0, Vec<uint32_t, 4>* kt, Vec<uint32_t, 4>* vt) {
#pragma unroll
    for (int u = 0; u < U; ++u) {
      const int64_t k = k0 + u * NG + grp;
      if (k >= old_end && k < k_end) {
        kt[u] = load16(kb + k * kstride);
        vt[u] = load16(vb + k * kstride);
      }
    }
  };
  if (row.valid) {
    load_tile(k_begin, old_end, kr, vr);
    load_tile(k_begin + TILE, old_end, kn, vn);
    // Older keys past those two tiles: toward L2 (a decode step's weights stream has evicted
    // them), so the loop's loads after the wait do not wait for DRAM.
    const int64_t pf_end = min(old_end, k_begin + kPrefetchTiles * TILE);
    for (int64_t k = k_begin + 2 * TILE + grp; k < pf_end; k += NG) {
      prefetch_l2(kb + k * kstride);
      prefetch_l2(vb + k * kstride);
    }
  }
  khub_cuda::pdl_wait();
  khub_cuda::pdl_launch_dependents();
  if (!row.valid) return;
  load_fresh(k_begin, kr, vr);
  load_fresh(k_begin + TILE, kn, vn);

  const bool capped = p.softcap > 0.f;
  const float qscale = capped ? p.scale : p.scale * kLog2e;
  float q[kG][8];
#pragma unroll
  for (int r = 0; r < kG; ++r) {
    if (r < rows) {
      const T* qp = static_cast<const T*>(p.q) + (row.t * p.hq + h0 + r) * D + lane * 8;
      unpack8<T>(load16(qp), q[r]);
#pragma unroll
      for (int j = 0; j < 8; ++j) q[r][j] *= qscale;
    } else {
#pragma unroll
      for (int j = 0; j < 8; ++j) q[r][j] = 0.f;
    }
  }

  float m[kG], l[kG], acc[kG][8];
#pragma unroll
  for (int r = 0; r < kG; ++r) {
    m[r] = -INFINITY;
    l[r] = 0.f;
#pragma unroll
    for (int j = 0; j < 8; ++j) acc[r][j] = 0.f;
  }

  for (int64_t k0 = k_begin; k0 < k_end; k0 += TILE) {
    // The next tile in flight while this one is computed (the first two were loaded above).
    if (k0 != k_begin && k0 + TILE < k_end) load_tile(k0 + TILE, k_end, kn, vn);
    float s[U][kG];
#pragma unroll
    for (int u = 0; u < U; ++u) {
      float kf[8];
      unpack8<T>(kr[u], kf);
#pragma unroll
      for (int r = 0; r < kG; ++r) {
        float a = 0.f;
#pragma unroll
        for (int j = 0; j < 8; ++j) a = fmaf(q[r][j], kf[j], a);
        s[u][r] = a;
      }
    }
#pragma unroll
    for (int o = L / 2; o > 0; o >>= 1)
#pragma unroll
      for (int u = 0; u < U; ++u)
#pragma unroll
        for (int r = 0; r < kG; ++r) s[u][r] += __shfl_xor_sync(0xffffffffu, s[u][r], o);
#pragma unroll
    for (int u = 0; u < U; ++u) {
      const bool valid = k0 + u * NG + grp < k_end;
#pragma unroll
      for (int r = 0; r < kG; ++r) {
        float x = s[u][r];
        if (capped) x = p.softcap * tanhf(x / p.softcap) * kLog2e;
        s[u][r] = valid ? x : -INFINITY;
      }
    }
#pragma unroll
    for (int r = 0; r < kG; ++r) {
      float mx = m[r];
#pragma unroll
      for (int u = 0; u < U; ++u) mx = fmaxf(mx, s[u][r]);
      if (mx == -INFINITY) continue;  // this group has seen no key yet
      const float alpha = exp2f(m[r] - mx);
      float sum = 0.f;
#pragma unroll
      for (int u = 0; u < U; ++u) {
        s[u][r] = exp2f(s[u][r] - mx);
        sum += s[u][r];
      }
      l[r] = l[r] * alpha + sum;
      m[r] = mx;
#pragma unroll
      for (int j = 0; j < 8; ++j) acc[r][j] *= alpha;
    }
#pragma unroll
    for (int u = 0; u < U; ++u) {
      float vf[8];
      unpack8<T>(vr[u], vf);
#pragma unroll
      for (int r = 0; r < kG; ++r) {
        const float pr = m[r] == -INFINITY ? 0.f : s[u][r];
#pragma unroll
        for (int j = 0; j < 8; ++j) acc[r][j] = fmaf(pr, vf[j], acc[r][j]);
      }
    }
#pragma unroll
    for (int u = 0; u < U; ++u) {
      kr[u] = kn[u];
      vr[u] = vn[u];
    }
  }

  // Merge the lane groups: first the groups of a warp with shuffles, then the warps through
  // shared memory, where each output thread weighs the warps itself (one barrier, no serial
  // pass). A group's weight is 2^(m_g - M) per head.
#pragma unroll
  for (int o = L; o < 32; o <<= 1) {
#pragma unroll
    for (int r = 0; r < kG; ++r) {
      const float m2 = __shfl_xor_sync(0xffffffffu, m[r], o);
      const float l2 = __shfl_xor_sync(0xffffffffu, l[r], o);
      const float mx = fmaxf(m[r], m2);
      const float w1 = m[r] == -INFINITY ? 0.f : exp2f(m[r] - mx);
      const float w2 = m2 == -INFINITY ? 0.f : exp2f(m2 - mx);
      l[r] = l[r] * w1 + l2 * w2;
      m[r] = mx;
#pragma unroll
      for (int j = 0; j < 8; ++j)
        acc[r][j] = acc[r][j] * w1 + __shfl_xor_sync(0xffffffffu, acc[r][j], o) * w2;
    }
  }
  const int warp = tid / 32;
  if (tid % 32 < L) {
#pragma unroll
    for (int r = 0; r < kG; ++r) {
      if (lane == 0) {
        s_m[warp][r] = m[r];
        s_l[warp][r] = l[r];
      }
      float4* dst = reinterpret_cast<float4*>(&s_acc[warp][r][lane * 8]);
      dst[0] = make_float4(acc[r][0], acc[r][1], acc[r][2], acc[r][3]);
      dst[1] = make_float4(acc[r][4], acc[r][5], acc[r][6], acc[r][7]);
    }
  }
  __syncthreads();
  const bool direct = splits == 1;
  for (int e = tid; e < rows * D; e += NT) {
    const int r = e / D, d = e % D;
    const int64_t h = h0 + r;
    const float sink = direct && p.sinks != nullptr ? p.sinks[h] * kLog2e : -INFINITY;
    float mx = -INFINITY;
#pragma unroll
    for (int w = 0; w < W; ++w) mx = fmaxf(mx, s_m[w][r]);
    const float top = fmaxf(mx, sink);
    float total = sink == -INFINITY ? 0.f : exp2f(sink - top), o = 0.f;
#pragma unroll
    for (int w = 0; w < W; ++w) {
      const float wt = s_m[w][r] == -INFINITY ? 0.f : exp2f(s_m[w][r] - top);
      total = fmaf(s_l[w][r], wt, total);
      o = fmaf(s_acc[w][r][d], wt, o);
    }
    if (direct) {
      static_cast<T*>(p.out)[(row.t * p.hq + h) * D + d] =
          from_f32<T>(total > 0.f ? o / total : 0.f);
    } else {
      p.workspace[((split * p.total_q + row.t) * p.hq + h) * D + d] = o;
      if (d == 0) {
        float* ml = p.workspace + kMaxSplits * p.total_q * p.hq * D +
                    ((split * p.total_q + row.t) * p.hq + h) * 2;
        ml[0] = mx;
        ml[1] = total;
      }
    }
  }
}

// Merges the split partials: a warp per (query row, q head, 128 outputs), each lane 4 outputs.
// Every partial is loaded before the first is used (one round trip to L2, not one per split).
template <typename T, int D>
__global__ void __launch_bounds__(kThreads) combine_kernel(Params p, int splits) {
  khub_cuda::pdl_wait();
  khub_cuda::pdl_launch_dependents();
  constexpr int kChunks = (D + 127) / 128;
  const int64_t item = int64_t{blockIdx.x} * (kThreads / 32) + threadIdx.x / 32;
  const int lane = threadIdx.x % 32;
  const int chunk = static_cast<int>(item % kChunks);
  const int h = static_cast<int>(item / kChunks % p.hq);
  const int i = static_cast<int>(item / kChunks / p.hq % p.max_q_len);
  const int64_t n = item / kChunks / p.hq / p.max_q_len;
  if (n >= p.num_seqs) return;
  const Row row = query_row(p, static_cast<int>(n), i);
  if (!row.valid) return;
  const int d = chunk * 128 + lane * 4;
  const bool active = d < D;
  const int64_t rows = p.total_q * p.hq;  // (row, head) pairs per split
  const float* o_base = p.workspace + (row.t * p.hq + h) * D + d;
  const float* ml_base = p.workspace + kMaxSplits * rows * D + (row.t * p.hq + h) * 2;
  float4 part[kMaxSplits];
#pragma unroll
  for (int s = 0; s < kMaxSplits; ++s)
    part[s] = active && s < splits ? *reinterpret_cast<const float4*>(o_base + s * rows * D)
                                   : make_float4(0.f, 0.f, 0.f, 0.f);
  const float2 ml = lane < splits ? *reinterpret_cast<const float2*>(ml_base + lane * rows * 2)
                                  : make_float2(-INFINITY, 0.f);
  float mx = ml.x;
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, o));
  const float sink = p.sinks != nullptr ? p.sinks[h] * kLog2e : -INFINITY;
  const float top = fmaxf(mx, sink);
  const float w = ml.x == -INFINITY ? 0.f : exp2f(ml.x - top);
  float total = ml.y * w;
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) total += __shfl_xor_sync(0xffffffffu, total, o);
  if (sink != -INFINITY) total += exp2f(sink - top);
  const float inv = total > 0.f ? 1.f / total : 0.f;
  float4 acc = make_float4(0.f, 0.f, 0.f, 0.f);
#pragma unroll
  for (int s = 0; s < kMaxSplits; ++s) {
    const float ws = __shfl_sync(0xffffffffu, w, s) * inv;
    acc.x = fmaf(part[s].x, ws, acc.x);
    acc.y = fmaf(part[s].y, ws, acc.y);
    acc.z = fmaf(part[s].z, ws, acc.z);
    acc.w = fmaf(part[s].w, ws, acc.w);
  }
  if (active) {
    T* out = static_cast<T*>(p.out) + (row.t * p.hq + h) * D + d;
    out[0] = from_f32<T>(acc.x);
    out[1] = from_f32<T>(acc.y);
    out[2] = from_f32<T>(acc.z);
    out[3] = from_f32<T>(acc.w);
  }
}

int sm_count() {
  static std::atomic<int> cache[64];
  int dev = 0;
  if (cudaGetDevice(&dev) != cudaSuccess || dev < 0) return 132;
  if (dev < 64) {
    if (int c = cache[dev].load(std::memory_order_relaxed)) return c;
  }
  int c = 0;
  if (cudaDeviceGetAttribute(&c, cudaDevAttrMultiProcessorCount, dev) != cudaSuccess || c <= 0)
    c = 132;
  if (dev < 64) cache[dev].store(c, std::memory_order_relaxed);
  return c;
}

bool head_blocks_on() {
  static const bool on = khub_env::flag("KHUB_FLASH_DECODE_HEAD_BLOCKS", true);
  return on;
}

template <typename T, int D, int kG>
cudaError_t launch_typed(const Params& p, cudaStream_t stream) {
  const int group = p.hq / p.hk;
  const int chunks = (group + kG - 1) / kG;
  const int64_t blocks = int64_t{p.num_seqs} * p.hk * chunks * p.max_q_len;
  int splits = 1;
  if (p.workspace != nullptr && p.total_q <= kWorkspaceMaxRows) {
    // Split only while the blocks do not cover the SMs (one block per SM keeps a tile in flight
    // already: docs/cuda-measurements.md, "Decode attention: when to split"), with at least
    // kMinSplitKeys keys per split.
    const int64_t want = int64_t{sm_count()} / blocks;
    const int64_t kv = p.max_kv_len > 0 && p.max_kv_len < p.capacity ? p.max_kv_len : p.capacity;
    const int64_t by_len = (kv + kMinSplitKeys - 1) / kMinSplitKeys;
    int64_t s = want < by_len ? want : by_len;
    splits = static_cast<int>(s < 1 ? 1 : (s > kMaxSplits ? kMaxSplits : s));
  }
  const int64_t grid = blocks * splits;
  if (grid > 0x7fffffffLL) return cudaErrorInvalidConfiguration;
  khub_cuda::launch(decode_kernel<T, D, kG>, static_cast<unsigned>(grid), Tiling<D, kG>::kThreads,
                    0, stream, p, splits, chunks);
  if (splits > 1) {
    const int64_t items = int64_t{p.num_seqs} * p.max_q_len * p.hq * ((D + 127) / 128);
    khub_cuda::launch(combine_kernel<T, D>,
                      static_cast<unsigned>((items + kThreads / 32 - 1) / (kThreads / 32)),
                      kThreads, 0, stream, p, splits);
  }
  return cudaGetLastError();
}

template <typename T, int D>
cudaError_t launch_heads(const Params& p, cudaStream_t stream) {
  const int group = p.hq / p.hk;
  // Few blocks (a batch-1 step: one per kv head): one q head per block instead, so twice or more
  // the SMs share the work after the programmatic wait (the K/V rows a group shares are read by
  // each of its blocks, the second time mostly from L2). KHUB_FLASH_DECODE_HEAD_BLOCKS=0 turns it
  // off (for measurement).
  const int64_t grouped_blocks = int64_t{p.num_seqs} * p.hk * p.max_q_len;
  if (group >= 2 && grouped_blocks * 4 <= sm_count() && head_blocks_on())
    return launch_typed<T, D, 1>(p, stream);
  if (group == 1) return launch_typed<T, D, 1>(p, stream);
  if (group == 2) return launch_typed<T, D, 2>(p, stream);
  if (group <= 4) return launch_typed<T, D, 4>(p, stream);
  return launch_typed<T, D, 8>(p, stream);
}

template <typename T>
cudaError_t launch_dim(const Params& p, cudaStream_t stream) {
  switch (p.d) {
    case 64:
      return launch_heads<T, 64>(p, stream);
    case 128:
      return launch_heads<T, 128>(p, stream);
    case 256:
      return launch_heads<T, 256>(p, stream);
  }
  return cudaErrorInvalidValue;
}

}  // namespace

cudaError_t launch_decode(const Params& p, Dtype dtype, cudaStream_t stream) {
  if (p.num_seqs == 0 || p.max_q_len == 0 || p.total_q == 0) return cudaSuccess;
  if (p.hk <= 0 || p.hq % p.hk != 0) return cudaErrorInvalidValue;
  return dtype == Dtype::kBF16 ? launch_dim<__nv_bfloat16>(p, stream)
                               : launch_dim<__half>(p, stream);
}

}  // namespace khub_flash
