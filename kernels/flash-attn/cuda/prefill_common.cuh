// khub-community/flash-attn, CUDA variant: what the two prefill kernels share (prefill.cu, the
// mma.sync kernel; prefill_sm90.cu, the wgmma kernel for compute capability 9.0): tile
// configurations, fragment and shared-memory helpers, the online softmax.
#pragma once

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

// One block's share of a prefill launch: query tile blockIdx.z (counted from the sequence's
// last, longest tile, so the heaviest blocks start first) of sequence blockIdx.y for q head
// blockIdx.x; the key tiles of kBN keys it can see (causal, window), walked from nb_hi down; and
// the global rows it reads. Both prefill kernels place their blocks this way.
template <typename T, int D, int kBM, int kBN>
struct QueryTile {
  int h, q_start, kv_len, m0, rows, pos0, nb_hi, ntiles;
  int64_t window, q_stride, kv_stride;
  const T *q_g, *k_g, *v_g;

  // False when the sequence has no query tile blockIdx.z.
  __device__ __forceinline__ bool init(const Params& p) {
    h = blockIdx.x;
    const int32_t* sd = p.seqs + 4 * int64_t{blockIdx.y};
    const int slot = sd[0], q_len = sd[2];
    q_start = sd[1];
    kv_len = sd[3];
    const int m_block = (q_len + kBM - 1) / kBM - 1 - static_cast<int>(blockIdx.z);
    if (m_block < 0) return false;
    m0 = m_block * kBM;
    rows = min(kBM, q_len - m0);
    pos0 = kv_len - q_len + m0;  // position of the tile's first row
    window = p.window;
    const int k_hi = min(pos0 + rows - 1, kv_len - 1);
    const int k_lo = window > 0 ? static_cast<int>(max(int64_t{0}, pos0 - window + 1)) : 0;
    nb_hi = k_hi >= 0 ? k_hi / kBN : -1;
    ntiles = k_hi >= k_lo ? nb_hi - k_lo / kBN + 1 : 0;
    const int kv_head = h / (p.hq / p.hk);
    q_stride = int64_t{p.hq} * D;
    kv_stride = int64_t{p.hk} * D;
    q_g = static_cast<const T*>(p.q) + (int64_t{q_start + m0} * p.hq + h) * D;
    const int64_t kv_off = (int64_t{slot} * p.capacity * p.hk + kv_head) * D;
    k_g = static_cast<const T*>(p.k_cache) + kv_off;
    v_g = static_cast<const T*>(p.v_cache) + kv_off;
    return true;
  }
};

}  // namespace

// prefill_sm90.cu: the wgmma kernel, D = 64 and 128, for compute capability 9.0 (sm_90a code).
cudaError_t launch_prefill_sm90(const Params& p, Dtype dtype, cudaStream_t stream);

}  // namespace khub_flash
