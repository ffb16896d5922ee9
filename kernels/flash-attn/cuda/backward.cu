// khub-community/flash-attn, CUDA variant: the backward of the `Attention` contract
// (docs/layer-contracts.md, `attention_backward`), FlashAttention-2 style on tensor cores
// (mma.sync m16n8k16, bf16/f16 in, f32 accumulate). Four launches on the caller's stream:
//   1. row_dot_kernel: Dd = rowsum(dO ∘ O) per (row, q head), f32 (the Σ_j P dP of the softmax
//      backward, from the forward's output instead of the P·dP row sum);
//   2. lse_kernel: each row's log-sum-exp of its (capped, masked) logits in base-2 units,
//      recomputed with the forward's tiles and online softmax (prefill_common.cuh) but no P·V;
//   3. bwd_kernel: one block per (tile of 64 keys, KV head, sequence); it keeps K, V of its keys
//      in shared memory and walks every query tile of every query head of the KV head's GQA group
//      that can see its keys (causal, window). Per query tile: S = Q Kᵀ and dP = dO Vᵀ, then
//      P = 2^(S' − lse) and dS = P (dP − Dd) (1 − tanh²) in registers, staged to shared memory in
//      the input type; dV += Pᵀ dO and dK += dSᵀ Q accumulate in f32 registers over the whole
//      group (no atomics: the block owns its keys' gradients); dQ += dS K goes to an f32
//      accumulator in the workspace by atomicAdd. Q/dO tiles are double-buffered with cp.async
//      (D = 256: single-buffered, shared memory is short).
//   4. dq_convert_kernel: dq = scale · accumulator, rounded to the input type.
// Gradients: dK, dV are *added* into the f32 caches (dk += scale · dSᵀ Q), rows of the keys each
// sequence has (0 … kv_len − 1) only; dq is written for every row (0 for rows of no sequence).
// Numerics as FlashAttention-2: P and dS are rounded to the input type before their GEMMs, Dd
// comes from the rounded output; all sums in f32. dQ's atomics make the result
// non-deterministic in its last bits.
#include <algorithm>

#include "flash_attn_backward.h"
#include "prefill_common.cuh"

namespace khub_flash {
namespace {

constexpr int kBM = 64, kBN = 64;  // query rows and keys of a tile (both kernels)

template <typename T>
__device__ __forceinline__ float to_f32(T x) {
  if constexpr (std::is_same_v<T, __nv_bfloat16>) {
    return __bfloat162float(x);
  } else {
    return __half2float(x);
  }
}

// One warp per (row, head): Dd[h * T + t] = Σ_d dO · O.
template <typename T>
__global__ void row_dot_kernel(const T* __restrict__ o, const T* __restrict__ dout,
                               float* __restrict__ dd, int64_t total_q, int hq, int d) {
  const int64_t row = int64_t{blockIdx.x} * (blockDim.x / 32) + threadIdx.x / 32;
  const int lane = threadIdx.x % 32;
  if (row >= total_q * hq) return;
  const T* a = o + row * d;
  const T* b = dout + row * d;
  float s = 0.0f;
  for (int c = lane * 8; c < d; c += 256) {
    const uint4 va = *reinterpret_cast<const uint4*>(a + c);
    const uint4 vb = *reinterpret_cast<const uint4*>(b + c);
    const T* pa = reinterpret_cast<const T*>(&va);
    const T* pb = reinterpret_cast<const T*>(&vb);
#pragma unroll
    for (int e = 0; e < 8; ++e) s = fmaf(to_f32(pa[e]), to_f32(pb[e]), s);
  }
#pragma unroll
  for (int m = 16; m > 0; m /= 2) s += __shfl_xor_sync(0xffffffffu, s, m);
  if (lane == 0) dd[int64_t{row % hq} * total_q + row / hq] = s;
}

// lse[h * T + t] in base-2 units (the logits as RowSoftmax scales them: scale·log2e·q·k, or
// softcap·log2e·tanh(scale·q·k / softcap)); +inf for a row with no visible key, so that P = 0.
// 4 warps of 16 rows, q in registers, key tiles double-buffered (the forward's loop, no P·V).
template <typename T, int D>
__global__ void __launch_bounds__(128) lse_kernel(const Params p, float* __restrict__ lse) {
  constexpr int kThreads = 128, kChunks = D / 8;
  extern __shared__ __align__(128) unsigned char smem_raw[];
  T* s_q = reinterpret_cast<T*>(smem_raw);
  T* s_k = s_q + kBM * D;  // 2 stages
  QueryTile<T, D, kBM, kBN> tile;
  if (!tile.init(p)) return;
  const int rows = tile.rows, pos0 = tile.pos0, nb_hi = tile.nb_hi, ntiles = tile.ntiles;
  const int kv_len = tile.kv_len;
  const int tid = threadIdx.x, warp = tid / 32, lane = tid % 32;
  const uint32_t s_q_a = smem_addr(s_q), s_k_a = smem_addr(s_k);
#pragma unroll
  for (int i = 0; i < kBM * kChunks / kThreads; ++i) {
    const int idx = tid + i * kThreads, r = idx / kChunks, c = idx % kChunks;
    const bool ok = r < rows;
    cp_async16(s_q_a + 2 * swz<D>(r, c), tile.q_g + (ok ? r * tile.q_stride + c * 8 : 0), ok);
  }
  auto load_k = [&](int nb, int stage) {
    const int n0 = nb * kBN;
#pragma unroll
    for (int i = 0; i < kBN * kChunks / kThreads; ++i) {
      const int idx = tid + i * kThreads, r = idx / kChunks, c = idx % kChunks;
      const bool ok = n0 + r < kv_len;
      cp_async16(s_k_a + 2 * (stage * kBN * D + swz<D>(r, c)),
                 tile.k_g + (ok ? (n0 + r) * tile.kv_stride + c * 8 : 0), ok);
    }
  };
  if (ntiles > 0) load_k(nb_hi, 0);
  cp_async_commit();
  const int w_row0 = warp * 16;
  const bool warp_active = w_row0 < rows;
  const int w_lo = pos0 + w_row0, w_hi = pos0 + min(w_row0 + 16, rows) - 1;
  RowSoftmax sm(p, w_lo, lane);
  uint32_t q_frag[D / 16][4];
  for (int it = 0; it < ntiles; ++it) {
    const int nb = nb_hi - it, n0 = nb * kBN, stage = it & 1;
    cp_async_wait_all();
    __syncthreads();
    if (it + 1 < ntiles) load_k(nb - 1, stage ^ 1);
    cp_async_commit();
    if (it == 0) {
#pragma unroll
      for (int kk = 0; kk < D / 16; ++kk)
        ldsm_x4(s_q_a + 2 * swz<D>(w_row0 + (lane & 15), kk * 2 + lane / 16), q_frag[kk]);
    }
    if (!warp_active || n0 > w_hi) continue;
    if (tile.window > 0 && w_lo - int64_t{n0 + kBN - 1} >= tile.window) continue;
    const uint32_t k_st = s_k_a + 2 * stage * kBN * D;
    float s[kBN / 8][4];
#pragma unroll
    for (int i = 0; i < kBN / 8; ++i) s[i][0] = s[i][1] = s[i][2] = s[i][3] = 0.0f;
#pragma unroll
    for (int kk = 0; kk < D / 16; ++kk) {
#pragma unroll
      for (int nn = 0; nn < kBN / 16; ++nn) {
        uint32_t b[4];
        ldsm_x4(k_st + 2 * swz<D>(nn * 16 + (lane & 7) + (lane / 16) * 8, kk * 2 + (lane / 8) % 2),
                b);
        mma<T>(s[2 * nn], q_frag[kk], b[0], b[1]);
        mma<T>(s[2 * nn + 1], q_frag[kk], b[2], b[3]);
      }
    }
    float corr[2];
    sm.scores(s, n0, w_hi, corr);
  }
  cp_async_wait_all();
  if (!warp_active) return;
  const int g = lane / 4, t = lane % 4;
#pragma unroll
  for (int r = 0; r < 2; ++r) {
    const float l = quad_sum(sm.l_run[r]);
    const float m = sm.m_run[r];
    const int row = w_row0 + g + 8 * r;
    if (t == 0 && row < rows)
      lse[int64_t{tile.h} * p.total_q + tile.q_start + tile.m0 + row] =
          m == -INFINITY || !(l > 0.0f) ? INFINITY : m + __log2f(l);
  }
}

template <int D>
struct BwdCfg {
  static constexpr int kStages = D == 256 ? 1 : 2;  // Q/dO buffers
};

template <int D>
constexpr size_t bwd_smem_bytes() {
  constexpr size_t st = BwdCfg<D>::kStages;
  return 2 * size_t{kBN} * D * 2 + st * 2 * size_t{kBM} * D * 2 + 2 * size_t{kBM} * kBN * 2 +
         st * 2 * size_t{kBM} * 4;
}

template <typename T, int D>
__global__ void __launch_bounds__(256, 1) bwd_kernel(const BwdParams bp) {
  constexpr int kThreads = 256, kChunks = D / 8, kStages = BwdCfg<D>::kStages;
  const Params& p = bp.fwd;
  extern __shared__ __align__(128) unsigned char smem_raw[];
  T* s_k = reinterpret_cast<T*>(smem_raw);
  T* s_v = s_k + kBN * D;
  T* s_q = s_v + kBN * D;             // [kStages][kBM * D]
  T* s_do = s_q + kStages * kBM * D;  // [kStages][kBM * D]
  T* s_p = s_do + kStages * kBM * D;  // [kBM * kBN], rows = query rows
  T* s_ds = s_p + kBM * kBN;
  float* s_lse = reinterpret_cast<float*>(s_ds + kBM * kBN);  // [kStages][kBM]
  float* s_dd = s_lse + kStages * kBM;

  const int nb = blockIdx.x, kh = blockIdx.y;
  const int32_t* sd = p.seqs + 4 * int64_t{blockIdx.z};
  const int slot = sd[0], q_start = sd[1], q_len = sd[2], kv_len = sd[3];
  const int n0 = nb * kBN;
  if (n0 >= kv_len || q_len <= 0) return;
  const int n1 = min(n0 + kBN, kv_len) - 1;
  const int off = kv_len - q_len;  // position of the sequence's first query row
  // Query rows that see a key of [n0, n1]: pos >= n0 (causal), pos - n1 < window.
  const int i_lo = max(0, n0 - off);
  int i_hi = q_len - 1;
  if (p.window > 0) i_hi = static_cast<int>(min(int64_t{i_hi}, int64_t{n1} + p.window - 1 - off));
  if (i_lo > i_hi) return;
  const int mt_lo = i_lo / kBM, nmt = i_hi / kBM - mt_lo + 1;
  const int group = p.hq / p.hk, ntiles = nmt * group;
  const int64_t q_stride = int64_t{p.hq} * D, kv_stride = int64_t{p.hk} * D;
  const int64_t kv_row0 = (int64_t{slot} * p.capacity + n0) * p.hk + kh;  // in rows of D
  const T* k_g = static_cast<const T*>(p.k_cache) + kv_row0 * D;
  const T* v_g = static_cast<const T*>(p.v_cache) + kv_row0 * D;
  const float* lse_g = bp.workspace + p.total_q * p.hq * D;
  const float* dd_g = lse_g + p.total_q * p.hq;

  const int tid = threadIdx.x, warp = tid / 32, lane = tid % 32, g = lane / 4, t = lane % 4;
  const uint32_t k_a = smem_addr(s_k), v_a = smem_addr(s_v), q_a = smem_addr(s_q);
  const uint32_t do_a = smem_addr(s_do), p_a = smem_addr(s_p), ds_a = smem_addr(s_ds);

#pragma unroll
  for (int i = 0; i < kBN * kChunks / kThreads; ++i) {
    const int idx = tid + i * kThreads, r = idx / kChunks, c = idx % kChunks;
    const bool ok = n0 + r < kv_len;
    const int64_t o = ok ? r * kv_stride + c * 8 : 0;
    cp_async16(k_a + 2 * swz<D>(r, c), k_g + o, ok);
    cp_async16(v_a + 2 * swz<D>(r, c), v_g + o, ok);
  }
  // Tile `it`: query head kh·group + it / nmt, query rows from (mt_lo + it % nmt)·kBM.
  auto load_q = [&](int it, int stage) {
    const int hh = kh * group + it / nmt, m0 = (mt_lo + it % nmt) * kBM;
    const int rows = min(kBM, q_len - m0);
    const int64_t row0 = int64_t{q_start + m0} * p.hq + hh;
    const T* q_g = static_cast<const T*>(p.q) + row0 * D;
    const T* do_g = static_cast<const T*>(bp.dout) + row0 * D;
#pragma unroll
    for (int i = 0; i < kBM * kChunks / kThreads; ++i) {
      const int idx = tid + i * kThreads, r = idx / kChunks, c = idx % kChunks;
      const bool ok = r < rows;
      const int64_t o = ok ? r * q_stride + c * 8 : 0;
      const uint32_t dst = 2 * (stage * kBM * D + swz<D>(r, c));
      cp_async16(q_a + dst, q_g + o, ok);
      cp_async16(do_a + dst, do_g + o, ok);
    }
    const int64_t srow = int64_t{hh} * p.total_q + q_start + m0;
    if (tid < kBM) {
      s_lse[stage * kBM + tid] = tid < rows ? lse_g[srow + tid] : INFINITY;
    } else if (tid < 2 * kBM) {
      const int r = tid - kBM;
      s_dd[stage * kBM + r] = r < rows ? dd_g[srow + r] : 0.0f;
    }
  };
  if constexpr (kStages == 2) load_q(0, 0);
  cp_async_commit();

  const bool softcap = p.softcap > 0.0f;
  const float sl = p.scale * kLog2e, cap_in = softcap ? p.scale / p.softcap : 0.0f;
  const float cap_out = p.softcap * kLog2e;
  // Phase 1 (S, dP): rows qr … qr+15, keys kc … kc+31. Phase 2: keys / rows r2 … r2+15 of
  // dK, dV / dQ, feature columns dc … dc + D/2 − 1.
  const int qr = 16 * (warp % 4), kc = 32 * (warp / 4), r2 = 16 * (warp % 4),
            dc = (D / 2) * (warp / 4);
  float dk[D / 16][4], dv[D / 16][4];
#pragma unroll
  for (int i = 0; i < D / 16; ++i)
#pragma unroll
    for (int e = 0; e < 4; ++e) dk[i][e] = dv[i][e] = 0.0f;

  for (int it = 0; it < ntiles; ++it) {
    const int stage = kStages == 2 ? (it & 1) : 0;
    if constexpr (kStages == 1) {
      load_q(it, 0);
      cp_async_commit();
    }
    cp_async_wait_all();
    // Tile `it` has landed for every thread, and every warp is done with tile it-1.
    __syncthreads();
    if constexpr (kStages == 2) {
      if (it + 1 < ntiles) load_q(it + 1, stage ^ 1);
      cp_async_commit();
    }
    const int hh = kh * group + it / nmt, m0 = (mt_lo + it % nmt) * kBM;
    const int rows = min(kBM, q_len - m0), pos0 = off + m0;
    const uint32_t q_st = q_a + 2 * stage * kBM * D, do_st = do_a + 2 * stage * kBM * D;

    float s[4][4], dp[4][4];
#pragma unroll
    for (int i = 0; i < 4; ++i)
#pragma unroll
      for (int e = 0; e < 4; ++e) s[i][e] = dp[i][e] = 0.0f;
#pragma unroll
    for (int kk = 0; kk < D / 16; ++kk) {
      uint32_t a[4], b[4];
      ldsm_x4(q_st + 2 * swz<D>(qr + (lane & 15), kk * 2 + lane / 16), a);
#pragma unroll
      for (int nn = 0; nn < 2; ++nn) {
        ldsm_x4(
            k_a + 2 * swz<D>(kc + nn * 16 + (lane & 7) + (lane / 16) * 8, kk * 2 + (lane / 8) % 2),
            b);
        mma<T>(s[2 * nn], a, b[0], b[1]);
        mma<T>(s[2 * nn + 1], a, b[2], b[3]);
      }
      ldsm_x4(do_st + 2 * swz<D>(qr + (lane & 15), kk * 2 + lane / 16), a);
#pragma unroll
      for (int nn = 0; nn < 2; ++nn) {
        ldsm_x4(
            v_a + 2 * swz<D>(kc + nn * 16 + (lane & 7) + (lane / 16) * 8, kk * 2 + (lane / 8) % 2),
            b);
        mma<T>(dp[2 * nn], a, b[0], b[1]);
        mma<T>(dp[2 * nn + 1], a, b[2], b[3]);
      }
    }
    // P and dS of element e of group i: row qr + g + 8·(e / 2), key kc + 8i + 2t + e % 2.
#pragma unroll
    for (int r = 0; r < 2; ++r) {
      const int row = qr + g + 8 * r, pos = pos0 + row;
      const float lse_r = s_lse[stage * kBM + row], dd_r = s_dd[stage * kBM + row];
#pragma unroll
      for (int i = 0; i < 4; ++i)
#pragma unroll
        for (int e = 2 * r; e < 2 * r + 2; ++e) {
          const int key = n0 + kc + 8 * i + 2 * t + (e & 1);
          const bool vis = row < rows && key <= pos && key < kv_len &&
                           !(p.window > 0 && int64_t{pos} - key >= p.window);
          float z, dcap = 1.0f;
          if (softcap) {
            const float th = tanh_accurate(s[i][e] * cap_in);
            z = cap_out * th;
            dcap = 1.0f - th * th;
          } else {
            z = s[i][e] * sl;
          }
          const float pv = vis ? ex2(z - lse_r) : 0.0f;
          s[i][e] = pv;
          dp[i][e] = pv * (dp[i][e] - dd_r) * dcap;
        }
    }
#pragma unroll
    for (int i = 0; i < 4; ++i)
#pragma unroll
      for (int r = 0; r < 2; ++r) {
        const int row = qr + g + 8 * r, col = kc + 8 * i + 2 * t;
        const int o = swz<kBN>(row, col / 8) + col % 8;
        *reinterpret_cast<uint32_t*>(s_p + o) = pack2<T>(s[i][2 * r], s[i][2 * r + 1]);
        *reinterpret_cast<uint32_t*>(s_ds + o) = pack2<T>(dp[i][2 * r], dp[i][2 * r + 1]);
      }
    __syncthreads();

    // dV += Pᵀ dO, dK += dSᵀ Q: A = Pᵀ / dSᵀ (ldmatrix.trans of the [row][key] tiles), B = dO / Q
    // stored [row][feature] (ldmatrix.trans), the k dimension the tile's 64 query rows.
#pragma unroll
    for (int kk = 0; kk < kBM / 16; ++kk) {
      uint32_t ap[4], ad[4];
      const int pr = kk * 16 + (lane & 7) + (lane / 16) * 8, pc = r2 / 8 + (lane / 8) % 2;
      ldsm_x4_t(p_a + 2 * swz<kBN>(pr, pc), ap);
      ldsm_x4_t(ds_a + 2 * swz<kBN>(pr, pc), ad);
#pragma unroll
      for (int dn = 0; dn < D / 32; ++dn) {
        uint32_t b[4];
        const int br = kk * 16 + (lane & 7) + ((lane / 8) % 2) * 8,
                  bc = dc / 8 + dn * 2 + lane / 16;
        ldsm_x4_t(do_st + 2 * swz<D>(br, bc), b);
        mma<T>(dv[2 * dn], ap, b[0], b[1]);
        mma<T>(dv[2 * dn + 1], ap, b[2], b[3]);
        ldsm_x4_t(q_st + 2 * swz<D>(br, bc), b);
        mma<T>(dk[2 * dn], ad, b[0], b[1]);
        mma<T>(dk[2 * dn + 1], ad, b[2], b[3]);
      }
    }
    // dQ += dS K: A = dS rows r2 … r2+15 over the 64 keys, B = K stored [key][feature]; 32
    // feature columns at a time, added into the f32 accumulator.
    uint32_t ads[kBN / 16][4];
#pragma unroll
    for (int kk = 0; kk < kBN / 16; ++kk)
      ldsm_x4(ds_a + 2 * swz<kBN>(r2 + (lane & 15), kk * 2 + lane / 16), ads[kk]);
    float* dq_g = bp.workspace + (int64_t{q_start + m0} * p.hq + hh) * D;
#pragma unroll
    for (int ch = 0; ch < D / 64; ++ch) {
      float acc[4][4];
#pragma unroll
      for (int i = 0; i < 4; ++i) acc[i][0] = acc[i][1] = acc[i][2] = acc[i][3] = 0.0f;
#pragma unroll
      for (int kk = 0; kk < kBN / 16; ++kk)
#pragma unroll
        for (int dn = 0; dn < 2; ++dn) {
          uint32_t b[4];
          ldsm_x4_t(k_a + 2 * swz<D>(kk * 16 + (lane & 7) + ((lane / 8) % 2) * 8,
                                     (dc + ch * 32) / 8 + dn * 2 + lane / 16),
                    b);
          mma<T>(acc[2 * dn], ads[kk], b[0], b[1]);
          mma<T>(acc[2 * dn + 1], ads[kk], b[2], b[3]);
        }
#pragma unroll
      for (int r = 0; r < 2; ++r) {
        const int row = r2 + g + 8 * r;
        if (row >= rows) continue;
        float* dst = dq_g + row * q_stride + dc + ch * 32 + 2 * t;
#pragma unroll
        for (int i = 0; i < 4; ++i) {
          atomicAdd(dst + 8 * i, acc[i][2 * r]);
          atomicAdd(dst + 8 * i + 1, acc[i][2 * r + 1]);
        }
      }
    }
    if constexpr (kStages == 1) __syncthreads();  // before the next tile overwrites Q/dO
  }

  // dK, dV of keys n0 + r2 + g + 8·(e / 2), features dc + 8i + 2t + e % 2: added into the caches.
#pragma unroll
  for (int r = 0; r < 2; ++r) {
    const int key = r2 + g + 8 * r;
    if (n0 + key >= kv_len) continue;
    const int64_t base = (kv_row0 + int64_t{key} * p.hk) * D + dc + 2 * t;
#pragma unroll
    for (int i = 0; i < D / 16; ++i) {
      float2* k2 = reinterpret_cast<float2*>(bp.dk_cache + base + 8 * i);
      float2* v2 = reinterpret_cast<float2*>(bp.dv_cache + base + 8 * i);
      float2 a = *k2, b = *v2;
      a.x += p.scale * dk[i][2 * r];
      a.y += p.scale * dk[i][2 * r + 1];
      b.x += dv[i][2 * r];
      b.y += dv[i][2 * r + 1];
      *k2 = a;
      *v2 = b;
    }
  }
}

// dq = scale · accumulator in the input type, two elements per thread.
template <typename T>
__global__ void dq_convert_kernel(const float* __restrict__ acc, T* __restrict__ dq, int64_t pairs,
                                  float scale) {
  const int64_t i = int64_t{blockIdx.x} * blockDim.x + threadIdx.x;
  if (i >= pairs) return;
  const float2 v = reinterpret_cast<const float2*>(acc)[i];
  reinterpret_cast<uint32_t*>(dq)[i] = pack2<T>(v.x * scale, v.y * scale);
}

template <typename T, int D>
cudaError_t launch_d(const BwdParams& bp, cudaStream_t stream) {
  const Params& p = bp.fwd;
  const int64_t rows = p.total_q * p.hq;
  float* lse = bp.workspace + rows * D;
  float* dd = lse + rows;
  cudaError_t e = cudaMemsetAsync(bp.workspace, 0, sizeof(float) * rows * D, stream);
  if (e != cudaSuccess) return e;
  row_dot_kernel<T><<<static_cast<unsigned>((rows + 7) / 8), 256, 0, stream>>>(
      static_cast<const T*>(p.out), static_cast<const T*>(bp.dout), dd, p.total_q, p.hq, D);
  // Key blocks over the whole capacity: max_kv_len is a size hint (docs/layer-contracts.md), never
  // a length, so it may not bound the keys that get gradients; blocks past a sequence's kv_len
  // return at once.
  const int64_t kv = p.capacity;
  if (p.num_seqs > 0 && p.max_q_len > 0 && kv > 0) {
    constexpr size_t kLseSmem = size_t{3} * kBM * D * 2;
    auto lk = lse_kernel<T, D>;
    if ((e = cudaFuncSetAttribute(lk, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                  static_cast<int>(kLseSmem))) != cudaSuccess)
      return e;
    lk<<<dim3(p.hq, p.num_seqs, (p.max_q_len + kBM - 1) / kBM), 128, kLseSmem, stream>>>(p, lse);
    constexpr size_t kSmem = bwd_smem_bytes<D>();
    auto bk = bwd_kernel<T, D>;
    if ((e = cudaFuncSetAttribute(bk, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                  static_cast<int>(kSmem))) != cudaSuccess)
      return e;
    bk<<<dim3(static_cast<unsigned>((kv + kBN - 1) / kBN), p.hk, p.num_seqs), 256, kSmem, stream>>>(
        bp);
  }
  const int64_t pairs = rows * D / 2;
  dq_convert_kernel<T><<<static_cast<unsigned>((pairs + 255) / 256), 256, 0, stream>>>(
      bp.workspace, static_cast<T*>(bp.dq), pairs, p.scale);
  return cudaGetLastError();
}

template <typename T>
cudaError_t launch_t(const BwdParams& bp, cudaStream_t stream) {
  switch (bp.fwd.d) {
    case 64:
      return launch_d<T, 64>(bp, stream);
    case 128:
      return launch_d<T, 128>(bp, stream);
    case 256:
      return launch_d<T, 256>(bp, stream);
    default:
      return cudaErrorInvalidValue;
  }
}

}  // namespace

size_t backward_smem_bytes(int d) {
  return d == 64 ? bwd_smem_bytes<64>() : d == 128 ? bwd_smem_bytes<128>() : bwd_smem_bytes<256>();
}

cudaError_t launch_backward(const BwdParams& bp, Dtype dtype, cudaStream_t stream) {
  const Params& p = bp.fwd;
  if (p.hq <= 0 || p.hk <= 0 || p.hq % p.hk != 0) return cudaErrorInvalidValue;
  if (p.total_q <= 0) return cudaSuccess;
  if (p.num_seqs > 65535 || (p.max_q_len + kBM - 1) / kBM > 65535 || p.hk > 65535)
    return cudaErrorInvalidValue;
  return dtype == Dtype::kBF16 ? launch_t<__nv_bfloat16>(bp, stream) : launch_t<__half>(bp, stream);
}

}  // namespace khub_flash
