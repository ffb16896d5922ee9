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
// On compute capability 9.0 (H100/H200), D = 64 and 128 take the wgmma kernel of
// prefill_sm90.cu (same tiling, warpgroup MMAs), except for windows of <= 128 keys; D = 256 and
// other chips take the mma.sync kernel here. What both share is in prefill_common.cuh.
// Numerics: f32 accumulation throughout; p is rounded to the input type before p·v (as
// FlashAttention-2), the row sums use the unrounded p. Keys past kv_len are zero-filled, so
// garbage in unused cache rows cannot turn into NaN through 0·NaN.
#include "prefill_common.cuh"

namespace khub_flash {
namespace {

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

  QueryTile<T, D, kBM, kBN> tile;
  if (!tile.init(p)) return;
  const int h = tile.h, q_start = tile.q_start, kv_len = tile.kv_len, m0 = tile.m0;
  const int rows = tile.rows, pos0 = tile.pos0, nb_hi = tile.nb_hi, ntiles = tile.ntiles;
  const int64_t window = tile.window, q_stride = tile.q_stride, kv_stride = tile.kv_stride;
  const T *q_g = tile.q_g, *k_g = tile.k_g, *v_g = tile.v_g;

  const int tid = threadIdx.x, warp = tid / 32, lane = tid % 32;

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
  // 128-key tiles waste most of their work when the window is not much wider than a tile: window
  // 128 (GPT-OSS) runs faster in the mma.sync kernel, 256 and up in the wgmma kernel
  // (docs/cuda-measurements.md, "Prefill attention: sliding windows").
  const bool narrow_window = p.window > 0 && p.window <= 128;
  if ((p.d == 64 || p.d == 128) && !narrow_window && is_sm90())
    return launch_prefill_sm90(p, std::is_same_v<T, __nv_bfloat16> ? Dtype::kBF16 : Dtype::kF16,
                               stream);
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
