// khub-community/linear-cross-entropy, CUDA variant (f32, bf16, f16): the LinearCrossEntropy
// layer's forward and backward (docs/layer-contracts.md; the math is written out in the CPU
// variant, kernels/linear-cross-entropy/cpu/linear_ce_cpu.cc).
//
// Per chunk of C rows (C = the chunk_rows attribute, at most T):
//   1. z = hidden_c · weightᵀ on cuBLAS: [C, V] f32 (bf16/f16 inputs, f32 accumulation and output)
//   2. one block per row: y = softcap(z), the row's max and Σ exp in one online pass, loss = lse -
//      y[target]; in the backward a second pass writes g = grad_scale · (softmax - onehot) ·
//      (1 - (y / cap)²) in the activations' dtype (in place over z for f32)
//   3. backward: grad_hidden_c = g · weight and grad_weight += gᵀ · hidden_c on cuBLAS (f32
//      accumulation; grad_weight f32 with beta 1)
// Workspace: cuBLAS's own (kCublasWorkspace, handed over with cublasSetWorkspace), z, and g when
// the dtype is not f32. Everything runs on the host's stream; after the first call on a device
// created this library's cuBLAS handle, nothing allocates device memory.
#include <cublas_v2.h>

#include <mutex>
#include <unordered_map>

#include "khub/kernel_manifest.h"
#include "khub_cuda/abi_cuda.cuh"

namespace khub_linear_ce_cuda {
namespace {

using khub_cuda::Call;
using khub_cuda::ElemType;
using khub_cuda::from_f32;
using khub_cuda::to_f32;

constexpr uint64_t kCublasWorkspace = uint64_t{32} << 20;  // what cuBLAS asks for on Hopper
constexpr uint64_t kAlign = 256;
constexpr int kThreads = 512;

uint64_t align_up(uint64_t n) { return (n + kAlign - 1) / kAlign * kAlign; }

// One cuBLAS handle per device for this copy of the library (two copies of the kernel each keep
// their own; kernel_abi.h §1). Handles live until the process ends.
cublasStatus_t handle_for_current_device(cublasHandle_t* out) {
  static std::mutex mu;
  static std::unordered_map<int, cublasHandle_t>* handles =
      new std::unordered_map<int, cublasHandle_t>();
  int device = 0;
  if (cudaGetDevice(&device) != cudaSuccess) return CUBLAS_STATUS_NOT_INITIALIZED;
  std::lock_guard<std::mutex> lock(mu);
  auto it = handles->find(device);
  if (it == handles->end()) {
    cublasHandle_t h = nullptr;
    cublasStatus_t st = cublasCreate(&h);
    if (st != CUBLAS_STATUS_SUCCESS) return st;
    it = handles->emplace(device, h).first;
  }
  *out = it->second;
  return CUBLAS_STATUS_SUCCESS;
}

struct Problem {
  ElemType type = ElemType::kF32;
  const void* hidden = nullptr;
  const void* weight = nullptr;
  const int32_t* targets = nullptr;
  int64_t t = 0, h = 0, v = 0, chunk = 0;
  float softcap = 0.0f, grad_scale = 1.0f;
  int ignore = -100;
};

size_t elem_size(ElemType t) { return t == ElemType::kF32 ? 4 : 2; }

cudaDataType_t cuda_type(ElemType t) {
  switch (t) {
    case ElemType::kF32:
      return CUDA_R_32F;
    case ElemType::kBF16:
      return CUDA_R_16BF;
    case ElemType::kF16:
      return CUDA_R_16F;
  }
  return CUDA_R_32F;
}

struct Layout {
  uint64_t z = 0, g = 0, total = 0;  // byte offsets of z and g in the workspace
};

Layout layout(const Problem& p, bool backward) {
  Layout l;
  uint64_t c = static_cast<uint64_t>(std::min(p.t, p.chunk));
  l.z = align_up(kCublasWorkspace);
  l.g = l.z + align_up(c * p.v * 4);
  l.total = l.g;
  if (backward && p.type != ElemType::kF32) l.total += align_up(c * p.v * elem_size(p.type));
  return l;
}

__device__ __forceinline__ float capped(float z, float cap) {
  return cap > 0.0f ? cap * tanhf(z / cap) : z;
}

// Block-wide reduction of (max, sum of exp relative to max) pairs.
__device__ __forceinline__ void combine(float& m, float& s, float om, float os) {
  float nm = fmaxf(m, om);
  s = (m == -INFINITY ? 0.0f : s * __expf(m - nm)) +
      (om == -INFINITY ? 0.0f : os * __expf(om - nm));
  m = nm;
}

// One block per row of the chunk: z [C, V] f32 -> loss, and (g != nullptr) the logit gradients.
template <typename G>
__global__ void __launch_bounds__(kThreads)
    row_loss(float* z, const int32_t* __restrict__ targets, int64_t v, float cap, int ignore,
             float grad_scale, float* __restrict__ loss, G* g) {
  const int64_t r = blockIdx.x;
  float* zr = z + r * v;
  const int y = targets[r];
  float m = -INFINITY, s = 0.0f;
  for (int64_t j = threadIdx.x; j < v; j += blockDim.x) {
    float x = capped(zr[j], cap);
    if (x > m) {
      s = (m == -INFINITY ? 0.0f : s * __expf(m - x)) + 1.0f;
      m = x;
    } else {
      s += __expf(x - m);
    }
  }
  for (int off = 16; off > 0; off >>= 1) {
    float om = __shfl_xor_sync(0xffffffffu, m, off), os = __shfl_xor_sync(0xffffffffu, s, off);
    combine(m, s, om, os);
  }
  __shared__ float sm[kThreads / 32], ss[kThreads / 32];
  __shared__ float lse_shared;
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  if (lane == 0) {
    sm[warp] = m;
    ss[warp] = s;
  }
  __syncthreads();
  if (threadIdx.x == 0) {
    float bm = sm[0], bs = ss[0];
    for (int w = 1; w < static_cast<int>(blockDim.x / 32); ++w) combine(bm, bs, sm[w], ss[w]);
    float lse = bm + logf(bs);
    lse_shared = lse;
    if (loss != nullptr) loss[r] = y == ignore ? 0.0f : lse - capped(zr[y], cap);
  }
  __syncthreads();
  if (g == nullptr) return;
  const float lse = lse_shared;
  G* gr = g + r * v;
  for (int64_t j = threadIdx.x; j < v; j += blockDim.x) {
    float out = 0.0f;
    if (y != ignore) {
      float x = capped(zr[j], cap);
      out = __expf(x - lse) - (j == y ? 1.0f : 0.0f);
      if (cap > 0.0f) out *= 1.0f - (x / cap) * (x / cap);
      out *= grad_scale;
    }
    gr[j] = from_f32<G>(out);
  }
}

bool read(Call& c, bool backward, Problem* p) {
  double softcap = 0.0, scale = 1.0;
  int64_t ignore = -100, chunk = 0;
  if (!c.check_call(backward ? 5 : 4, backward ? 4 : 3) || !c.float_tensor(0, "hidden", &p->type) ||
      !c.rank(0, "hidden", 2) || !c.rank(1, "weight", 2) || !c.i32_tensor(2, "targets") ||
      !c.rank(2, "targets", 1))
    return false;
  ElemType wt = ElemType::kF32;
  if (!c.float_tensor(1, "weight", &wt) || !c.same_type(wt, p->type, "weight", "hidden"))
    return false;
  const khub_value* a = c.attr("softcap", KHUB_VALUE_FLOAT);
  if (a == nullptr) return false;
  softcap = a->v.f;
  if ((a = c.attr("ignore_index", KHUB_VALUE_INT)) == nullptr) return false;
  ignore = a->v.i;
  if ((a = c.attr("chunk_rows", KHUB_VALUE_INT)) == nullptr) return false;
  chunk = a->v.i;
  if (backward) {
    if ((a = c.attr("grad_scale", KHUB_VALUE_FLOAT)) == nullptr) return false;
    scale = a->v.f;
  }
  p->t = c.dim(0, 0);
  p->h = c.dim(0, 1);
  p->v = c.dim(1, 0);
  if (c.dim(1, 1) != p->h)
    return c.fail(KHUB_STATUS_INVALID_ARGUMENT, "weight has rows of %lld, expected %lld (hidden)",
                  static_cast<long long>(c.dim(1, 1)), static_cast<long long>(p->h));
  if (c.dim(2, 0) != p->t)
    return c.fail(KHUB_STATUS_INVALID_ARGUMENT, "targets has %lld rows, expected %lld (hidden)",
                  static_cast<long long>(c.dim(2, 0)), static_cast<long long>(p->t));
  if (p->v <= 0 || p->h <= 0 || p->v > INT32_MAX || p->h > INT32_MAX)
    return c.fail(KHUB_STATUS_INVALID_ARGUMENT, "weight [%lld, %lld] must have sizes in [1, 2^31)",
                  static_cast<long long>(p->v), static_cast<long long>(p->h));
  if (chunk < 0) return c.fail(KHUB_STATUS_INVALID_ARGUMENT, "chunk_rows is negative");
  p->chunk = std::min<int64_t>(chunk == 0 ? 256 : chunk, INT32_MAX / p->v);
  p->chunk = std::max<int64_t>(p->chunk, 1);
  p->softcap = static_cast<float>(softcap);
  p->grad_scale = static_cast<float>(scale);
  p->ignore = static_cast<int>(ignore);
  p->hidden = c.data(0);
  p->weight = c.data(1);
  p->targets = static_cast<const int32_t*>(c.data(2));
  return true;
}

bool cublas_ok(Call& c, cublasStatus_t st, const char* what) {
  if (st == CUBLAS_STATUS_SUCCESS) return true;
  return c.fail(KHUB_STATUS_DEVICE_ERROR, "%s failed: %s", what, cublasGetStatusString(st));
}

// Row-major [rows, cols] matrices as cuBLAS's column-major [cols, rows]: the helper takes the
// row-major description and swaps for cuBLAS.
bool gemm(Call& c, cublasHandle_t hnd, bool ta, bool tb, int64_t m, int64_t n, int64_t k,
          const void* a, cudaDataType_t at, int64_t lda, const void* b, cudaDataType_t bt,
          int64_t ldb, float beta, void* out, cudaDataType_t ot, int64_t ldc, const char* what) {
  // Row-major out[m, n] = op(A)[m, k] · op(B)[k, n]  <=>  column-major outᵀ = op(B)ᵀ · op(A)ᵀ.
  const float alpha = 1.0f;
  return cublas_ok(
      c,
      cublasGemmEx(hnd, tb ? CUBLAS_OP_T : CUBLAS_OP_N, ta ? CUBLAS_OP_T : CUBLAS_OP_N,
                   static_cast<int>(n), static_cast<int>(m), static_cast<int>(k), &alpha, b, bt,
                   static_cast<int>(ldb), a, at, static_cast<int>(lda), &beta, out, ot,
                   static_cast<int>(ldc), CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT),
      what);
}

khub_status run(const khub_call* call, khub_error* error, bool backward) {
  const char* name = backward ? "linear_cross_entropy_backward" : "linear_cross_entropy_forward";
  Call c(name, call, error);
  Problem p;
  if (!read(c, backward, &p)) return c.status();
  float* loss = nullptr;
  void* grad_hidden = nullptr;
  float* grad_weight = nullptr;
  if (backward) {
    ElemType gt = ElemType::kF32, wt = ElemType::kF32;
    if (!c.float_tensor(3, "grad_hidden", &gt) ||
        !c.same_type(gt, p.type, "grad_hidden", "hidden") ||
        !c.shape_like(3, "grad_hidden", 0, "hidden", p.h) ||
        !c.float_tensor(4, "grad_weight", &wt, true) ||
        !c.shape_like(4, "grad_weight", 1, "weight", p.h))
      return c.status();
    grad_hidden = c.data(3);
    grad_weight = static_cast<float*>(c.data(4));
  } else {
    ElemType lt = ElemType::kF32;
    if (!c.float_tensor(3, "loss", &lt, true) || !c.rank(3, "loss", 1)) return c.status();
    if (c.dim(3, 0) != p.t) {
      c.fail(KHUB_STATUS_INVALID_ARGUMENT, "loss has %lld rows, expected %lld",
             static_cast<long long>(c.dim(3, 0)), static_cast<long long>(p.t));
      return c.status();
    }
    loss = static_cast<float*>(c.data(3));
  }
  if (p.t == 0) return KHUB_STATUS_OK;
  const Layout l = layout(p, backward);
  if (call->context->workspace == nullptr || call->context->workspace_bytes < l.total) {
    c.fail(KHUB_STATUS_INVALID_ARGUMENT, "workspace of %llu bytes, expected %llu",
           static_cast<unsigned long long>(call->context->workspace_bytes),
           static_cast<unsigned long long>(l.total));
    return c.status();
  }
  char* ws = static_cast<char*>(call->context->workspace);
  float* z = reinterpret_cast<float*>(ws + l.z);
  void* g = p.type == ElemType::kF32 ? static_cast<void*>(z) : static_cast<void*>(ws + l.g);

  cublasHandle_t hnd = nullptr;
  if (!cublas_ok(c, handle_for_current_device(&hnd), "cublasCreate") ||
      !cublas_ok(c, cublasSetStream(hnd, c.stream()), "cublasSetStream") ||
      !cublas_ok(c, cublasSetWorkspace(hnd, ws, kCublasWorkspace), "cublasSetWorkspace") ||
      !cublas_ok(c, cublasSetMathMode(hnd, CUBLAS_DEFAULT_MATH), "cublasSetMathMode"))
    return c.status();

  const cudaDataType_t dt = cuda_type(p.type);
  const size_t es = elem_size(p.type);
  const char* hidden = static_cast<const char*>(p.hidden);
  for (int64_t r0 = 0; r0 < p.t; r0 += p.chunk) {
    const int64_t n = std::min(p.chunk, p.t - r0);
    const void* hc = hidden + r0 * p.h * es;
    // z[n, V] = hidden_c[n, H] · weight[V, H]ᵀ
    if (!gemm(c, hnd, false, true, n, p.v, p.h, hc, dt, p.h, p.weight, dt, p.h, 0.0f, z, CUDA_R_32F,
              p.v, "logits GEMM"))
      return c.status();
    khub_status st = khub_cuda::dispatch(backward ? p.type : ElemType::kF32, [&](auto zero) {
      using G = decltype(zero);
      row_loss<G><<<static_cast<unsigned>(n), kThreads, 0, c.stream()>>>(
          z, p.targets + r0, p.v, p.softcap, p.ignore, p.grad_scale, backward ? nullptr : loss + r0,
          backward ? static_cast<G*>(g) : nullptr);
      return c.launched();
    });
    if (st != KHUB_STATUS_OK) return st;
    if (!backward) continue;
    // grad_hidden_c[n, H] = g[n, V] · weight[V, H]
    if (!gemm(c, hnd, false, false, n, p.h, p.v, g, dt, p.v, p.weight, dt, p.h, 0.0f,
              static_cast<char*>(grad_hidden) + r0 * p.h * es, dt, p.h, "grad_hidden GEMM"))
      return c.status();
    // grad_weight[V, H] += g[n, V]ᵀ · hidden_c[n, H]
    if (!gemm(c, hnd, true, false, p.v, p.h, n, g, dt, p.v, hc, dt, p.h, 1.0f, grad_weight,
              CUDA_R_32F, p.h, "grad_weight GEMM"))
      return c.status();
  }
  return KHUB_STATUS_OK;
}

uint64_t workspace(const khub_call* call, bool backward) {
  Call c(backward ? "linear_cross_entropy_backward" : "linear_cross_entropy_forward", call,
         nullptr);
  Problem p;
  if (!read(c, backward, &p)) return 0;
  return layout(p, backward).total;
}
uint64_t forward_workspace(const khub_call* call) { return workspace(call, false); }
uint64_t backward_workspace(const khub_call* call) { return workspace(call, true); }

constexpr const char* kDtypes = "f32,bf16,f16";
constexpr khub_attr_desc kForwardAttrs[] = {
    {"softcap", KHUB_VALUE_FLOAT, 0, {KHUB_VALUE_FLOAT, {.f = 0.0}}},
    {"ignore_index", KHUB_VALUE_INT, 0, {KHUB_VALUE_INT, {.i = -100}}},
    {"chunk_rows", KHUB_VALUE_INT, 0, {KHUB_VALUE_INT, {.i = 0}}},
};
constexpr khub_attr_desc kBackwardAttrs[] = {
    {"softcap", KHUB_VALUE_FLOAT, 0, {KHUB_VALUE_FLOAT, {.f = 0.0}}},
    {"ignore_index", KHUB_VALUE_INT, 0, {KHUB_VALUE_INT, {.i = -100}}},
    {"chunk_rows", KHUB_VALUE_INT, 0, {KHUB_VALUE_INT, {.i = 0}}},
    {"grad_scale", KHUB_VALUE_FLOAT, 0, {KHUB_VALUE_FLOAT, {.f = 1.0}}},
};
constexpr khub_arg_desc kForwardArgs[] = {
    {"hidden", KHUB_ARG_INPUT, kDtypes, 2, KHUB_ARG_CONTIGUOUS},
    {"weight", KHUB_ARG_PARAM, "same:hidden", 2, KHUB_ARG_CONTIGUOUS},
    {"targets", KHUB_ARG_INPUT, "i32", 1, KHUB_ARG_CONTIGUOUS},
    {"loss", KHUB_ARG_OUTPUT, "f32", 1, KHUB_ARG_CONTIGUOUS},
};
constexpr khub_arg_desc kBackwardArgs[] = {
    {"hidden", KHUB_ARG_INPUT, kDtypes, 2, KHUB_ARG_CONTIGUOUS},
    {"weight", KHUB_ARG_PARAM, "same:hidden", 2, KHUB_ARG_CONTIGUOUS},
    {"targets", KHUB_ARG_INPUT, "i32", 1, KHUB_ARG_CONTIGUOUS},
    {"grad_hidden", KHUB_ARG_OUTPUT, "same:hidden", 2, KHUB_ARG_CONTIGUOUS},
    {"grad_weight", KHUB_ARG_INOUT, "f32", 2, KHUB_ARG_CONTIGUOUS},
};

}  // namespace
}  // namespace khub_linear_ce_cuda

extern "C" {

KHUB_KERNEL_EXPORT khub_status khub_linear_cross_entropy_forward(const khub_call* call,
                                                                 khub_error* error) {
  return khub_cuda::guard_boundary("linear_cross_entropy_forward", error,
                                   [&] { return khub_linear_ce_cuda::run(call, error, false); });
}

KHUB_KERNEL_EXPORT khub_status khub_linear_cross_entropy_backward(const khub_call* call,
                                                                  khub_error* error) {
  return khub_cuda::guard_boundary("linear_cross_entropy_backward", error,
                                   [&] { return khub_linear_ce_cuda::run(call, error, true); });
}

}  // extern "C"

namespace khub_linear_ce_cuda {
namespace {

// Capturable: the GEMMs run on a per-device cuBLAS handle (created at the first, eager call) over
// the call's workspace, the row kernels on the call's stream; nothing is read back or allocated.
constexpr uint32_t kFnFlags = KHUB_FN_CAN_CAPTURE;

const khub_function_desc kFunctions[] = {
    {sizeof(khub_function_desc), "linear_cross_entropy_forward",
     "khub_linear_cross_entropy_forward", 4, kForwardArgs, 3, kForwardAttrs, kDtypes, kFnFlags,
     forward_workspace, R"({"softcap": true, "ignore_index": true})"},
    {sizeof(khub_function_desc), "linear_cross_entropy_backward",
     "khub_linear_cross_entropy_backward", 5, kBackwardArgs, 4, kBackwardAttrs, kDtypes, kFnFlags,
     backward_workspace, R"({"softcap": true, "ignore_index": true})"},
};

const khub_layer_desc kLayers[] = {
    {sizeof(khub_layer_desc), "LinearCrossEntropy", "linear_cross_entropy_forward",
     "linear_cross_entropy_backward", KHUB_LAYER_HAS_BACKWARD | KHUB_LAYER_CAN_CAPTURE},
};

}  // namespace
}  // namespace khub_linear_ce_cuda

KHUB_DEFINE_KERNEL_MANIFEST("linear-cross-entropy", "cuda", khub_linear_ce_cuda::kFunctions,
                            khub_linear_ce_cuda::kLayers)
