// khub-community/activation, CUDA variant: SiluAndMul, GeluTanhAndMul and GeluAndMul forward and
// backward (docs/layer-contracts.md), x = [a | b] along the last dim (D each):
//   forward   out = f(a) * b
//   backward  grad_a = grad_out * b * f'(a), grad_b = grad_out * f(a)  (grad_x = [grad_a | grad_b])
// with f' as the CPU variant computes it (kernels/activation/cpu/activation_compute.h):
//   silu       s = sigmoid(a), f' = s (1 + a (1 - s))
//   gelu_tanh  s = sigmoid(k), k = a (c1 + c2 a^2), f' = s + a s (1 - s) (c1 + 3 c2 a^2)
//   gelu       f' = Phi(a) + a phi(a)
// Memory-bound: one thread per 16-byte vector of the output (forward: two 16-byte loads, one
// store; backward: three loads, two stores), a grid-stride loop over rows x vectors; 1-element
// accesses when D is not a multiple of the vector or a pointer is unaligned. f32 math, one
// rounding per output.
#include "khub/kernel_manifest.h"
#include "khub_cuda/abi_cuda.cuh"

namespace khub_activation_cuda {
namespace {

using khub_cuda::Call;
using khub_cuda::ElemType;
using khub_cuda::from_f32;
using khub_cuda::load_vec;
using khub_cuda::store_vec;
using khub_cuda::to_f32;
using khub_cuda::Vec;

enum class Act { kSilu, kGeluTanh, kGelu };

template <Act A>
__device__ __forceinline__ float act(float v) {
  if constexpr (A == Act::kSilu) return v / (1.0f + __expf(-v));
  if constexpr (A == Act::kGeluTanh) {
    const float k = 0.7978845608028654f;  // sqrt(2 / pi)
    return 0.5f * v * (1.0f + tanhf(k * (v + 0.044715f * v * v * v)));
  }
  return 0.5f * v * (1.0f + erff(v * 0.7071067811865476f));
}

template <typename T, int N, Act A>
__global__ void __launch_bounds__(256)
    act_and_mul(const T* __restrict__ x, T* __restrict__ out, int64_t rows, int64_t d) {
  khub_cuda::pdl_wait();
  khub_cuda::pdl_launch_dependents();
  const int64_t vpr = d / N, n = rows * vpr;
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < n;
       i += int64_t{gridDim.x} * blockDim.x) {
    const int64_t row = i / vpr, col = (i - row * vpr) * N;
    const T* xr = x + row * 2 * d;
    Vec<T, N> a = load_vec<T, N>(xr + col), b = load_vec<T, N>(xr + d + col), o;
#pragma unroll
    for (int j = 0; j < N; ++j) o.v[j] = from_f32<T>(act<A>(to_f32(a.v[j])) * to_f32(b.v[j]));
    store_vec<T, N>(out + row * d + col, o);
  }
}

constexpr float kGeluTanhC1 = 1.5957691216057308f;   // 2 sqrt(2 / pi)
constexpr float kGeluTanhC2 = 0.07135481627159393f;  // 0.044715 * c1

// f(a) and f'(a) in f32.
template <Act A>
__device__ __forceinline__ void act_and_derivative(float a, float* f, float* df) {
  if constexpr (A == Act::kSilu) {
    const float s = 1.0f / (1.0f + __expf(-a));
    *f = a * s;
    *df = s * (1.0f + a * (1.0f - s));
  } else if constexpr (A == Act::kGeluTanh) {
    const float a2 = a * a;
    const float s = 1.0f / (1.0f + __expf(-a * (kGeluTanhC1 + kGeluTanhC2 * a2)));
    *f = a * s;
    *df = s + a * s * (1.0f - s) * (kGeluTanhC1 + 3.0f * kGeluTanhC2 * a2);
  } else {
    // Phi(a) from erfc, accurate for negative a where 1 + erf(a / sqrt 2) cancels.
    const float cdf = 0.5f * erfcf(-a * 0.7071067811865476f);
    const float pdf = 0.3989422804014327f * expf(-0.5f * a * a);  // 1 / sqrt(2 pi)
    *f = a * cdf;
    *df = cdf + a * pdf;
  }
}

template <typename T, int N, Act A>
__global__ void __launch_bounds__(256)
    act_and_mul_backward(const T* __restrict__ x, const T* __restrict__ grad_out,
                         T* __restrict__ grad_x, int64_t rows, int64_t d) {
  const int64_t vpr = d / N, n = rows * vpr;
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < n;
       i += int64_t{gridDim.x} * blockDim.x) {
    const int64_t row = i / vpr, col = (i - row * vpr) * N;
    const T* xr = x + row * 2 * d;
    T* gxr = grad_x + row * 2 * d;
    Vec<T, N> a = load_vec<T, N>(xr + col), b = load_vec<T, N>(xr + d + col);
    Vec<T, N> g = load_vec<T, N>(grad_out + row * d + col), ga, gb;
#pragma unroll
    for (int j = 0; j < N; ++j) {
      float f, df;
      act_and_derivative<A>(to_f32(a.v[j]), &f, &df);
      const float gf = to_f32(g.v[j]);
      ga.v[j] = from_f32<T>(gf * to_f32(b.v[j]) * df);
      gb.v[j] = from_f32<T>(gf * f);
    }
    store_vec<T, N>(gxr + col, ga);
    store_vec<T, N>(gxr + d + col, gb);
  }
}

// Blocks for `items` threads of work: a grid-stride loop over at most 16 blocks per SM, enough
// resident warps to keep loads in flight.
unsigned grid_for(int64_t items, int sms) {
  int64_t blocks = (items + 255) / 256;
  const int64_t cap = int64_t{sms} * 16;
  return static_cast<unsigned>(blocks > cap ? cap : blocks);
}

int sm_count() {
  int dev = 0, sms = 132;
  if (cudaGetDevice(&dev) == cudaSuccess)
    cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, dev);
  return sms;
}

template <typename T, Act A>
void launch(const T* x, T* out, int64_t rows, int64_t d, int sms, cudaStream_t stream) {
  constexpr int N = khub_cuda::kVec16<T>;
  const bool vec = d % N == 0 && khub_cuda::aligned16(x) && khub_cuda::aligned16(out);
  const unsigned blocks = grid_for(rows * (vec ? d / N : d), sms);
  if (vec)
    khub_cuda::launch(act_and_mul<T, N, A>, blocks, 256, 0, stream, x, out, rows, d);
  else
    khub_cuda::launch(act_and_mul<T, 1, A>, blocks, 256, 0, stream, x, out, rows, d);
}

template <typename T, Act A>
void launch_backward(const T* x, const T* grad_out, T* grad_x, int64_t rows, int64_t d, int sms,
                     cudaStream_t stream) {
  constexpr int N = khub_cuda::kVec16<T>;
  const bool vec = d % N == 0 && khub_cuda::aligned16(x) && khub_cuda::aligned16(grad_out) &&
                   khub_cuda::aligned16(grad_x);
  const unsigned blocks = grid_for(rows * (vec ? d / N : d), sms);
  if (vec)
    act_and_mul_backward<T, N, A><<<blocks, 256, 0, stream>>>(x, grad_out, grad_x, rows, d);
  else
    act_and_mul_backward<T, 1, A><<<blocks, 256, 0, stream>>>(x, grad_out, grad_x, rows, d);
}

khub_status forward(const char* fn, Act a, const khub_call* call, khub_error* error) {
  Call c(fn, call, error);
  ElemType tx, to;
  if (!c.check_call(2, 0) || !c.float_tensor(0, "x", &tx) || !c.min_rank(0, "x", 1) ||
      !c.float_tensor(1, "out", &to) || !c.same_type(to, tx, "out", "x"))
    return c.status();
  const int64_t two_d = c.dim(0, -1);
  if (two_d % 2 != 0) {
    c.fail(KHUB_STATUS_INVALID_ARGUMENT, "the last dim of x is %lld, expected an even size",
           static_cast<long long>(two_d));
    return c.status();
  }
  const int64_t d = two_d / 2;
  if (!c.shape_like(1, "out", 0, "x", d)) return c.status();
  const int64_t rows = d > 0 ? c.numel(0) / two_d : 0;
  if (rows == 0 || d == 0) return KHUB_STATUS_OK;
  const int sms = sm_count();
  return khub_cuda::dispatch(tx, [&](auto zero) {
    using T = decltype(zero);
    const T* x = static_cast<const T*>(c.data(0));
    T* out = static_cast<T*>(c.data(1));
    if (a == Act::kSilu)
      launch<T, Act::kSilu>(x, out, rows, d, sms, c.stream());
    else if (a == Act::kGeluTanh)
      launch<T, Act::kGeluTanh>(x, out, rows, d, sms, c.stream());
    else
      launch<T, Act::kGelu>(x, out, rows, d, sms, c.stream());
    return c.launched();
  });
}

khub_status backward(const char* fn, Act a, const khub_call* call, khub_error* error) {
  Call c(fn, call, error);
  ElemType tx, tg, tgx;
  if (!c.check_call(3, 0) || !c.float_tensor(0, "x", &tx) || !c.min_rank(0, "x", 1) ||
      !c.float_tensor(1, "grad_out", &tg) || !c.same_type(tg, tx, "grad_out", "x") ||
      !c.float_tensor(2, "grad_x", &tgx) || !c.same_type(tgx, tx, "grad_x", "x"))
    return c.status();
  const int64_t two_d = c.dim(0, -1);
  if (two_d % 2 != 0) {
    c.fail(KHUB_STATUS_INVALID_ARGUMENT, "the last dim of x is %lld, expected an even size",
           static_cast<long long>(two_d));
    return c.status();
  }
  const int64_t d = two_d / 2;
  if (!c.shape_like(1, "grad_out", 0, "x", d) || !c.shape_like(2, "grad_x", 0, "x", two_d))
    return c.status();
  const int64_t rows = d > 0 ? c.numel(0) / two_d : 0;
  if (rows == 0 || d == 0) return KHUB_STATUS_OK;
  const int sms = sm_count();
  return khub_cuda::dispatch(tx, [&](auto zero) {
    using T = decltype(zero);
    const T* x = static_cast<const T*>(c.data(0));
    const T* g = static_cast<const T*>(c.data(1));
    T* gx = static_cast<T*>(c.data(2));
    if (a == Act::kSilu)
      launch_backward<T, Act::kSilu>(x, g, gx, rows, d, sms, c.stream());
    else if (a == Act::kGeluTanh)
      launch_backward<T, Act::kGeluTanh>(x, g, gx, rows, d, sms, c.stream());
    else
      launch_backward<T, Act::kGelu>(x, g, gx, rows, d, sms, c.stream());
    return c.launched();
  });
}

constexpr const char* kDtypes = "f32,bf16,f16";
constexpr uint32_t kFnFlags = KHUB_FN_CAN_CAPTURE | KHUB_FN_DETERMINISTIC;
constexpr khub_arg_desc kForwardArgs[] = {
    {"x", KHUB_ARG_INPUT, kDtypes, -1, KHUB_ARG_CONTIGUOUS},
    {"out", KHUB_ARG_OUTPUT, "same:x", -1, KHUB_ARG_CONTIGUOUS},
};
constexpr khub_arg_desc kBackwardArgs[] = {
    {"x", KHUB_ARG_INPUT, kDtypes, -1, KHUB_ARG_CONTIGUOUS},
    {"grad_out", KHUB_ARG_INPUT, "same:x", -1, KHUB_ARG_CONTIGUOUS},
    {"grad_x", KHUB_ARG_OUTPUT, "same:x", -1, KHUB_ARG_CONTIGUOUS},
};

}  // namespace
}  // namespace khub_activation_cuda

using khub_activation_cuda::Act;

extern "C" {

#define KHUB_ACTIVATION_ENTRY(fn, impl, a)                                                        \
  KHUB_KERNEL_EXPORT khub_status khub_activation_##fn(const khub_call* call, khub_error* error) { \
    return khub_cuda::guard_boundary(                                                             \
        #fn, error, [&] { return khub_activation_cuda::impl(#fn, a, call, error); });             \
  }

KHUB_ACTIVATION_ENTRY(silu_and_mul_forward, forward, Act::kSilu)
KHUB_ACTIVATION_ENTRY(silu_and_mul_backward, backward, Act::kSilu)
KHUB_ACTIVATION_ENTRY(gelu_tanh_and_mul_forward, forward, Act::kGeluTanh)
KHUB_ACTIVATION_ENTRY(gelu_tanh_and_mul_backward, backward, Act::kGeluTanh)
KHUB_ACTIVATION_ENTRY(gelu_and_mul_forward, forward, Act::kGelu)
KHUB_ACTIVATION_ENTRY(gelu_and_mul_backward, backward, Act::kGelu)

}  // extern "C"

namespace khub_activation_cuda {
namespace {

#define KHUB_ACTIVATION_FN(fn, args)                                                               \
  {                                                                                                \
    sizeof(khub_function_desc), #fn, "khub_activation_" #fn, sizeof(args) / sizeof(args[0]), args, \
        0, nullptr, kDtypes, kFnFlags, nullptr, "{\"min_compute_capability\": \"8.0\"}"            \
  }

const khub_function_desc kFunctions[] = {
    KHUB_ACTIVATION_FN(silu_and_mul_forward, kForwardArgs),
    KHUB_ACTIVATION_FN(silu_and_mul_backward, kBackwardArgs),
    KHUB_ACTIVATION_FN(gelu_tanh_and_mul_forward, kForwardArgs),
    KHUB_ACTIVATION_FN(gelu_tanh_and_mul_backward, kBackwardArgs),
    KHUB_ACTIVATION_FN(gelu_and_mul_forward, kForwardArgs),
    KHUB_ACTIVATION_FN(gelu_and_mul_backward, kBackwardArgs),
};

constexpr uint32_t kLayerFlags = KHUB_LAYER_HAS_BACKWARD | KHUB_LAYER_CAN_CAPTURE;
const khub_layer_desc kLayers[] = {
    {sizeof(khub_layer_desc), "SiluAndMul", "silu_and_mul_forward", "silu_and_mul_backward",
     kLayerFlags},
    {sizeof(khub_layer_desc), "GeluTanhAndMul", "gelu_tanh_and_mul_forward",
     "gelu_tanh_and_mul_backward", kLayerFlags},
    {sizeof(khub_layer_desc), "GeluAndMul", "gelu_and_mul_forward", "gelu_and_mul_backward",
     kLayerFlags},
};

}  // namespace
}  // namespace khub_activation_cuda

KHUB_DEFINE_KERNEL_MANIFEST("activation", "cuda", khub_activation_cuda::kFunctions,
                            khub_activation_cuda::kLayers)
