// khub-community/flash-attn, CUDA variant: the prefill kernel (FlashAttention-2 style) for the
// `Attention` contract (docs/layer-contracts.md): varlen queries over the slotted KV cache,
// causal, optional sliding window, logit soft-capping, attention sinks, GQA.
//
// One block per (query head, sequence, tile of kBM query rows); each warp owns 16 query rows
// and walks the visible key tiles of kBN keys from the diagonal downwards. Per key tile:
//   s = q·kᵀ with mma.sync m16n8k16 (bf16/f16 in, f32 accumulate), q from registers (or
//     re-read from shared memory for D = 256, where registers run out), k fragments by ldmatrix;
//   online softmax in f32 registers in base-2 units (scale·log2e folded into one FFMA per
//     score, ex2.approx), the row max reduced over the 4 lanes that share a row;
//   o += p·v with p converted in registers to the input type (the C fragment of s is the A
//     fragment of p·v), v fragments by ldmatrix.trans.
// K/V tiles are double-buffered in shared memory with cp.async: the next tile streams in while
// the current one is multiplied. Rows of 16-byte chunks are XOR-swizzled (chunk ^ row % 8), so
// the 8 row addresses of an ldmatrix, and the stores of the output staging, hit 8 distinct
// bank groups.
// Masking costs nothing off the diagonal: tiles wholly above the diagonal or wholly outside the
// window are never loaded, and a warp skips the tiles its own 16 rows cannot see. Blocks of the
// last (longest) query tiles have the smallest blockIdx.z and so start first.
// On compute capability 9.0 (H100/H200), D = 64 and 128 take the wgmma kernel in namespace sm90
// below (same tiling, warpgroup MMAs), except for windows of <= 128 keys; D = 256 and other
// chips take the mma.sync kernel.
// Numerics: f32 accumulation throughout; p is rounded to the input type before p·v (as
// FlashAttention-2), the row sums use the unrounded p. Keys past kv_len are zero-filled, so
// garbage in unused cache rows cannot turn into NaN through 0·NaN.
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <cmath>
#include <type_traits>

#include "flash_attn.h"

namespace khub_flash {
namespace {

constexpr float kLog2e = 1.4426950408889634f;

template <int BM, int BN, int Warps, int MinBlocks, bool QInRegs>
struct CfgOf {
  static constexpr int kBM = BM, kBN = BN, kWarps = Warps, kMinBlocks = MinBlocks;
  static constexpr bool kQInRegs = QInRegs;
};
// Tiles (query rows, keys), warps (16 query rows each), blocks per SM the registers must allow.
template <int D>
struct Cfg;
template <>
struct Cfg<64> : CfgOf<128, 64, 8, 2, true> {};
template <>
struct Cfg<128> : CfgOf<128, 64, 8, 1, true> {};
// D=256: the f32 output alone takes 128 registers a thread, so q is re-read from shared memory.
template <>
struct Cfg<256> : CfgOf<64, 32, 4, 1, false> {};

template <int D>
constexpr size_t smem_bytes() {
  return (size_t{Cfg<D>::kBM} * D + 4 * size_t{Cfg<D>::kBN} * D) * 2;
}

// Element offset of 16-byte chunk `c` of row `r` in a tile of rows of D elements.
template <int D>
__device__ __forceinline__ int swz(int r, int c) {
  return r * D + ((c ^ (r & 7)) << 3);
}

__device__ __forceinline__ uint32_t smem_addr(const void* p) {
  return static_cast<uint32_t>(__cvta_generic_to_shared(p));
}

__device__ __forceinline__ void cp_async16(uint32_t dst, const void* src, bool valid) {
  const int n = valid ? 16 : 0;  // 0: zero-fill, nothing read
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(dst), "l"(src), "r"(n));
}
__device__ __forceinline__ void cp_async_commit() { asm volatile("cp.async.commit_group;\n" ::); }
__device__ __forceinline__ void cp_async_wait_all() {
  asm volatile("cp.async.wait_group 0;\n" ::: "memory");
}

__device__ __forceinline__ void ldsm_x4(uint32_t addr, uint32_t (&r)[4]) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0,%1,%2,%3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(addr));
}
__device__ __forceinline__ void ldsm_x4_t(uint32_t addr, uint32_t (&r)[4]) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0,%1,%2,%3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(addr));
}

template <typename T>
__device__ __forceinline__ void mma(float (&c)[4], const uint32_t (&a)[4], uint32_t b0,
                                    uint32_t b1) {
  if constexpr (std::is_same_v<T, __nv_bfloat16>) {
    asm volatile(
        "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, "
        "{%8,%9}, {%0,%1,%2,%3};\n"
        : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
  } else {
    asm volatile(
        "mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, "
        "{%8,%9}, {%0,%1,%2,%3};\n"
        : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
  }
}

template <typename T>
__device__ __forceinline__ uint32_t pack2(float lo, float hi) {
  uint32_t r;
  if constexpr (std::is_same_v<T, __nv_bfloat16>) {
    __nv_bfloat162 v = __floats2bfloat162_rn(lo, hi);
    r = *reinterpret_cast<uint32_t*>(&v);
  } else {
    __half2 v = __floats2half2_rn(lo, hi);
    r = *reinterpret_cast<uint32_t*>(&v);
  }
  return r;
}

__device__ __forceinline__ float ex2(float x) {
  float y;
  asm("ex2.approx.ftz.f32 %0, %1;\n" : "=f"(y) : "f"(x));
  return y;
}
__device__ __forceinline__ float rcp(float x) {
  float y;
  asm("rcp.approx.ftz.f32 %0, %1;\n" : "=f"(y) : "f"(x));
  return y;
}
// tanh(x) = 1 - 2 / (1 + e^2x): absolute error ~1e-7 (tanh.approx's 2^-11 relative error would
// be ~0.02 in a logit capped at 50); saturates cleanly to ±1.
__device__ __forceinline__ float tanh_accurate(float x) {
  return 1.0f - 2.0f * rcp(1.0f + ex2(x * (2.0f * kLog2e)));
}

__device__ __forceinline__ float quad_max(float v) {
  v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, 1));
  return fmaxf(v, __shfl_xor_sync(0xffffffffu, v, 2));
}
__device__ __forceinline__ float quad_sum(float v) {
  v += __shfl_xor_sync(0xffffffffu, v, 1);
  return v + __shfl_xor_sync(0xffffffffu, v, 2);
}

// Online softmax of the two query rows (g and g + 8 of a warp's 16) whose scores a thread holds
// in the m16n8 accumulator layout (also wgmma's, per warp): element e of 8-column group i is row
// g + 8·(e / 2), column 8i + 2t + e % 2. Scores end in base-2 units: acc·scale·log2e, or
// softcap·log2e·tanh(acc·scale/softcap).
struct RowSoftmax {
  float sl, cap_in, cap_out;
  bool softcap;
  int64_t window;
  int row_pos, g, t;                        // position of the warp's row 0; lane / 4, lane % 4
  float m_run[2] = {-INFINITY, -INFINITY};  // base-2 running max of each row
  float l_run[2] = {0.0f, 0.0f};            // this thread's part of each row's sum

  __device__ __forceinline__ RowSoftmax(const Params& p, int w_lo, int lane)
      : sl(p.softcap > 0.0f ? 1.0f : p.scale * kLog2e),
        cap_in(p.softcap > 0.0f ? p.scale / p.softcap : 0.0f),
        cap_out(p.softcap * kLog2e),
        softcap(p.softcap > 0.0f),
        window(p.window),
        row_pos(w_lo),
        g(lane / 4),
        t(lane % 4) {}

  // s: q·kᵀ of keys n0 … n0 + 8·NT − 1; becomes the unnormalised p. corr: the factor the
  // output rows must be rescaled by (rescale), kept apart so that the wgmma kernel can compute
  // p while the previous p·v still accumulates into o.
  // w_hi: position of the warp's last row that is stored (later rows only need finite values).
  template <int NT>
  __device__ __forceinline__ void scores(float (&s)[NT][4], int n0, int w_hi, float (&corr)[2]) {
    if (softcap) {
#pragma unroll
      for (int i = 0; i < NT; ++i)
#pragma unroll
        for (int e = 0; e < 4; ++e) s[i][e] = cap_out * tanh_accurate(s[i][e] * cap_in);
    }
    const bool need_mask =
        n0 + 8 * NT - 1 > row_pos || (window > 0 && w_hi - int64_t{n0} >= window);
    if (need_mask) {
#pragma unroll
      for (int i = 0; i < NT; ++i)
#pragma unroll
        for (int e = 0; e < 4; ++e) {
          const int key = n0 + i * 8 + 2 * t + (e & 1);
          const int pos = row_pos + g + 8 * (e >> 1);
          if (key > pos || (window > 0 && pos - int64_t{key} >= window)) s[i][e] = -INFINITY;
        }
    }
    float m_use[2];
#pragma unroll
    for (int r = 0; r < 2; ++r) {
      float mx = -INFINITY;
#pragma unroll
      for (int i = 0; i < NT; ++i) mx = fmaxf(mx, fmaxf(s[i][2 * r], s[i][2 * r + 1]));
      const float m_new = fmaxf(m_run[r], quad_max(mx) * sl);
      // A row that has seen no visible key yet keeps max -inf; 0 avoids (-inf) - (-inf).
      m_use[r] = m_new == -INFINITY ? 0.0f : m_new;
      corr[r] = ex2(m_run[r] - m_use[r]);
      m_run[r] = m_new;
      l_run[r] *= corr[r];
    }
#pragma unroll
    for (int i = 0; i < NT; ++i)
#pragma unroll
      for (int e = 0; e < 4; ++e) {
        s[i][e] = ex2(fmaf(s[i][e], sl, -m_use[e >> 1]));
        l_run[e >> 1] += s[i][e];
      }
  }

  template <int DT>
  __device__ __forceinline__ static void rescale(float (&o)[DT][4], const float (&corr)[2]) {
#pragma unroll
    for (int i = 0; i < DT; ++i)
#pragma unroll
      for (int e = 0; e < 4; ++e) o[i][e] *= corr[e >> 1];
  }

  // 1 / denominator of each row; a sink is one more logit in the denominator only.
  __device__ __forceinline__ void finish(const float* sinks, int h, float (&inv)[2]) const {
#pragma unroll
    for (int r = 0; r < 2; ++r) {
      float l = quad_sum(l_run[r]);
      const float m_use = m_run[r] == -INFINITY ? 0.0f : m_run[r];
      if (sinks != nullptr) l += ex2(sinks[h] * kLog2e - m_use);
      inv[r] = l > 0.0f ? 1.0f / l : 0.0f;
    }
  }
};

template <typename T, int D>
__global__ void __launch_bounds__(Cfg<D>::kWarps * 32, Cfg<D>::kMinBlocks)
    prefill_kernel(const Params p) {
  constexpr int kBM = Cfg<D>::kBM, kBN = Cfg<D>::kBN, kThreads = Cfg<D>::kWarps * 32;
  constexpr int kChunks = D / 8;  // 16-byte chunks per row
  constexpr bool kQInRegs = Cfg<D>::kQInRegs;
  extern __shared__ __align__(128) unsigned char smem_raw[];
  T* s_q = reinterpret_cast<T*>(smem_raw);
  T* s_k = s_q + kBM * D;  // 2 stages
  T* s_v = s_k + 2 * kBN * D;

  const int h = blockIdx.x;
  const int seq = blockIdx.y;
  const int32_t* sd = p.seqs + 4 * int64_t{seq};
  const int slot = sd[0], q_start = sd[1], q_len = sd[2], kv_len = sd[3];
  const int m_block = (q_len + kBM - 1) / kBM - 1 - static_cast<int>(blockIdx.z);
  if (m_block < 0) return;
  const int m0 = m_block * kBM;
  const int rows = min(kBM, q_len - m0);
  const int pos0 = kv_len - q_len + m0;  // position of the tile's first row
  const int p_hi = pos0 + rows - 1;
  const int64_t window = p.window;
  const int k_hi = min(p_hi, kv_len - 1);
  const int k_lo = window > 0 ? static_cast<int>(max(int64_t{0}, pos0 - window + 1)) : 0;
  const int nb_hi = k_hi >= 0 ? k_hi / kBN : -1;
  const int ntiles = k_hi >= k_lo ? nb_hi - k_lo / kBN + 1 : 0;

  const int tid = threadIdx.x, warp = tid / 32, lane = tid % 32;
  const int kv_head = h / (p.hq / p.hk);
  const int64_t q_stride = int64_t{p.hq} * D;
  const int64_t kv_stride = int64_t{p.hk} * D;
  const T* q_g = static_cast<const T*>(p.q) + (int64_t{q_start + m0} * p.hq + h) * D;
  const int64_t kv_off = (int64_t{slot} * p.capacity * p.hk + kv_head) * D;
  const T* k_g = static_cast<const T*>(p.k_cache) + kv_off;
  const T* v_g = static_cast<const T*>(p.v_cache) + kv_off;

  const uint32_t s_q_a = smem_addr(s_q), s_k_a = smem_addr(s_k), s_v_a = smem_addr(s_v);

#pragma unroll
  for (int i = 0; i < kBM * kChunks / kThreads; ++i) {
    const int idx = tid + i * kThreads, r = idx / kChunks, c = idx % kChunks;
    const bool ok = r < rows;
    cp_async16(s_q_a + 2 * swz<D>(r, c), q_g + (ok ? r * q_stride + c * 8 : 0), ok);
  }
  auto load_kv = [&](int nb, int stage) {
    const int n0 = nb * kBN;
#pragma unroll
    for (int i = 0; i < kBN * kChunks / kThreads; ++i) {
      const int idx = tid + i * kThreads, r = idx / kChunks, c = idx % kChunks;
      const bool ok = n0 + r < kv_len;
      const int64_t off = ok ? (n0 + r) * kv_stride + c * 8 : 0;
      const uint32_t dst = 2 * (stage * kBN * D + swz<D>(r, c));
      cp_async16(s_k_a + dst, k_g + off, ok);
      cp_async16(s_v_a + dst, v_g + off, ok);
    }
  };
  if (ntiles > 0) load_kv(nb_hi, 0);
  cp_async_commit();

  // This warp's rows and their positions; rows past q_len are computed but never stored.
  const int w_row0 = warp * 16;
  const bool warp_active = w_row0 < rows;
  const int w_lo = pos0 + w_row0;
  const int w_hi = pos0 + min(w_row0 + 16, rows) - 1;
  const int g = lane / 4, t = lane % 4;

  RowSoftmax sm(p, w_lo, lane);

  uint32_t q_frag[kQInRegs ? D / 16 : 1][4];
  float o[D / 8][4];
#pragma unroll
  for (int i = 0; i < D / 8; ++i) o[i][0] = o[i][1] = o[i][2] = o[i][3] = 0.0f;

  for (int it = 0; it < ntiles; ++it) {
    const int nb = nb_hi - it, n0 = nb * kBN, stage = it & 1;
    cp_async_wait_all();
    // Tile `it` has landed for every thread, and every warp is done with tile it-1, whose
    // stage the next load overwrites.
    __syncthreads();
    if (it + 1 < ntiles) load_kv(nb - 1, stage ^ 1);
    cp_async_commit();
    if constexpr (kQInRegs) {
      if (it == 0) {
#pragma unroll
        for (int kk = 0; kk < D / 16; ++kk)
          ldsm_x4(s_q_a + 2 * swz<D>(w_row0 + (lane & 15), kk * 2 + lane / 16), q_frag[kk]);
      }
    }
    if (!warp_active || n0 > w_hi) continue;
    if (window > 0 && w_lo - int64_t{n0 + kBN - 1} >= window) continue;

    const uint32_t k_st = s_k_a + 2 * stage * kBN * D, v_st = s_v_a + 2 * stage * kBN * D;
    float s[kBN / 8][4];
#pragma unroll
    for (int i = 0; i < kBN / 8; ++i) s[i][0] = s[i][1] = s[i][2] = s[i][3] = 0.0f;
#pragma unroll
    for (int kk = 0; kk < D / 16; ++kk) {
      uint32_t a[4];
      if constexpr (kQInRegs) {
#pragma unroll
        for (int j = 0; j < 4; ++j) a[j] = q_frag[kk][j];
      } else {
        ldsm_x4(s_q_a + 2 * swz<D>(w_row0 + (lane & 15), kk * 2 + lane / 16), a);
      }
#pragma unroll
      for (int nn = 0; nn < kBN / 16; ++nn) {
        uint32_t b[4];
        ldsm_x4(k_st + 2 * swz<D>(nn * 16 + (lane & 7) + (lane / 16) * 8, kk * 2 + (lane / 8) % 2),
                b);
        mma<T>(s[2 * nn], a, b[0], b[1]);
        mma<T>(s[2 * nn + 1], a, b[2], b[3]);
      }
    }
    float corr[2];
    sm.scores(s, n0, w_hi, corr);
    RowSoftmax::rescale(o, corr);
#pragma unroll
    for (int kk = 0; kk < kBN / 16; ++kk) {
      const uint32_t a[4] = {pack2<T>(s[2 * kk][0], s[2 * kk][1]),
                             pack2<T>(s[2 * kk][2], s[2 * kk][3]),
                             pack2<T>(s[2 * kk + 1][0], s[2 * kk + 1][1]),
                             pack2<T>(s[2 * kk + 1][2], s[2 * kk + 1][3])};
#pragma unroll
      for (int dn = 0; dn < D / 16; ++dn) {
        uint32_t b[4];
        ldsm_x4_t(
            v_st + 2 * swz<D>(kk * 16 + (lane & 7) + ((lane / 8) % 2) * 8, dn * 2 + lane / 16), b);
        mma<T>(o[2 * dn], a, b[0], b[1]);
        mma<T>(o[2 * dn + 1], a, b[2], b[3]);
      }
    }
  }

  cp_async_wait_all();
  __syncthreads();  // q has landed even when no tile ran, and no warp still reads s_q
  if (!warp_active) return;
  float inv[2];
  sm.finish(p.sinks, h, inv);
  // Stage this warp's 16 rows in its own rows of s_q, then store whole 16-byte chunks.
#pragma unroll
  for (int i = 0; i < D / 8; ++i)
#pragma unroll
    for (int r = 0; r < 2; ++r) {
      const int row = w_row0 + g + 8 * r, col = i * 8 + 2 * t;
      *reinterpret_cast<uint32_t*>(s_q + swz<D>(row, col / 8) + col % 8) =
          pack2<T>(o[i][2 * r] * inv[r], o[i][2 * r + 1] * inv[r]);
    }
  __syncwarp();
  T* out_g = static_cast<T*>(p.out) + (int64_t{q_start + m0} * p.hq + h) * D;
#pragma unroll
  for (int i = 0; i < 16 * kChunks / 32; ++i) {
    const int idx = lane + i * 32, r = w_row0 + idx / kChunks, c = idx % kChunks;
    if (r < rows)
      *reinterpret_cast<uint4*>(out_g + r * q_stride + c * 8) =
          *reinterpret_cast<const uint4*>(s_q + swz<D>(r, c));
  }
}

// ---- sm_90a: warpgroup MMA (wgmma) for D = 64 and 128 ----
// Same tiling idea with 2 warpgroups of 64 query rows (kBM = 128) and kBN = 128 keys per tile:
// s = q·kᵀ takes q and k straight from shared memory (both K-major), o += p·v takes p from
// registers and v from shared memory (MN-major, the transposed-B form). Tiles are stored in the
// canonical 128-byte-swizzle layout wgmma reads: column blocks of 64 elements (128 bytes a row),
// 8-row atoms of 1024 bytes, 16-byte chunk c of row r at c ^ (r % 8).
// The p·v of one tile and the q·kᵀ of the next are issued back to back, and the two warpgroups
// take turns (ping-pong, named barriers): one issues its MMAs while the other runs its softmax,
// so the exponentials hide under the other group's tensor-core work. K/V tiles: three stages,
// filled by cp.async from all threads; each group signals "my part of tile it+1 has landed and
// I am done with tile it-1" before its softmax, so neither waits on the other's softmax.
namespace sm90 {

constexpr int kBM = 128, kBN = 128, kThreads = 256, kStages = 3;
template <int D>
constexpr size_t smem_bytes() {  // q, kStages × (K, V), alignment slack
  return size_t{kBM} * D * 2 + 2 * kStages * size_t{kBN} * D * 2 + 1024;
}

// Device code for sm_90a only: other targets (and the host pass) see a kernel that traps.
#if defined(__CUDA_ARCH__) && defined(__CUDA_ARCH_FEAT_SM90_ALL)
__device__ __forceinline__ void cp_async_wait_all_but_one() {
  asm volatile("cp.async.wait_group 1;\n" ::: "memory");
}

// Byte offset of chunk c of row r in a tile of `rows` rows.
__device__ __forceinline__ uint32_t swz128(int rows, int r, int c) {
  return (c / 8) * rows * 128 + r * 128 + (((c % 8) ^ (r & 7)) << 4);
}

// Shared-memory matrix descriptor, 128-byte swizzle. lbo/sbo in bytes.
__device__ __forceinline__ uint64_t desc(uint32_t addr, uint32_t lbo, uint32_t sbo) {
  return uint64_t{(addr & 0x3ffffu) >> 4} | (uint64_t{lbo >> 4} << 16) |
         (uint64_t{sbo >> 4} << 32) | (uint64_t{1} << 62);
}

__device__ __forceinline__ void wg_fence() {
  asm volatile("wgmma.fence.sync.aligned;\n" ::: "memory");
}
__device__ __forceinline__ void wg_commit() {
  asm volatile("wgmma.commit_group.sync.aligned;\n" ::: "memory");
}
template <int N>
__device__ __forceinline__ void wg_wait() {
  asm volatile("wgmma.wait_group.sync.aligned %0;\n" ::"n"(N) : "memory");
}
// Pins accumulators around an asynchronous wgmma batch so the compiler moves no access across.
template <int NT>
__device__ __forceinline__ void fence_regs(float (&d)[NT][4]) {
#pragma unroll
  for (int i = 0; i < NT; ++i)
#pragma unroll
    for (int e = 0; e < 4; ++e) asm volatile("" : "+f"(d[i][e])::"memory");
}
// Named barriers (id 0 is __syncthreads): arrive signals without waiting; both count 256 threads.
__device__ __forceinline__ void named_sync(int id) {
  asm volatile("bar.sync %0, 256;\n" ::"r"(id) : "memory");
}
__device__ __forceinline__ void named_arrive(int id) {
  asm volatile("bar.arrive %0, 256;\n" ::"r"(id) : "memory");
}
__device__ __forceinline__ void fence_proxy_async() {
  asm volatile("fence.proxy.async.shared::cta;\n" ::: "memory");
}

#define KHUB_ACC16                                                                                \
  "+f"(d[0][0]), "+f"(d[0][1]), "+f"(d[0][2]), "+f"(d[0][3]), "+f"(d[1][0]), "+f"(d[1][1]),       \
      "+f"(d[1][2]), "+f"(d[1][3]), "+f"(d[2][0]), "+f"(d[2][1]), "+f"(d[2][2]), "+f"(d[2][3]),   \
      "+f"(d[3][0]), "+f"(d[3][1]), "+f"(d[3][2]), "+f"(d[3][3]), "+f"(d[4][0]), "+f"(d[4][1]),   \
      "+f"(d[4][2]), "+f"(d[4][3]), "+f"(d[5][0]), "+f"(d[5][1]), "+f"(d[5][2]), "+f"(d[5][3]),   \
      "+f"(d[6][0]), "+f"(d[6][1]), "+f"(d[6][2]), "+f"(d[6][3]), "+f"(d[7][0]), "+f"(d[7][1]),   \
      "+f"(d[7][2]), "+f"(d[7][3]), "+f"(d[8][0]), "+f"(d[8][1]), "+f"(d[8][2]), "+f"(d[8][3]),   \
      "+f"(d[9][0]), "+f"(d[9][1]), "+f"(d[9][2]), "+f"(d[9][3]), "+f"(d[10][0]), "+f"(d[10][1]), \
      "+f"(d[10][2]), "+f"(d[10][3]), "+f"(d[11][0]), "+f"(d[11][1]), "+f"(d[11][2]),             \
      "+f"(d[11][3]), "+f"(d[12][0]), "+f"(d[12][1]), "+f"(d[12][2]), "+f"(d[12][3]),             \
      "+f"(d[13][0]), "+f"(d[13][1]), "+f"(d[13][2]), "+f"(d[13][3]), "+f"(d[14][0]),             \
      "+f"(d[14][1]), "+f"(d[14][2]), "+f"(d[14][3]), "+f"(d[15][0]), "+f"(d[15][1]),             \
      "+f"(d[15][2]), "+f"(d[15][3])
#define KHUB_ACC8                                                                               \
  "+f"(d[0][0]), "+f"(d[0][1]), "+f"(d[0][2]), "+f"(d[0][3]), "+f"(d[1][0]), "+f"(d[1][1]),     \
      "+f"(d[1][2]), "+f"(d[1][3]), "+f"(d[2][0]), "+f"(d[2][1]), "+f"(d[2][2]), "+f"(d[2][3]), \
      "+f"(d[3][0]), "+f"(d[3][1]), "+f"(d[3][2]), "+f"(d[3][3]), "+f"(d[4][0]), "+f"(d[4][1]), \
      "+f"(d[4][2]), "+f"(d[4][3]), "+f"(d[5][0]), "+f"(d[5][1]), "+f"(d[5][2]), "+f"(d[5][3]), \
      "+f"(d[6][0]), "+f"(d[6][1]), "+f"(d[6][2]), "+f"(d[6][3]), "+f"(d[7][0]), "+f"(d[7][1]), \
      "+f"(d[7][2]), "+f"(d[7][3])

#define KHUB_WGMMA_SS(TY)                                                                          \
  asm volatile(                                                                                    \
      "{\n.reg .pred p;\nsetp.ne.b32 p, %66, 0;\n"                                                 \
      "wgmma.mma_async.sync.aligned.m64n128k16.f32." TY "." TY                                     \
      " {%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, %16, %17, %18, "    \
      "%19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31, %32, %33, %34, %35, %36, " \
      "%37, %38, %39, %40, %41, %42, %43, %44, %45, %46, %47, %48, %49, %50, %51, %52, %53, %54, " \
      "%55, %56, %57, %58, %59, %60, %61, %62, %63}, %64, %65, p, 1, 1, 0, 0;\n}\n"                \
      : KHUB_ACC16                                                                                 \
      : "l"(da), "l"(db), "r"(scale_d))

#define KHUB_WGMMA_RS128(TY)                                                                       \
  asm volatile(                                                                                    \
      "{\n.reg .pred p;\nsetp.ne.b32 p, %69, 0;\n"                                                 \
      "wgmma.mma_async.sync.aligned.m64n128k16.f32." TY "." TY                                     \
      " {%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, %16, %17, %18, "    \
      "%19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31, %32, %33, %34, %35, %36, " \
      "%37, %38, %39, %40, %41, %42, %43, %44, %45, %46, %47, %48, %49, %50, %51, %52, %53, %54, " \
      "%55, %56, %57, %58, %59, %60, %61, %62, %63}, {%64, %65, %66, %67}, %68, p, 1, 1, 1;\n}\n"  \
      : KHUB_ACC16                                                                                 \
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "l"(db), "r"(scale_d))

#define KHUB_WGMMA_RS64(TY)                                                                      \
  asm volatile(                                                                                  \
      "{\n.reg .pred p;\nsetp.ne.b32 p, %37, 0;\n"                                               \
      "wgmma.mma_async.sync.aligned.m64n64k16.f32." TY "." TY                                    \
      " {%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, %16, %17, %18, "  \
      "%19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31}, {%32, %33, %34, %35}, " \
      "%36, p, 1, 1, 1;\n}\n"                                                                    \
      : KHUB_ACC8                                                                                \
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "l"(db), "r"(scale_d))

// d (+)= A·B (64 × 128), A and B from shared memory, both K-major.
template <typename T>
__device__ __forceinline__ void wgmma_ss(float (&d)[16][4], uint64_t da, uint64_t db, int scale_d) {
  if constexpr (std::is_same_v<T, __nv_bfloat16>) {
    KHUB_WGMMA_SS("bf16");
  } else {
    KHUB_WGMMA_SS("f16");
  }
}
// d += A·B (64 × 8·NT), A from registers (the m16n8k16 A layout per warp), B from shared memory,
// MN-major.
template <typename T, int NT>
__device__ __forceinline__ void wgmma_rs(float (&d)[NT][4], const uint32_t (&a)[4], uint64_t db,
                                         int scale_d) {
  static_assert(NT == 8 || NT == 16);
  if constexpr (NT == 16) {
    if constexpr (std::is_same_v<T, __nv_bfloat16>) {
      KHUB_WGMMA_RS128("bf16");
    } else {
      KHUB_WGMMA_RS128("f16");
    }
  } else {
    if constexpr (std::is_same_v<T, __nv_bfloat16>) {
      KHUB_WGMMA_RS64("bf16");
    } else {
      KHUB_WGMMA_RS64("f16");
    }
  }
}
#undef KHUB_WGMMA_SS
#undef KHUB_WGMMA_RS128
#undef KHUB_WGMMA_RS64
#undef KHUB_ACC16
#undef KHUB_ACC8
#endif

template <typename T, int D>
__global__ void __launch_bounds__(kThreads, 1) prefill_kernel(const Params p) {
#if defined(__CUDA_ARCH__) && defined(__CUDA_ARCH_FEAT_SM90_ALL)
  constexpr int kChunks = D / 8;           // 16-byte chunks per row
  constexpr int kTileBytes = kBN * D * 2;  // one K or V tile
  extern __shared__ unsigned char smem_raw[];
  // wgmma's swizzle is computed from address bits: atoms must be 1024-byte aligned.
  const uint32_t base = (smem_addr(smem_raw) + 1023u) & ~1023u;
  unsigned char* base_ptr = smem_raw + (base - smem_addr(smem_raw));
  const uint32_t s_q = base, s_k = base + kBM * D * 2, s_v = s_k + kStages * kTileBytes;

  const int h = blockIdx.x;
  const int seq = blockIdx.y;
  const int32_t* sd = p.seqs + 4 * int64_t{seq};
  const int slot = sd[0], q_start = sd[1], q_len = sd[2], kv_len = sd[3];
  const int m_block = (q_len + kBM - 1) / kBM - 1 - static_cast<int>(blockIdx.z);
  if (m_block < 0) return;
  const int m0 = m_block * kBM;
  const int rows = min(kBM, q_len - m0);
  const int pos0 = kv_len - q_len + m0;
  const int p_hi = pos0 + rows - 1;
  const int64_t window = p.window;
  const int k_hi = min(p_hi, kv_len - 1);
  const int k_lo = window > 0 ? static_cast<int>(max(int64_t{0}, pos0 - window + 1)) : 0;
  const int nb_hi = k_hi >= 0 ? k_hi / kBN : -1;
  const int ntiles = k_hi >= k_lo ? nb_hi - k_lo / kBN + 1 : 0;

  const int tid = threadIdx.x, warp = tid / 32, lane = tid % 32, wg = warp / 4;
  const int kv_head = h / (p.hq / p.hk);
  const int64_t q_stride = int64_t{p.hq} * D;
  const int64_t kv_stride = int64_t{p.hk} * D;
  const T* q_g = static_cast<const T*>(p.q) + (int64_t{q_start + m0} * p.hq + h) * D;
  const int64_t kv_off = (int64_t{slot} * p.capacity * p.hk + kv_head) * D;
  const T* k_g = static_cast<const T*>(p.k_cache) + kv_off;
  const T* v_g = static_cast<const T*>(p.v_cache) + kv_off;

#pragma unroll
  for (int i = 0; i < kBM * kChunks / kThreads; ++i) {
    const int idx = tid + i * kThreads, r = idx / kChunks, c = idx % kChunks;
    const bool ok = r < rows;
    cp_async16(s_q + swz128(kBM, r, c), q_g + (ok ? r * q_stride + c * 8 : 0), ok);
  }
  auto load_kv = [&](int nb, int stage) {
    const int n0 = nb * kBN;
#pragma unroll
    for (int i = 0; i < kBN * kChunks / kThreads; ++i) {
      const int idx = tid + i * kThreads, r = idx / kChunks, c = idx % kChunks;
      const bool ok = n0 + r < kv_len;
      const int64_t off = ok ? (n0 + r) * kv_stride + c * 8 : 0;
      const uint32_t dst = stage * kTileBytes + swz128(kBN, r, c);
      cp_async16(s_k + dst, k_g + off, ok);
      cp_async16(s_v + dst, v_g + off, ok);
    }
  };
  if (ntiles > 0) load_kv(nb_hi, 0);
  cp_async_commit();  // q and tile 0
  if (ntiles > 1) load_kv(nb_hi - 1, 1);
  cp_async_commit();  // tile 1

  const int w_row0 = warp * 16;
  const bool warp_active = w_row0 < rows;
  const int w_lo = pos0 + w_row0;
  const int w_hi = pos0 + min(w_row0 + 16, rows) - 1;
  // Both warpgroups run every tile: a wgmma under a branch that ptxas cannot prove uniform is
  // serialised (C7520), which costs more than the few tiles a warpgroup could skip.
  const int g_row0 = wg * 64;

  RowSoftmax sm(p, w_lo, lane);
  float o[D / 8][4], s[kBN / 8][4];
  uint32_t pf[kBN / 16][4];
#pragma unroll
  for (int i = 0; i < D / 8; ++i) o[i][0] = o[i][1] = o[i][2] = o[i][3] = 0.0f;

  // q·kᵀ of tile `it` into s.
  auto issue_qk = [&](int it) {
    const uint32_t k_st = s_k + (it % kStages) * kTileBytes;
#pragma unroll
    for (int kk = 0; kk < D / 16; ++kk) {
      const uint32_t cb = kk / 4, ko = (kk % 4) * 32;
      wgmma_ss<T>(s, desc(s_q + cb * kBM * 128 + g_row0 * 128 + ko, 16, 1024),
                  desc(k_st + cb * kBN * 128 + ko, 16, 1024), kk > 0);
    }
  };

  cp_async_wait_all_but_one();
  fence_proxy_async();
  __syncthreads();  // q and tile 0 have landed
  // Named barriers: kFull + 2·parity + w: warpgroup w has tile it+1 and is done with tile it-1;
  // kSched + w: warpgroup w may issue its MMAs (the other has issued its own), so the tensor
  // cores alternate between the groups and each group's softmax overlaps the other's MMAs.
  constexpr int kFull = 1, kSched = 5;
  const int other = wg ^ 1;
  if (ntiles > 0 && wg == 1) named_arrive(kSched + 0);
  if (ntiles > 0) {
    named_sync(kSched + wg);
    fence_regs(s);
    wg_fence();
    issue_qk(0);
    wg_commit();
    named_arrive(kSched + other);
    wg_wait<0>();
    fence_regs(s);
  }
  for (int it = 0; it < ntiles; ++it) {
    const int n0 = (nb_hi - it) * kBN, stage = it % kStages;
    if (it + 1 < ntiles) {  // signal early, so the other group never waits on this softmax
      cp_async_wait_all();
      fence_proxy_async();
      named_arrive(kFull + 2 * (it & 1) + wg);
    }
    float corr[2];
    // Warps whose rows all lie past q_len still run the (finite) softmax.
    sm.scores(s, n0, warp_active ? w_hi : w_lo, corr);
    RowSoftmax::rescale(o, corr);
#pragma unroll
    for (int kk = 0; kk < kBN / 16; ++kk) {
      pf[kk][0] = pack2<T>(s[2 * kk][0], s[2 * kk][1]);
      pf[kk][1] = pack2<T>(s[2 * kk][2], s[2 * kk][3]);
      pf[kk][2] = pack2<T>(s[2 * kk + 1][0], s[2 * kk + 1][1]);
      pf[kk][3] = pack2<T>(s[2 * kk + 1][2], s[2 * kk + 1][3]);
    }
    if (it + 1 < ntiles) {
      named_sync(kFull + 2 * (it & 1) + other);
      if (it + 2 < ntiles) load_kv(nb_hi - it - 2, (it + 2) % kStages);
      cp_async_commit();
    }
    named_sync(kSched + wg);
    fence_regs(s);
    fence_regs(o);
    wg_fence();
    const uint32_t v_st = s_v + stage * kTileBytes;
#pragma unroll
    for (int kk = 0; kk < kBN / 16; ++kk)
      wgmma_rs<T>(o, pf[kk], desc(v_st + kk * 16 * 128, kBN * 128, 1024), 1);
    if (it + 1 < ntiles) issue_qk(it + 1);
    wg_commit();
    // Warpgroup 1's last arrival would find no one waiting.
    if (!(wg == 1 && it + 1 == ntiles)) named_arrive(kSched + other);
    wg_wait<0>();
    fence_regs(o);
    fence_regs(s);
  }

  cp_async_wait_all();
  __syncthreads();
  if (!warp_active) return;
  float inv[2];
  sm.finish(p.sinks, h, inv);
  const int g = lane / 4, t = lane % 4;
#pragma unroll
  for (int i = 0; i < D / 8; ++i)
#pragma unroll
    for (int r = 0; r < 2; ++r) {
      const int row = w_row0 + g + 8 * r;
      *reinterpret_cast<uint32_t*>(base_ptr + swz128(kBM, row, i) + 4 * t) =
          pack2<T>(o[i][2 * r] * inv[r], o[i][2 * r + 1] * inv[r]);
    }
  __syncwarp();
  T* out_g = static_cast<T*>(p.out) + (int64_t{q_start + m0} * p.hq + h) * D;
#pragma unroll
  for (int i = 0; i < 16 * kChunks / 32; ++i) {
    const int idx = lane + i * 32, r = w_row0 + idx / kChunks, c = idx % kChunks;
    if (r < rows)
      *reinterpret_cast<uint4*>(out_g + r * q_stride + c * 8) =
          *reinterpret_cast<const uint4*>(base_ptr + swz128(kBM, r, c));
  }
#else
  __trap();  // built only where the sm_90a target is; launch_prefill dispatches here on 9.0 only
#endif
}

}  // namespace sm90

template <typename T, int D>
cudaError_t launch(const Params& p, cudaStream_t stream) {
  constexpr size_t kSmem = smem_bytes<D>();
  auto kernel = prefill_kernel<T, D>;
  cudaError_t err = cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                         static_cast<int>(kSmem));
  if (err != cudaSuccess) return err;
  const dim3 grid(p.hq, p.num_seqs, (p.max_q_len + Cfg<D>::kBM - 1) / Cfg<D>::kBM);
  kernel<<<grid, Cfg<D>::kWarps * 32, kSmem, stream>>>(p);
  return cudaGetLastError();
}

template <typename T, int D>
cudaError_t launch_sm90(const Params& p, cudaStream_t stream) {
  constexpr size_t kSmem = sm90::smem_bytes<D>();
  auto kernel = sm90::prefill_kernel<T, D>;
  cudaError_t err = cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                         static_cast<int>(kSmem));
  if (err != cudaSuccess) return err;
  const dim3 grid(p.hq, p.num_seqs, (p.max_q_len + sm90::kBM - 1) / sm90::kBM);
  kernel<<<grid, sm90::kThreads, kSmem, stream>>>(p);
  return cudaGetLastError();
}

// wgmma exists on compute capability 9.0 only (sm_90a code); later chips take the mma.sync path.
bool is_sm90() {
  int dev = 0, major = 0, minor = 0;
  if (cudaGetDevice(&dev) != cudaSuccess) return false;
  if (cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, dev) != cudaSuccess ||
      cudaDeviceGetAttribute(&minor, cudaDevAttrComputeCapabilityMinor, dev) != cudaSuccess)
    return false;
  return major == 9 && minor == 0;
}

template <typename T>
cudaError_t launch_d(const Params& p, cudaStream_t stream) {
#ifndef KHUB_FLASH_NO_SM90  // dev/cuda/flash_prefill_check builds one without, to compare
  // 128-key tiles waste most of their work when the window is not much wider than a tile:
  // measured on H200, window 128 (GPT-OSS) runs faster in the mma.sync kernel, 256 and up in
  // the wgmma kernel.
  const bool narrow_window = p.window > 0 && p.window <= 128;
  if ((p.d == 64 || p.d == 128) && !narrow_window && is_sm90())
    return p.d == 64 ? launch_sm90<T, 64>(p, stream) : launch_sm90<T, 128>(p, stream);
#endif
  switch (p.d) {
    case 64:
      return launch<T, 64>(p, stream);
    case 128:
      return launch<T, 128>(p, stream);
    case 256:
      return launch<T, 256>(p, stream);
    default:
      return cudaErrorInvalidValue;
  }
}

}  // namespace

cudaError_t launch_prefill(const Params& p, Dtype dtype, cudaStream_t stream) {
  if (p.hq <= 0 || p.hk <= 0 || p.hq % p.hk != 0) return cudaErrorInvalidValue;
  if (p.num_seqs <= 0 || p.max_q_len <= 0) return cudaSuccess;
  if (p.num_seqs > 65535 || (p.max_q_len + 63) / 64 > 65535) return cudaErrorInvalidValue;
  return dtype == Dtype::kBF16 ? launch_d<__nv_bfloat16>(p, stream) : launch_d<__half>(p, stream);
}

}  // namespace khub_flash
