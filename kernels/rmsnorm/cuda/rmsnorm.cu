// khub-community/rmsnorm, CUDA variant: RMSNorm, GemmaRMSNorm (scale 1 + weight) and fused
// residual-add + RMSNorm, forward (docs/layer-contracts.md). Memory-bound: each row is read once
// and written once with 16-byte accesses; sums in f32.
//   hidden <= 256 vectors (2048 bf16/f16, 1024 f32): one warp per row, the row held in registers
//     (VPT vectors per lane), a shuffle reduction, no shared memory and no second read;
//   wider rows: one block per row, two passes (the second re-reads the row from L1/L2).
// Unaligned pointers or a hidden size that is not a multiple of the vector use 1-element accesses.
// Numerics as HF: LlamaRMSNorm rounds x * rstd to the dtype before multiplying by weight;
// Gemma3RMSNorm multiplies by (1 + weight) in f32; the fused residual is rounded once to the dtype.
#include "khub_cuda/abi_cuda.cuh"

namespace khub_rmsnorm_cuda {
namespace {

using khub_cuda::Call;
using khub_cuda::ElemType;
using khub_cuda::from_f32;
using khub_cuda::load_vec;
using khub_cuda::round_to;
using khub_cuda::store_vec;
using khub_cuda::to_f32;
using khub_cuda::Vec;

enum class Scale { kWeight, kOnePlusWeight };

struct Params {
  const void* x;
  void* residual;  // fused only
  const void* weight;
  void* out;
  int64_t rows;
  int hidden;
  float eps;
};

template <typename T, Scale S>
__device__ __forceinline__ float scaled(float xv, float rstd, float w) {
  if constexpr (S == Scale::kWeight) return round_to<T>(xv * rstd) * w;
  return xv * rstd * (1.0f + w);
}

__device__ __forceinline__ float warp_sum(float v) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}

// One warp per row; lane l holds vectors l, l + 32, ... (VPT of them) in registers.
template <typename T, int N, int VPT, Scale S, bool kFused>
__global__ void __launch_bounds__(256) rms_warp(Params p) {
  const int lane = threadIdx.x & 31;
  const int64_t row = blockIdx.x * int64_t{blockDim.x / 32} + threadIdx.x / 32;
  if (row >= p.rows) return;
  const int nvec = p.hidden / N;
  const T* x = static_cast<const T*>(p.x) + row * p.hidden;
  T* res = kFused ? static_cast<T*>(p.residual) + row * p.hidden : nullptr;
  float v[VPT][N];
  float ss = 0.f;
#pragma unroll
  for (int k = 0; k < VPT; ++k) {
    const int idx = lane + k * 32;
    if (idx < nvec) {
      Vec<T, N> a = load_vec<T, N>(x + idx * N);
      if constexpr (kFused) {
        Vec<T, N> r = load_vec<T, N>(res + idx * N);
#pragma unroll
        for (int j = 0; j < N; ++j) r.v[j] = from_f32<T>(to_f32(a.v[j]) + to_f32(r.v[j]));
        store_vec<T, N>(res + idx * N, r);
        a = r;
      }
#pragma unroll
      for (int j = 0; j < N; ++j) {
        v[k][j] = to_f32(a.v[j]);
        ss += v[k][j] * v[k][j];
      }
    }
  }
  ss = warp_sum(ss);
  const float rstd = rsqrtf(ss / static_cast<float>(p.hidden) + p.eps);
  const T* w = static_cast<const T*>(p.weight);
  T* out = static_cast<T*>(p.out) + row * p.hidden;
#pragma unroll
  for (int k = 0; k < VPT; ++k) {
    const int idx = lane + k * 32;
    if (idx < nvec) {
      Vec<T, N> wv = load_vec<T, N>(w + idx * N), o;
#pragma unroll
      for (int j = 0; j < N; ++j)
        o.v[j] = from_f32<T>(scaled<T, S>(v[k][j], rstd, to_f32(wv.v[j])));
      store_vec<T, N>(out + idx * N, o);
    }
  }
}

// One block per row, any hidden size: pass 1 sums squares (and writes the fused residual), pass 2
// normalises.
template <typename T, int N, Scale S, bool kFused>
__global__ void __launch_bounds__(1024) rms_block(Params p) {
  __shared__ float partial[32];
  const int64_t row = blockIdx.x;
  const int nvec = p.hidden / N;
  const T* x = static_cast<const T*>(p.x) + row * p.hidden;
  T* res = kFused ? static_cast<T*>(p.residual) + row * p.hidden : nullptr;
  float ss = 0.f;
  for (int idx = threadIdx.x; idx < nvec; idx += blockDim.x) {
    Vec<T, N> a = load_vec<T, N>(x + idx * N);
    if constexpr (kFused) {
      Vec<T, N> r = load_vec<T, N>(res + idx * N);
#pragma unroll
      for (int j = 0; j < N; ++j) r.v[j] = from_f32<T>(to_f32(a.v[j]) + to_f32(r.v[j]));
      store_vec<T, N>(res + idx * N, r);
      a = r;
    }
#pragma unroll
    for (int j = 0; j < N; ++j) ss += to_f32(a.v[j]) * to_f32(a.v[j]);
  }
  ss = warp_sum(ss);
  if ((threadIdx.x & 31) == 0) partial[threadIdx.x / 32] = ss;
  __syncthreads();
  if (threadIdx.x < 32) {
    float t = threadIdx.x < blockDim.x / 32 ? partial[threadIdx.x] : 0.f;
    t = warp_sum(t);
    if (threadIdx.x == 0) partial[0] = t;
  }
  __syncthreads();
  const float rstd = rsqrtf(partial[0] / static_cast<float>(p.hidden) + p.eps);
  const T* src = kFused ? res : x;  // each thread re-reads only what it wrote itself
  const T* w = static_cast<const T*>(p.weight);
  T* out = static_cast<T*>(p.out) + row * p.hidden;
  for (int idx = threadIdx.x; idx < nvec; idx += blockDim.x) {
    Vec<T, N> a = load_vec<T, N>(src + idx * N), wv = load_vec<T, N>(w + idx * N), o;
#pragma unroll
    for (int j = 0; j < N; ++j)
      o.v[j] = from_f32<T>(scaled<T, S>(to_f32(a.v[j]), rstd, to_f32(wv.v[j])));
    store_vec<T, N>(out + idx * N, o);
  }
}

template <typename T, Scale S, bool kFused>
void launch(const Params& p, cudaStream_t stream) {
  constexpr int N = khub_cuda::kVec16<T>;
  bool vec = p.hidden % N == 0 && khub_cuda::aligned16(p.x) && khub_cuda::aligned16(p.weight) &&
             khub_cuda::aligned16(p.out) && (!kFused || khub_cuda::aligned16(p.residual));
  if (vec && p.hidden / N <= 256) {
    const int nvec = p.hidden / N;
    const unsigned blocks = static_cast<unsigned>((p.rows + 7) / 8);
    if (nvec <= 32)
      rms_warp<T, N, 1, S, kFused><<<blocks, 256, 0, stream>>>(p);
    else if (nvec <= 64)
      rms_warp<T, N, 2, S, kFused><<<blocks, 256, 0, stream>>>(p);
    else if (nvec <= 128)
      rms_warp<T, N, 4, S, kFused><<<blocks, 256, 0, stream>>>(p);
    else
      rms_warp<T, N, 8, S, kFused><<<blocks, 256, 0, stream>>>(p);
    return;
  }
  const int nvec = vec ? p.hidden / N : p.hidden;
  int threads = ((nvec + 31) / 32) * 32;
  threads = threads < 128 ? 128 : (threads > 1024 ? 1024 : threads);
  if (vec)
    rms_block<T, N, S, kFused><<<static_cast<unsigned>(p.rows), threads, 0, stream>>>(p);
  else
    rms_block<T, 1, S, kFused><<<static_cast<unsigned>(p.rows), threads, 0, stream>>>(p);
}

khub_status forward(const char* fn, Scale scale, bool fused, const khub_call* call,
                    khub_error* error) {
  Call c(fn, call, error);
  const int X = 0, R = 1, W = fused ? 2 : 1, O = fused ? 3 : 2;
  ElemType tx, tr, tw, to;
  if (!c.check_call(fused ? 4 : 3, 1) || !c.float_tensor(X, "x", &tx) || !c.min_rank(X, "x", 1))
    return c.status();
  const int64_t hidden = c.dim(X, -1);
  if ((fused && (!c.float_tensor(R, "residual", &tr) || !c.same_type(tr, tx, "residual", "x") ||
                 !c.shape_like(R, "residual", X, "x", hidden))) ||
      !c.float_tensor(W, "weight", &tw) || !c.same_type(tw, tx, "weight", "x") ||
      !c.rank(W, "weight", 1) || !c.float_tensor(O, "out", &to) ||
      !c.same_type(to, tx, "out", "x") || !c.shape_like(O, "out", X, "x", hidden))
    return c.status();
  if (c.dim(W, 0) != hidden) {
    c.fail(KHUB_STATUS_INVALID_ARGUMENT,
           "weight has %lld elements, expected %lld (the last dim of x)",
           static_cast<long long>(c.dim(W, 0)), static_cast<long long>(hidden));
    return c.status();
  }
  const khub_value* eps = c.attr("eps", KHUB_VALUE_FLOAT);
  if (eps == nullptr) return c.status();
  if (!std::isfinite(eps->v.f) || eps->v.f < 0) {
    c.fail(KHUB_STATUS_INVALID_ARGUMENT, "attribute eps is %g, expected a finite value >= 0",
           eps->v.f);
    return c.status();
  }
  if (hidden > (int64_t{1} << 30) || (hidden > 0 && c.numel(X) / hidden > 0x7fffffffLL)) {
    c.fail(KHUB_STATUS_UNSUPPORTED, "x is too large (%lld elements)",
           static_cast<long long>(c.numel(X)));
    return c.status();
  }
  Params p{c.data(X),
           fused ? c.data(R) : nullptr,
           c.data(W),
           c.data(O),
           hidden > 0 ? c.numel(X) / hidden : 0,
           static_cast<int>(hidden),
           static_cast<float>(eps->v.f)};
  if (p.rows == 0 || hidden == 0) return KHUB_STATUS_OK;
  return khub_cuda::dispatch(tx, [&](auto zero) {
    using T = decltype(zero);
    if (scale == Scale::kOnePlusWeight)
      launch<T, Scale::kOnePlusWeight, false>(p, c.stream());
    else if (fused)
      launch<T, Scale::kWeight, true>(p, c.stream());
    else
      launch<T, Scale::kWeight, false>(p, c.stream());
    return c.launched();
  });
}

constexpr const char* kDtypes = "f32,bf16,f16";
constexpr uint32_t kFnFlags = KHUB_FN_CAN_CAPTURE | KHUB_FN_DETERMINISTIC;
constexpr uint32_t kC = KHUB_ARG_CONTIGUOUS;

constexpr khub_attr_desc kEps[] = {{"eps", KHUB_VALUE_FLOAT, 1, {KHUB_VALUE_FLOAT, {.f = 1e-6}}}};
constexpr khub_arg_desc kForwardArgs[] = {
    {"x", KHUB_ARG_INPUT, kDtypes, -1, kC},
    {"weight", KHUB_ARG_PARAM, "same:x", 1, kC},
    {"out", KHUB_ARG_OUTPUT, "same:x", -1, kC},
};
constexpr khub_arg_desc kFusedForwardArgs[] = {
    {"x", KHUB_ARG_INPUT, kDtypes, -1, kC},
    {"residual", KHUB_ARG_INOUT, "same:x", -1, kC},
    {"weight", KHUB_ARG_PARAM, "same:x", 1, kC},
    {"out", KHUB_ARG_OUTPUT, "same:x", -1, kC},
};

}  // namespace
}  // namespace khub_rmsnorm_cuda

using khub_rmsnorm_cuda::Scale;

extern "C" {

#define KHUB_RMSNORM_ENTRY(fn, scale, fused)                                                     \
  KHUB_KERNEL_EXPORT khub_status khub_rmsnorm_##fn(const khub_call* call, khub_error* error) {   \
    return khub_cuda::guard_boundary(                                                            \
        #fn, error, [&] { return khub_rmsnorm_cuda::forward(#fn, scale, fused, call, error); }); \
  }

KHUB_RMSNORM_ENTRY(rms_norm_forward, Scale::kWeight, false)
KHUB_RMSNORM_ENTRY(gemma_rms_norm_forward, Scale::kOnePlusWeight, false)
KHUB_RMSNORM_ENTRY(fused_add_rms_norm_forward, Scale::kWeight, true)

}  // extern "C"

namespace khub_rmsnorm_cuda {
namespace {

#define KHUB_RMSNORM_FN(fn, args)                                                                  \
  {                                                                                                \
    sizeof(khub_function_desc), #fn, "khub_rmsnorm_" #fn, sizeof(args) / sizeof(args[0]), args, 1, \
        kEps, kDtypes, kFnFlags, nullptr, "{\"min_compute_capability\": \"8.0\"}"                  \
  }

const khub_function_desc kFunctions[] = {
    KHUB_RMSNORM_FN(rms_norm_forward, kForwardArgs),
    KHUB_RMSNORM_FN(gemma_rms_norm_forward, kForwardArgs),
    KHUB_RMSNORM_FN(fused_add_rms_norm_forward, kFusedForwardArgs),
};

const khub_layer_desc kLayers[] = {
    {sizeof(khub_layer_desc), "RMSNorm", "rms_norm_forward", nullptr, KHUB_LAYER_CAN_CAPTURE},
    {sizeof(khub_layer_desc), "GemmaRMSNorm", "gemma_rms_norm_forward", nullptr,
     KHUB_LAYER_CAN_CAPTURE},
    {sizeof(khub_layer_desc), "FusedAddRMSNorm", "fused_add_rms_norm_forward", nullptr,
     KHUB_LAYER_CAN_CAPTURE},
};

const khub_manifest kManifest = {KHUB_KERNEL_ABI_VERSION_MAJOR,
                                 KHUB_KERNEL_ABI_VERSION_MINOR,
                                 sizeof(khub_manifest),
                                 "rmsnorm",
                                 "cuda",
                                 sizeof(kFunctions) / sizeof(kFunctions[0]),
                                 kFunctions,
                                 sizeof(kLayers) / sizeof(kLayers[0]),
                                 kLayers};

}  // namespace
}  // namespace khub_rmsnorm_cuda

extern "C" KHUB_KERNEL_EXPORT const khub_manifest* khub_kernel_manifest(void) {
  return &khub_rmsnorm_cuda::kManifest;
}
