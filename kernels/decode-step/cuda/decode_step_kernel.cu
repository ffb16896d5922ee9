// khub-community/decode-step, CUDA variant: the persistent batch-1 decode-step kernel (sm_90).
//
// One launch of G co-resident blocks (one per SM) runs the whole step as a sequence of phases,
// five per layer (qkv, attention, o, gate/up, down) and the LM head. A phase's work is cut into
// units: matrix-vector tiles of consecutive weight rows (one contiguous run of memory, at most
// kStageBytes) or, for attention, one query head. Unit t of phase ph belongs to block
// (t + off[ph]) % G, where off[ph] counts the units of the phases before, so the bytes each block
// streams over the whole step are balanced to within a tile.
//
// Each block has one producer warp and kConsumerWarps consumer warps. The producer walks the
// block's tiles of every phase in order and copies each into a ring of kStages shared-memory
// stages with one TMA bulk copy (cp.async.bulk, completion on the stage's "full" mbarrier). It
// never waits for the model's data dependencies, only for a free stage, so the weight stream
// runs ahead through phase boundaries: while the consumers wait for a phase's input, the next
// phase's tiles are already landing (weights are constant; only the activations are produced in
// the step).
//
// Dependencies between phases are counters in global memory (sync[ph]: units of phase ph done).
// A consumer block starting phase ph waits until sync[ph - 1] reaches the units of phase ph - 1
// (ld.acquire.gpu, spinning), reads that phase's output (ld.global.cg: L2, never a stale L1
// line), and after its own units stores, a block barrier and a release add publish them. A block
// with no unit in a phase skips it; no block reads a buffer in a phase it does not count in,
// which (with the chain of phases) keeps every buffer's reuse in the next layer race-free. The
// norms are recomputed by every block from the H-wide residual instead of a phase of their own.
// The last block to finish zeroes the counters, so each launch (a CUDA graph replay too) starts
// from zeros.
//
// Numerics follow the per-layer kernels: f32 accumulation, every projection rounded to bf16, the
// residual adds rounded to bf16 (FusedAddRMSNorm), RMSNorm as round(round(x · rstd) · w), q/k norm
// and rotary as the RotaryKVCache kernel, attention softmax in f32.
#include <cuda_bf16.h>

#include <cmath>
#include <cstdlib>
#include <cstring>

#include "decode_step.h"
#include "khub_env.h"

namespace khub_decode_step {
namespace {

using bf16 = __nv_bfloat16;

struct __align__(128) Smem {
  uint8_t ring[kStages][kStageBytes];
  bf16 vec[kMaxWidth];  // the phase's input vector; attention: f32 scores
  float part[2][64];    // per (row, segment) partial dot products, double-buffered per tile
  float red[kConsumerWarps];
  float qf[kMaxHeadDim], kf[kMaxHeadDim], vf[kMaxHeadDim];
  float accw[kConsumerWarps][kMaxHeadDim];
  unsigned long long full[kStages], empty[kStages];
};

// ---- PTX helpers -------------------------------------------------------------------------------

__device__ __forceinline__ uint32_t smem_u32(const void* p) {
  return static_cast<uint32_t>(__cvta_generic_to_shared(p));
}
__device__ __forceinline__ void mbar_init(unsigned long long* bar, uint32_t count) {
  asm volatile("mbarrier.init.shared::cta.b64 [%0], %1;" ::"r"(smem_u32(bar)), "r"(count));
}
__device__ __forceinline__ void mbar_expect_tx(unsigned long long* bar, uint32_t bytes) {
  asm volatile("mbarrier.arrive.expect_tx.shared::cta.b64 _, [%0], %1;" ::"r"(smem_u32(bar)),
               "r"(bytes)
               : "memory");
}
__device__ __forceinline__ void mbar_arrive(unsigned long long* bar) {
  asm volatile("mbarrier.arrive.shared::cta.b64 _, [%0];" ::"r"(smem_u32(bar)) : "memory");
}
__device__ __forceinline__ void mbar_wait(unsigned long long* bar, uint32_t parity) {
  uint32_t done = 0;
  while (!done) {
    asm volatile(
        "{\n .reg .pred p;\n mbarrier.try_wait.parity.shared::cta.b64 p, [%1], %2;\n"
        " selp.u32 %0, 1, 0, p;\n}\n"
        : "=r"(done)
        : "r"(smem_u32(bar)), "r"(parity)
        : "memory");
  }
}
__device__ __forceinline__ void bulk_copy(void* dst, const void* src, uint32_t bytes,
                                          unsigned long long* bar) {
  asm volatile(
      "cp.async.bulk.shared::cluster.global.mbarrier::complete_tx::bytes [%0], [%1], %2, [%3];" ::
          "r"(smem_u32(dst)),
      "l"(src), "r"(bytes), "r"(smem_u32(bar))
      : "memory");
}
__device__ __forceinline__ unsigned load_acquire(const unsigned* p) {
  unsigned v;
  asm volatile("ld.acquire.gpu.global.u32 %0, [%1];" : "=r"(v) : "l"(p) : "memory");
  return v;
}
__device__ __forceinline__ void add_release(unsigned* p, unsigned v) {
  asm volatile("red.release.gpu.global.add.u32 [%0], %1;" ::"l"(p), "r"(v) : "memory");
}
// The consumer warps' barrier (the producer warp never joins it).
__device__ __forceinline__ void cbar() {
  asm volatile("bar.sync 1, %0;" ::"n"(kConsumerWarps * 32) : "memory");
}
__device__ __forceinline__ float bf(bf16 v) { return __bfloat162float(v); }
__device__ __forceinline__ float rnd(float v) { return __bfloat162float(__float2bfloat16_rn(v)); }
__device__ __forceinline__ float ldcg_bf(const bf16* p) {
  unsigned short u = __ldcg(reinterpret_cast<const unsigned short*>(p));
  return __bfloat162float(__ushort_as_bfloat16(u));
}
__device__ __forceinline__ float dot8(uint4 a, uint4 b, float acc) {
  const __nv_bfloat162* x = reinterpret_cast<const __nv_bfloat162*>(&a);
  const __nv_bfloat162* y = reinterpret_cast<const __nv_bfloat162*>(&b);
#pragma unroll
  for (int i = 0; i < 4; ++i) {
    const float2 u = __bfloat1622float2(x[i]), v = __bfloat1622float2(y[i]);
    acc = fmaf(u.x, v.x, acc);
    acc = fmaf(u.y, v.y, acc);
  }
  return acc;
}
__device__ __forceinline__ float warp_sum(float v) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}
__device__ __forceinline__ float warp_max(float v) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
  return v;
}
// Sum (or max) over the consumer threads; every consumer thread gets the result.
__device__ float cta_reduce(Smem& s, float v, bool is_max) {
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  v = is_max ? warp_max(v) : warp_sum(v);
  if (lane == 0) s.red[warp] = v;
  cbar();
  float r = s.red[0];
  for (int w = 1; w < kConsumerWarps; ++w) r = is_max ? fmaxf(r, s.red[w]) : r + s.red[w];
  cbar();
  return r;
}

// ---- the schedule --------------------------------------------------------------------------

enum Kind { kQkv = 0, kAttn = 1, kO = 2, kGateUp = 3, kDown = 4, kHead = 5 };

// What a matrix-vector phase streams: n output rows (gate/up: n pairs) of k bf16 each.
struct Gemv {
  const bf16* w;
  int n, k, rows;  // rows: output rows (pairs) per tile
  bool pairs;
};

struct Phase {
  Kind kind;
  int layer, units;
  Gemv g;
};

__device__ __forceinline__ int tile_rows(int k) {
  int r = kStageBytes / (2 * k);
  return r < kMaxTileRows ? r : kMaxTileRows;
}

__device__ Phase phase(const Params& p, int ph) {
  Phase f;
  const int qkv_n = (p.hq + 2 * p.hk) * p.d, qd = p.hq * p.d;
  if (ph == p.layers * kPhasesPerLayer) {
    f.kind = kHead;
    f.layer = p.layers;
    f.g = {static_cast<const bf16*>(p.lm_head), p.vocab, p.hidden, tile_rows(p.hidden), false};
  } else {
    f.layer = ph / kPhasesPerLayer;
    f.kind = static_cast<Kind>(ph % kPhasesPerLayer);
    const int64_t l = f.layer;
    switch (f.kind) {
      case kQkv:
        f.g = {static_cast<const bf16*>(p.qkv_w) + l * qkv_n * p.hidden, qkv_n, p.hidden,
               tile_rows(p.hidden), false};
        break;
      case kO:
        f.g = {static_cast<const bf16*>(p.o_w) + l * p.hidden * qd, p.hidden, qd, tile_rows(qd),
               false};
        break;
      case kGateUp: {
        int r = tile_rows(p.hidden) / 2;
        f.g = {static_cast<const bf16*>(p.gate_up_w) + l * 2 * p.inter * p.hidden, p.inter,
               p.hidden, r < 1 ? 1 : r, true};
        break;
      }
      case kDown:
        f.g = {static_cast<const bf16*>(p.down_w) + l * p.hidden * p.inter, p.hidden, p.inter,
               tile_rows(p.inter), false};
        break;
      default:
        f.g = {nullptr, 0, 0, 1, false};
    }
  }
  f.units = f.kind == kAttn ? p.hq : (f.g.n + f.g.rows - 1) / f.g.rows;
  return f;
}

// ---- the producer --------------------------------------------------------------------------

__device__ void produce(const Params& p, Smem& s) {
  const int G = gridDim.x, b = blockIdx.x, nph = p.layers * kPhasesPerLayer + 1;
  uint32_t it = 0;
  int off = 0;
  for (int ph = 0; ph < nph; ++ph) {
    const Phase f = phase(p, ph);
    if (f.kind != kAttn) {
      for (int t = (b - off + G) % G; t < f.units; t += G, ++it) {
        const int st = it % kStages;
        mbar_wait(&s.empty[st], ((it / kStages) & 1) ^ 1);
        const int r0 = t * f.g.rows;
        const int rows = min(f.g.rows, f.g.n - r0);
        const uint32_t bytes = static_cast<uint32_t>(rows) * f.g.k * 2;
        mbar_expect_tx(&s.full[st], f.g.pairs ? 2 * bytes : bytes);
        bulk_copy(s.ring[st], f.g.w + static_cast<int64_t>(r0) * f.g.k, bytes, &s.full[st]);
        if (f.g.pairs) {
          bulk_copy(s.ring[st] + bytes, f.g.w + static_cast<int64_t>(f.g.n + r0) * f.g.k, bytes,
                    &s.full[st]);
        }
      }
    }
    off = (off + f.units) % G;
  }
}

// ---- the consumers ---------------------------------------------------------------------------

// The phase's input vector into s.vec: the RMSNorm of the residual x with `w`, or a buffer as is.
__device__ void load_input(const Params& p, Smem& s, const bf16* norm_w, const bf16* src, int k) {
  const int tid = threadIdx.x;
  constexpr int kT = kConsumerWarps * 32;
  if (norm_w == nullptr) {
    for (int c = tid * 8; c < k; c += kT * 8) {
      *reinterpret_cast<uint4*>(&s.vec[c]) = __ldcg(reinterpret_cast<const uint4*>(src + c));
    }
    cbar();
    return;
  }
  const bf16* x = static_cast<const bf16*>(p.x);
  float ss = 0.f;
  for (int c = tid; c < k; c += kT) {
    const float v = ldcg_bf(x + c);
    ss += v * v;
  }
  const float rstd = rsqrtf(cta_reduce(s, ss, false) / static_cast<float>(k) + p.eps);
  for (int c = tid; c < k; c += kT) {
    s.vec[c] = __float2bfloat16_rn(rnd(ldcg_bf(x + c) * rstd) * bf(norm_w[c]));
  }
  cbar();
}

// One tile: the dot products of its rows with s.vec, then the phase's epilogue.
__device__ void gemv_tile(const Params& p, Smem& s, const Phase& f, int t, uint32_t it) {
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32, tid = threadIdx.x;
  const int st = it % kStages;
  const int r0 = t * f.g.rows, rows = min(f.g.rows, f.g.n - r0), k = f.g.k;
  const int nr = f.g.pairs ? 2 * rows : rows;  // rows of weights in the stage
  const int segs = nr >= kConsumerWarps ? 1 : kConsumerWarps / nr;
  const int seg = k / segs;
  float* part = s.part[it & 1];
  mbar_wait(&s.full[st], (it / kStages) & 1);
  const bf16* tile = reinterpret_cast<const bf16*>(s.ring[st]);
  for (int item = warp; item < nr * segs; item += kConsumerWarps) {
    const int r = item / segs, c0 = (item % segs) * seg;
    const bf16* wr = tile + static_cast<int64_t>(r) * k;
    float acc = 0.f;
#pragma unroll 4
    for (int c = c0 + lane * 8; c < c0 + seg; c += 256) {
      acc = dot8(*reinterpret_cast<const uint4*>(wr + c),
                 *reinterpret_cast<const uint4*>(&s.vec[c]), acc);
    }
    acc = warp_sum(acc);
    if (lane == 0) part[item] = acc;
  }
  __syncwarp();
  if (lane == 0) mbar_arrive(&s.empty[st]);
  cbar();
  if (tid >= rows) return;
  auto total = [&](int r) {
    float v = 0.f;
    for (int i = 0; i < segs; ++i) v += part[r * segs + i];
    return v;
  };
  const int row = r0 + tid;
  bf16* scratch = static_cast<bf16*>(p.scratch);
  const int qkv_n = (p.hq + 2 * p.hk) * p.d;
  switch (f.kind) {
    case kQkv:
      scratch[row] = __float2bfloat16_rn(total(tid));
      break;
    case kGateUp: {
      const float g = rnd(total(tid)), u = rnd(total(rows + tid));
      scratch[qkv_n + p.hq * p.d + row] = __float2bfloat16_rn(g / (1.0f + __expf(-g)) * u);
      break;
    }
    case kO:
    case kDown: {
      bf16* x = static_cast<bf16*>(p.x);
      x[row] = __float2bfloat16_rn(ldcg_bf(x + row) + rnd(total(tid)));
      break;
    }
    case kHead:
      static_cast<bf16*>(p.logits)[row] = __float2bfloat16_rn(total(tid));
      break;
    default:
      break;
  }
}

// q/k norm (when given) and rotary of one head row in s.qf / s.kf (threads < D), in place.
template <int D>
__device__ void norm_rope(const Params& p, Smem& s, float* v, const bf16* w) {
  const int tid = threadIdx.x;
  float y = tid < D ? v[tid] : 0.f;
  if (w != nullptr) {
    const float rstd = rsqrtf(cta_reduce(s, y * y, false) / static_cast<float>(D) + p.eps);
    if (tid < D) y = rnd(rnd(y * rstd) * bf(w[tid]));
    if (tid < D) v[tid] = y;
  }
  cbar();
  float out = y;
  if (tid < D && tid < 2 * p.half) {
    const bool first = tid < p.half;
    const int j = first ? tid : tid - p.half;
    const float partner = v[first ? tid + p.half : tid - p.half];
    out = rnd(y * p.cos[j] + (first ? -1.f : 1.f) * partner * p.sin[j]);
  } else if (tid < D) {
    out = rnd(y);
  }
  cbar();
  if (tid < D) v[tid] = out;
  cbar();
}

// Attention of query head u of layer l over the cache and the step's own key and value.
template <int D>
__device__ void attention(const Params& p, Smem& s, int l, int u) {
  constexpr int E = D / 32;
  const int tid = threadIdx.x, warp = tid / 32, lane = tid % 32;
  const int group = p.hq / p.hk, g = u / group;
  const bf16* qkv = static_cast<const bf16*>(p.scratch);
  if (tid < D) {
    s.qf[tid] = ldcg_bf(qkv + u * D + tid);
    s.kf[tid] = ldcg_bf(qkv + (p.hq + g) * D + tid);
    s.vf[tid] = ldcg_bf(qkv + (p.hq + p.hk + g) * D + tid);
  }
  cbar();
  const bf16* qn = p.qk_norms ? static_cast<const bf16*>(p.qk_norms) + int64_t{l} * 2 * D : nullptr;
  norm_rope<D>(p, s, s.qf, qn);
  norm_rope<D>(p, s, s.kf, qn ? qn + D : nullptr);
  const int n = p.seqs[3], pos = n - 1, row = p.rows[0];
  const int64_t head_stride = int64_t{p.hk} * D;
  bf16* kc = static_cast<bf16*>(p.kv) + (int64_t{l} * 2) * p.cache_rows * head_stride + g * D;
  bf16* vc = kc + p.cache_rows * head_stride;
  if (u % group == 0 && tid < D) {
    kc[int64_t{row} * head_stride + tid] = __float2bfloat16_rn(s.kf[tid]);
    vc[int64_t{row} * head_stride + tid] = __float2bfloat16_rn(s.vf[tid]);
  }
  const int64_t base = int64_t{row} - pos;  // the cache row of position 0
  float* sc = reinterpret_cast<float*>(s.vec);
  constexpr int kChunk = kMaxWidth / 2;
  float m = -INFINITY, lsum = 0.f, acc[E];
#pragma unroll
  for (int e = 0; e < E; ++e) acc[e] = 0.f;
  for (int c0 = 0; c0 < n; c0 += kChunk) {
    const int cn = min(kChunk, n - c0);
    float lmax = -INFINITY;
    for (int j = tid; j < cn; j += kConsumerWarps * 32) {
      const int pj = c0 + j;
      float dot = 0.f;
      if (pj == pos) {
#pragma unroll 8
        for (int i = 0; i < D; ++i) dot = fmaf(s.qf[i], s.kf[i], dot);
      } else {
        const uint4* kr = reinterpret_cast<const uint4*>(kc + (base + pj) * head_stride);
#pragma unroll
        for (int i = 0; i < D / 8; ++i) {
          const uint4 kv = kr[i];
          const __nv_bfloat162* k2 = reinterpret_cast<const __nv_bfloat162*>(&kv);
#pragma unroll
          for (int e = 0; e < 4; ++e) {
            const float2 kf = __bfloat1622float2(k2[e]);
            dot = fmaf(s.qf[i * 8 + 2 * e], kf.x, dot);
            dot = fmaf(s.qf[i * 8 + 2 * e + 1], kf.y, dot);
          }
        }
      }
      sc[j] = dot * p.scale;
      lmax = fmaxf(lmax, sc[j]);
    }
    const float m_new = fmaxf(m, cta_reduce(s, lmax, true));
    const float alpha = m == -INFINITY ? 0.f : __expf(m - m_new);
    float ps = 0.f;
    for (int j = tid; j < cn; j += kConsumerWarps * 32) {
      const float e = __expf(sc[j] - m_new);
      sc[j] = e;
      ps += e;
    }
    lsum = lsum * alpha + cta_reduce(s, ps, false);
#pragma unroll
    for (int e = 0; e < E; ++e) acc[e] *= alpha;
    for (int j = warp; j < cn; j += kConsumerWarps) {
      const int pj = c0 + j;
      const float pr = sc[j];
      if (pj == pos) {
#pragma unroll
        for (int e = 0; e < E; ++e) acc[e] = fmaf(pr, s.vf[lane * E + e], acc[e]);
      } else {
        const bf16* vr = vc + (base + pj) * head_stride + lane * E;
#pragma unroll
        for (int e = 0; e < E; ++e) acc[e] = fmaf(pr, bf(vr[e]), acc[e]);
      }
    }
    m = m_new;
    cbar();  // the next chunk rewrites the scores
  }
#pragma unroll
  for (int e = 0; e < E; ++e) s.accw[warp][lane * E + e] = acc[e];
  cbar();
  if (tid < D) {
    float o = 0.f;
    for (int w = 0; w < kConsumerWarps; ++w) o += s.accw[w][tid];
    bf16* out = static_cast<bf16*>(p.scratch) + (p.hq + 2 * p.hk) * D;
    out[u * D + tid] = __float2bfloat16_rn(o / lsum);
  }
  cbar();
}

__device__ void consume(const Params& p, Smem& s) {
  const int G = gridDim.x, b = blockIdx.x, nph = p.layers * kPhasesPerLayer + 1;
  const int tid = threadIdx.x;
  uint32_t it = 0;
  int off = 0, prev_units = 0;
  const bf16* norms = static_cast<const bf16*>(p.norms);
  const bf16* scratch = static_cast<const bf16*>(p.scratch);
  const int qkv_n = (p.hq + 2 * p.hk) * p.d, qd = p.hq * p.d;
  for (int ph = 0; ph < nph; ++ph) {
    const Phase f = phase(p, ph);
    const int first = (b - off + G) % G;
    if (first < f.units) {
      if (ph > 0 && tid == 0) {
        while (load_acquire(p.sync + ph - 1) < static_cast<unsigned>(prev_units)) {
        }
      }
      cbar();
      const int64_t l = f.layer;
      switch (f.kind) {
        case kQkv:
          load_input(p, s, norms + l * 2 * p.hidden, nullptr, p.hidden);
          break;
        case kO:
          load_input(p, s, nullptr, scratch + qkv_n, qd);
          break;
        case kGateUp:
          load_input(p, s, norms + (l * 2 + 1) * p.hidden, nullptr, p.hidden);
          break;
        case kDown:
          load_input(p, s, nullptr, scratch + qkv_n + qd, p.inter);
          break;
        case kHead:
          load_input(p, s, static_cast<const bf16*>(p.final_norm), nullptr, p.hidden);
          break;
        default:
          break;
      }
      unsigned done = 0;
      for (int t = first; t < f.units; t += G, ++done) {
        if (f.kind == kAttn) {
          if (p.d == 64)
            attention<64>(p, s, f.layer, t);
          else
            attention<128>(p, s, f.layer, t);
        } else {
          gemv_tile(p, s, f, t, it++);
        }
      }
      cbar();
      if (tid == 0) {
        __threadfence();
        add_release(p.sync + ph, done);
      }
    }
    prev_units = f.units;
    off = (off + f.units) % G;
  }
}

__global__ void __launch_bounds__(kThreads, 1) decode_step_kernel(Params p) {
  extern __shared__ __align__(128) uint8_t smem_raw[];
  Smem& s = *reinterpret_cast<Smem*>(smem_raw);
  const int warp = threadIdx.x / 32;
  if (threadIdx.x == 0) {
    for (int i = 0; i < kStages; ++i) {
      mbar_init(&s.full[i], 1);
      mbar_init(&s.empty[i], kConsumerWarps);
    }
    asm volatile("fence.mbarrier_init.release.cluster;" ::: "memory");
  }
  __syncthreads();
  if (warp == kConsumerWarps) {
    if (threadIdx.x % 32 == 0) produce(p, s);
    __syncwarp();
  } else {
    consume(p, s);
  }
  __syncthreads();
  if (threadIdx.x == 0) {
    const int nph = p.layers * kPhasesPerLayer + 1;
    __threadfence();
    if (atomicAdd(p.sync + nph, 1u) == gridDim.x - 1) {
      for (int i = 0; i < nph; ++i) atomicExch(p.sync + i, 0u);
      __threadfence();
      atomicExch(p.sync + nph, 0u);
    }
  }
}

// Read once (khub_env's rule: 0/false/off/no turn it off).
bool cooperative() {
  static const bool on = khub_env::flag("KHUB_DECODE_STEP_COOPERATIVE", true);
  return on;
}

}  // namespace

int grid_blocks(int limit, int* blocks_per_sm) {
  int dev = 0, sms = 0;
  *blocks_per_sm = 0;
  if (cudaGetDevice(&dev) != cudaSuccess ||
      cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, dev) != cudaSuccess)
    return 0;
  const size_t smem = sizeof(Smem);
  if (cudaFuncSetAttribute(decode_step_kernel, cudaFuncAttributeMaxDynamicSharedMemorySize,
                           static_cast<int>(smem)) != cudaSuccess ||
      cudaOccupancyMaxActiveBlocksPerMultiprocessor(blocks_per_sm, decode_step_kernel, kThreads,
                                                    smem) != cudaSuccess)
    return 0;
  const int most = sms * *blocks_per_sm;
  return limit > 0 && limit < most ? limit : most;
}

cudaError_t launch_decode_step(const Params& p, int blocks, cudaStream_t stream) {
  cudaLaunchConfig_t cfg = {};
  cfg.gridDim = dim3(blocks);
  cfg.blockDim = dim3(kThreads);
  cfg.dynamicSmemBytes = sizeof(Smem);
  cfg.stream = stream;
  cudaLaunchAttribute attr[1];
  attr[0].id = cudaLaunchAttributeCooperative;
  attr[0].val.cooperative = 1;
  cfg.attrs = attr;
  cfg.numAttrs = cooperative() ? 1 : 0;
  return cudaLaunchKernelEx(&cfg, decode_step_kernel, p);
}

}  // namespace khub_decode_step
