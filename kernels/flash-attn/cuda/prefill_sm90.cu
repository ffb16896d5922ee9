// khub-community/flash-attn, CUDA variant: the prefill kernel for compute capability 9.0
// (H100/H200), D = 64 and 128, on warpgroup MMAs (prefill.cu dispatches here; the contract and
// the numerics are described there).
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
#include "prefill_common.cuh"

namespace khub_flash {
namespace {

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

  QueryTile<T, D, kBM, kBN> tile;
  if (!tile.init(p)) return;
  const int h = tile.h, q_start = tile.q_start, kv_len = tile.kv_len, m0 = tile.m0;
  const int rows = tile.rows, pos0 = tile.pos0, nb_hi = tile.nb_hi, ntiles = tile.ntiles;
  const int64_t window = tile.window, q_stride = tile.q_stride, kv_stride = tile.kv_stride;
  const T *q_g = tile.q_g, *k_g = tile.k_g, *v_g = tile.v_g;

  const int tid = threadIdx.x, warp = tid / 32, lane = tid % 32, wg = warp / 4;

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

}  // namespace

cudaError_t launch_prefill_sm90(const Params& p, Dtype dtype, cudaStream_t stream) {
  const bool bf16 = dtype == Dtype::kBF16;
  switch (p.d) {
    case 64:
      return bf16 ? launch_sm90<__nv_bfloat16, 64>(p, stream) : launch_sm90<__half, 64>(p, stream);
    case 128:
      return bf16 ? launch_sm90<__nv_bfloat16, 128>(p, stream)
                  : launch_sm90<__half, 128>(p, stream);
    default:
      return cudaErrorInvalidValue;
  }
}

}  // namespace khub_flash
