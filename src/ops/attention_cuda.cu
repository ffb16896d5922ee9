// Attention on CUDA, the reference path (correctness first; flash-attention kernels come from the
// hub): softmax(scale · q·kᵀ [soft-capped] over the visible keys [+ sink]) · v for one sequence,
// prefill or decode against the KV cache, with GQA, causal mask, sliding window, soft-capping and
// attention sinks — the semantics of ops::attention on the CPU.
//
// Algorithm: a block takes kWarps consecutive query rows of one head, one warp per row. Keys and
// values stream through shared memory in tiles of kKeyTile rows (converted to f32, shared by the
// block's rows). Per tile, lane j scores key j against the warp's query (a D-long dot product
// from shared memory), the warp takes the tile's max and rescales its running sum and
// accumulators (online softmax), then each lane accumulates its D/32 output dims over the tile's
// keys. Tiles outside a row's [lo, hi] key range are skipped by that warp.
// Traffic: q and the output once; k/v once per block of kWarps rows (further reuse comes from L2).
// Work runs on the CUDA cores (no tensor cores): a baseline, not a fast kernel. Query blocks of
// kGemmMinQueries rows or more (prefill) take the GEMM path of attention_gemm_cuda.cu instead, as
// PyTorch eager attention would.
// Numerics: f32 scores, exponentials and accumulation; one rounding of the output.
#include <cmath>

#include "ops/attention_gemm_cuda.h"
#include "ops/cuda_common.cuh"
#include "ops/ops_cuda.h"

namespace khub::ops::cuda {
namespace {

constexpr int kWarps = 8;     // query rows per block
constexpr int kKeyTile = 32;  // keys per tile: one per lane when scoring
constexpr int kMaxHeadDim = 256;
constexpr int64_t kGemmMinQueries = 64;
constexpr int kLoadUnroll = 8;  // independent loads in flight per thread when filling a tile
constexpr unsigned kFull = 0xffffffffu;

struct AttentionArgs {
  const void* q;
  const void* k;
  const void* v;
  void* o;
  const float* sinks;  // [Hq] or null
  int64_t sq, skv, hq, hk, d;
  int64_t k_row_stride, v_row_stride;  // elements between consecutive key positions
  int64_t q_offset, window;
  float scale, softcap;
  bool causal;
};

__device__ __forceinline__ float warp_max(float v) {
  for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(kFull, v, o));
  return v;
}
__device__ __forceinline__ float warp_sum(float v) {
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(kFull, v, o);
  return v;
}

template <typename T, int kDimsPerLane>
__global__ void __launch_bounds__(kWarps * 32) attention_kernel(AttentionArgs a) {
  extern __shared__ float smem[];
  const int d = static_cast<int>(a.d);
  // Lanes read one key row each: with float4 reads (d % 4 == 0) a pitch of d + 4 floats puts the
  // 8 lanes of each quarter-warp phase on distinct banks; with scalar reads d + 1 (odd) does.
  const bool vec4 = d % 4 == 0;
  const int k_pitch = vec4 ? d + 4 : d + 1;
  float* qs = smem;                     // [kWarps][d]
  float* ks = qs + kWarps * d;          // [kKeyTile][k_pitch]
  float* vs = ks + kKeyTile * k_pitch;  // [kKeyTile][d]
  const T* q = static_cast<const T*>(a.q);
  const T* k = static_cast<const T*>(a.k);
  const T* v = static_cast<const T*>(a.v);
  const int64_t h = blockIdx.y, kh = h / (a.hq / a.hk);
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const int64_t row0 = int64_t{blockIdx.x} * kWarps;
  const int64_t i = row0 + warp;
  const bool active = i < a.sq;

  for (int idx = threadIdx.x; idx < kWarps * d; idx += blockDim.x) {
    int r = idx / d, c = idx - r * d;
    int64_t qi = row0 + r;
    qs[idx] = qi < a.sq ? to_f32(q[(qi * a.hq + h) * a.d + c]) : 0.0f;
  }

  // Key range of the whole block (union of its rows' ranges) and of this warp's row.
  const int64_t last_row = min(row0 + kWarps, a.sq) - 1;
  const int64_t hi_block = a.causal ? min(a.q_offset + last_row, a.skv - 1) : a.skv - 1;
  const int64_t lo_block = a.window > 0 ? max(int64_t{0}, a.q_offset + row0 - a.window + 1) : 0;
  const int64_t pos = a.q_offset + i;
  const int64_t hi = a.causal ? min(pos, a.skv - 1) : a.skv - 1;
  const int64_t lo = a.window > 0 ? max(int64_t{0}, pos - a.window + 1) : 0;

  // Running max m and sum l; a sink starts them at (sink, exp(sink - sink) = 1).
  float m = a.sinks != nullptr ? a.sinks[h] : -INFINITY;
  float l = a.sinks != nullptr ? 1.0f : 0.0f;
  float acc[kDimsPerLane];
#pragma unroll
  for (int t = 0; t < kDimsPerLane; ++t) acc[t] = 0.0f;

  for (int64_t t0 = lo_block; t0 <= hi_block; t0 += kKeyTile) {
    __syncthreads();  // the previous tile (and the q rows, first time) are consumed / written
    // All of a thread's loads of a round are issued before the first store: one memory latency
    // per round of kLoadUnroll elements instead of one per element.
    for (int base = threadIdx.x; base < kKeyTile * d; base += kLoadUnroll * blockDim.x) {
      T kr[kLoadUnroll], vr[kLoadUnroll];
#pragma unroll
      for (int u = 0; u < kLoadUnroll; ++u) {
        int idx = base + u * blockDim.x;
        int r = idx / d, c = idx - r * d;
        int64_t j = t0 + r;
        if (idx < kKeyTile * d && j <= hi_block) {
          kr[u] = k[j * a.k_row_stride + kh * a.d + c];
          vr[u] = v[j * a.v_row_stride + kh * a.d + c];
        }
      }
#pragma unroll
      for (int u = 0; u < kLoadUnroll; ++u) {
        int idx = base + u * blockDim.x;
        int r = idx / d, c = idx - r * d;
        if (idx < kKeyTile * d) {
          bool in = t0 + r <= hi_block;
          ks[r * k_pitch + c] = in ? to_f32(kr[u]) : 0.0f;
          vs[r * d + c] = in ? to_f32(vr[u]) : 0.0f;
        }
      }
    }
    __syncthreads();
    // Warp-uniform: rows past the end and tiles outside this row's range do nothing.
    if (!active || t0 > hi || t0 + kKeyTile - 1 < lo) continue;

    const int64_t j = t0 + lane;
    float s = -INFINITY;
    if (j >= lo && j <= hi) {
      const float* qr = qs + warp * d;
      const float* kr = ks + lane * k_pitch;
      float dot = 0.0f;
      if (vec4) {  // four independent sums: 16-byte shared loads and instruction-level parallelism
        float4 acc4 = make_float4(0.0f, 0.0f, 0.0f, 0.0f);
        for (int c = 0; c < d; c += 4) {
          float4 qv = *reinterpret_cast<const float4*>(qr + c);
          float4 kv = *reinterpret_cast<const float4*>(kr + c);
          acc4.x = fmaf(qv.x, kv.x, acc4.x);
          acc4.y = fmaf(qv.y, kv.y, acc4.y);
          acc4.z = fmaf(qv.z, kv.z, acc4.z);
          acc4.w = fmaf(qv.w, kv.w, acc4.w);
        }
        dot = (acc4.x + acc4.y) + (acc4.z + acc4.w);
      } else {
        for (int c = 0; c < d; ++c) dot = fmaf(qr[c], kr[c], dot);
      }
      s = dot * a.scale;
      if (a.softcap > 0.0f) s = a.softcap * tanhf(s / a.softcap);
    }
    const float m_new = fmaxf(m, warp_max(s));  // finite: the tile holds a visible key
    const float corr = expf(m - m_new);         // 0 while m is still -inf
    const float p = j >= lo && j <= hi ? expf(s - m_new) : 0.0f;
    l = l * corr + warp_sum(p);
#pragma unroll
    for (int t = 0; t < kDimsPerLane; ++t) acc[t] *= corr;
    for (int jj = 0; jj < kKeyTile; ++jj) {
      const float pj = __shfl_sync(kFull, p, jj);
      const float* vr = vs + jj * d;
#pragma unroll
      for (int t = 0; t < kDimsPerLane; ++t) {
        int c = lane + 32 * t;
        if (c < d) acc[t] = fmaf(pj, vr[c], acc[t]);
      }
    }
    m = m_new;
  }

  if (active) {
    const float inv = l > 0.0f ? 1.0f / l : 0.0f;
    T* o = static_cast<T*>(a.o) + (i * a.hq + h) * a.d;
#pragma unroll
    for (int t = 0; t < kDimsPerLane; ++t) {
      int c = lane + 32 * t;
      if (c < d) o[c] = from_f32<T>(acc[t] * inv);
    }
  }
}

template <typename T, int kDimsPerLane>
void launch(const AttentionArgs& a, cudaStream_t stream) {
  int64_t k_pitch = a.d % 4 == 0 ? a.d + 4 : a.d + 1;  // as in the kernel
  size_t smem =
      sizeof(float) * static_cast<size_t>(kWarps * a.d + kKeyTile * k_pitch + kKeyTile * a.d);
  auto kernel = attention_kernel<T, kDimsPerLane>;
  if (smem > 48 * 1024) {
    KHUB_CUDA_CHECK(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                         static_cast<int>(smem)));
  }
  dim3 grid(static_cast<unsigned>((a.sq + kWarps - 1) / kWarps), static_cast<unsigned>(a.hq));
  kernel<<<grid, kWarps * 32, smem, stream>>>(a);
  KHUB_CUDA_CHECK_LAUNCH();
}

void check_kv(const Tensor& t, const Tensor& q, const char* name) {
  check_on_cuda(t, "ops::attention", name);
  check_same_device(q, t, "ops::attention");
  KHUB_CHECK_ARG(
      t.dtype() == q.dtype() && t.dim() == 3 && t.stride(2) == 1 && t.stride(1) == t.size(2),
      "ops::attention: ", name, " must be [S, H, D] with contiguous rows and q's dtype ",
      dtype_name(q.dtype()), ", got ", t.describe());
}

}  // namespace

Tensor attention(const Tensor& q_in, const Tensor& k, const Tensor& v, const AttentionParams& p,
                 const Tensor& sinks_in) {
  const char* op = "ops::attention";
  check_on_cuda(q_in, op, "q");
  KHUB_CHECK_ARG(q_in.dim() == 3, op, ": q must be [S, H, D], got ", q_in.describe());
  Tensor q = q_in.contiguous();
  check_kv(k, q, "k");
  check_kv(v, q, "v");
  int64_t sq = q.size(0), hq = q.size(1), d = q.size(2), skv = k.size(0), hk = k.size(1);
  KHUB_CHECK_ARG(k.size(2) == d && v.size(2) == d && v.size(0) == skv && v.size(1) == hk, op,
                 ": shapes q ", q.describe(), ", k ", k.describe(), ", v ", v.describe(),
                 " do not agree");
  KHUB_CHECK_ARG(hk > 0 && hq % hk == 0, op, ": ", hq, " query heads are not a multiple of ", hk,
                 " key/value heads");
  if (d > kMaxHeadDim) {
    fail(ErrorKind::kUnsupported, op, ": head dimension ", d, " on CUDA (the reference kernel ",
         "handles up to ", kMaxHeadDim, ")");
  }
  Tensor sinks;
  if (sinks_in.defined()) {
    KHUB_CHECK_ARG(sinks_in.numel() == hq, op, ": sinks ", sinks_in.describe(), " for ", hq,
                   " heads");
    sinks = sinks_in.device() == q.device() ? sinks_in : sinks_in.to(q.device());
    sinks = cast(sinks.contiguous(), DType::kF32);
  }
  Tensor out = Tensor::empty({sq, hq, d}, q.dtype(), q.device());
  if (sq == 0 || d == 0) return out;
  AttentionArgs a{q.data(),
                  k.data(),
                  v.data(),
                  out.data(),
                  sinks.defined() ? sinks.data_as<float>() : nullptr,
                  sq,
                  skv,
                  hq,
                  hk,
                  d,
                  k.stride(0),
                  v.stride(0),
                  p.q_offset,
                  p.window,
                  p.scale,
                  p.softcap,
                  p.causal};
  khub::cuda::DeviceGuard g(q.device());
  cudaStream_t s = khub::cuda::stream_for(q.device());
  if (sq >= kGemmMinQueries) {
    attention_gemm(q, k, v, p, a.sinks, out, s);
    return out;
  }
  dispatch_float(q.dtype(), op, [&](auto tag) {
    using T = typename decltype(tag)::type;
    if (d <= 32) {
      launch<T, 1>(a, s);
    } else if (d <= 64) {
      launch<T, 2>(a, s);
    } else if (d <= 128) {
      launch<T, 4>(a, s);
    } else {
      launch<T, 8>(a, s);
    }
  });
  return out;
}

}  // namespace khub::ops::cuda
