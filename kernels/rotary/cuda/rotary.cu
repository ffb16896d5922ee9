// khub-community/rotary, CUDA variant: rotary_pos_emb forward, in place on q [T, Hq, Dh] and
// k [T, Hk, Dh] with f32 cos/sin tables [T, R/2] (docs/layer-contracts.md), NeoX (halves) and
// GPT-J (interleaved pairs) layouts, partial rotary (R < Dh: the rest is left as it is); and the
// backward, which rotates grad_q / grad_k in place by the inverse rotation (sin negated), with the
// CPU variant's signature.
// One thread per N rotated elements of one (token, head) row — q rows then k rows in one launch —
// with 16-byte accesses: NeoX reads x[j..j+N) and x[j+R/2..j+R/2+N), GPT-J reads N consecutive
// elements (N/2 pairs). 1-element accesses when R/2 (NeoX) or R (GPT-J) is not a multiple of N or
// a pointer is unaligned. f32 math, one rounding per element.
#include "khub/kernel_manifest.h"
#include "khub_cuda/abi_cuda.cuh"

namespace khub_rotary_cuda {
namespace {

using khub_cuda::Call;
using khub_cuda::ElemType;
using khub_cuda::from_f32;
using khub_cuda::load_vec;
using khub_cuda::store_vec;
using khub_cuda::to_f32;
using khub_cuda::Vec;

struct Params {
  void* q;
  void* k;
  const float* cos;
  const float* sin;
  int64_t t, hq, hk, d, half;
  float sign;  // +1 forward; -1 backward (the inverse rotation: sin negated)
};

// NeoX: element pairs (j, j + half) for j in [c*N, c*N + N).
template <typename T, int N>
__global__ void __launch_bounds__(256) rotary_neox(Params p) {
  khub_cuda::pdl_wait();
  khub_cuda::pdl_launch_dependents();
  const int64_t chunks = p.half / N, nq = p.t * p.hq * chunks, n = nq + p.t * p.hk * chunks;
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < n;
       i += int64_t{gridDim.x} * blockDim.x) {
    const bool is_q = i < nq;
    const int64_t r = is_q ? i : i - nq, heads = is_q ? p.hq : p.hk;
    const int64_t c = r % chunks, th = r / chunks, tok = th / heads;
    T* x = static_cast<T*>(is_q ? p.q : p.k) + th * p.d + c * N;
    const float* cs = p.cos + tok * p.half + c * N;
    const float* sn = p.sin + tok * p.half + c * N;
    Vec<T, N> a = load_vec<T, N>(x), b = load_vec<T, N>(x + p.half);
    Vec<float, N> cv = load_vec<float, N>(cs), sv = load_vec<float, N>(sn);
#pragma unroll
    for (int j = 0; j < N; ++j) {
      const float x1 = to_f32(a.v[j]), x2 = to_f32(b.v[j]), s = p.sign * sv.v[j];
      a.v[j] = from_f32<T>(x1 * cv.v[j] - x2 * s);
      b.v[j] = from_f32<T>(x2 * cv.v[j] + x1 * s);
    }
    store_vec<T, N>(x, a);
    store_vec<T, N>(x + p.half, b);
  }
}

// GPT-J: N consecutive elements [c*N, c*N + N) hold the pairs c*N/2 .. c*N/2 + N/2 - 1.
template <typename T, int N>
__global__ void __launch_bounds__(256) rotary_gptj(Params p) {
  khub_cuda::pdl_wait();
  khub_cuda::pdl_launch_dependents();
  constexpr int P = N / 2;
  const int64_t chunks = 2 * p.half / N, nq = p.t * p.hq * chunks, n = nq + p.t * p.hk * chunks;
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < n;
       i += int64_t{gridDim.x} * blockDim.x) {
    const bool is_q = i < nq;
    const int64_t r = is_q ? i : i - nq, heads = is_q ? p.hq : p.hk;
    const int64_t c = r % chunks, th = r / chunks, tok = th / heads;
    T* x = static_cast<T*>(is_q ? p.q : p.k) + th * p.d + c * N;
    const float* cs = p.cos + tok * p.half + c * P;
    const float* sn = p.sin + tok * p.half + c * P;
    Vec<T, N> a;
    if constexpr (N == 2) {  // the 1-element path: x may be only element-aligned
      a.v[0] = x[0];
      a.v[1] = x[1];
    } else {
      a = load_vec<T, N>(x);
    }
    Vec<float, P> cv = load_vec<float, P>(cs), sv = load_vec<float, P>(sn);
#pragma unroll
    for (int j = 0; j < P; ++j) {
      const float x1 = to_f32(a.v[2 * j]), x2 = to_f32(a.v[2 * j + 1]), s = p.sign * sv.v[j];
      a.v[2 * j] = from_f32<T>(x1 * cv.v[j] - x2 * s);
      a.v[2 * j + 1] = from_f32<T>(x2 * cv.v[j] + x1 * s);
    }
    if constexpr (N == 2) {
      x[0] = a.v[0];
      x[1] = a.v[1];
    } else {
      store_vec<T, N>(x, a);
    }
  }
}

unsigned blocks_for(int64_t n) {
  int64_t b = (n + 255) / 256;
  return static_cast<unsigned>(b > 65536 ? 65536 : (b < 1 ? 1 : b));
}

bool aligned(const void* p, int bytes) {
  return (reinterpret_cast<uintptr_t>(p) % static_cast<uintptr_t>(bytes)) == 0;
}

template <typename T>
void launch(const Params& p, bool interleaved, cudaStream_t s) {
  constexpr int N = khub_cuda::kVec16<T>;
  const int64_t rows = p.t * (p.hq + p.hk);
  bool vec = p.d % N == 0 && khub_cuda::aligned16(p.q) && khub_cuda::aligned16(p.k);
  if (interleaved) {
    vec = vec && (2 * p.half) % N == 0 && p.half % (N / 2) == 0 && aligned(p.cos, 2 * N) &&
          aligned(p.sin, 2 * N);
    if (vec)
      khub_cuda::launch(rotary_gptj<T, N>, blocks_for(rows * 2 * p.half / N), 256, 0, s, p);
    else
      khub_cuda::launch(rotary_gptj<T, 2>, blocks_for(rows * p.half), 256, 0, s, p);
  } else {
    vec = vec && p.half % N == 0 && aligned(p.cos, 4 * N) && aligned(p.sin, 4 * N);
    if (vec)
      khub_cuda::launch(rotary_neox<T, N>, blocks_for(rows * p.half / N), 256, 0, s, p);
    else
      khub_cuda::launch(rotary_neox<T, 1>, blocks_for(rows * p.half), 256, 0, s, p);
  }
}

// The forward (q, k) and the backward (grad_q, grad_k, inverse rotation): one signature shape.
khub_status rotate(const char* fn, bool inverse, const khub_call* call, khub_error* error) {
  Call c(fn, call, error);
  const char* qn = inverse ? "grad_q" : "q";
  const char* kn = inverse ? "grad_k" : "k";
  ElemType tq, tk, tc, ts;
  if (!c.check_call(4, 2) || !c.float_tensor(0, qn, &tq) || !c.rank(0, qn, 3) ||
      !c.float_tensor(1, kn, &tk) || !c.same_type(tk, tq, kn, qn) || !c.rank(1, kn, 3) ||
      !c.float_tensor(2, "cos", &tc, true) || !c.rank(2, "cos", 2) ||
      !c.float_tensor(3, "sin", &ts, true) || !c.rank(3, "sin", 2))
    return c.status();
  const khub_value* rd = c.attr("rotary_dim", KHUB_VALUE_INT);
  const khub_value* il = rd ? c.attr("interleaved", KHUB_VALUE_BOOL) : nullptr;
  if (il == nullptr) return c.status();
  const int64_t t = c.dim(0, 0), d = c.dim(0, 2);
  if (c.dim(1, 0) != t || c.dim(1, 2) != d) {
    c.fail(KHUB_STATUS_INVALID_ARGUMENT,
           "%s [%lld, %lld, %lld] does not match %s's tokens and head dim", kn,
           static_cast<long long>(c.dim(1, 0)), static_cast<long long>(c.dim(1, 1)),
           static_cast<long long>(c.dim(1, 2)), qn);
    return c.status();
  }
  int64_t rotary_dim = rd->v.i == 0 ? 2 * c.dim(2, 1) : rd->v.i;
  if (rotary_dim < 0 || rotary_dim % 2 != 0 || rotary_dim > d) {
    c.fail(KHUB_STATUS_INVALID_ARGUMENT,
           "attribute rotary_dim is %lld, expected an even value in [0, %lld] (head_dim)",
           static_cast<long long>(rotary_dim), static_cast<long long>(d));
    return c.status();
  }
  for (int i = 2; i < 4; ++i) {
    if (c.dim(i, 0) != t || c.dim(i, 1) != rotary_dim / 2) {
      c.fail(KHUB_STATUS_INVALID_ARGUMENT, "%s has shape [%lld, %lld], expected [%lld, %lld]",
             i == 2 ? "cos" : "sin", static_cast<long long>(c.dim(i, 0)),
             static_cast<long long>(c.dim(i, 1)), static_cast<long long>(t),
             static_cast<long long>(rotary_dim / 2));
      return c.status();
    }
  }
  Params p{c.data(0),
           c.data(1),
           static_cast<const float*>(c.data(2)),
           static_cast<const float*>(c.data(3)),
           t,
           c.dim(0, 1),
           c.dim(1, 1),
           d,
           rotary_dim / 2,
           inverse ? -1.0f : 1.0f};
  if (t == 0 || p.half == 0 || p.hq + p.hk == 0) return KHUB_STATUS_OK;
  return khub_cuda::dispatch(tq, [&](auto zero) {
    launch<decltype(zero)>(p, il->v.i != 0, c.stream());
    return c.launched();
  });
}

constexpr const char* kDtypes = "f32,bf16,f16";
constexpr uint32_t kC = KHUB_ARG_CONTIGUOUS;
constexpr khub_attr_desc kAttrs[] = {
    {"rotary_dim", KHUB_VALUE_INT, 0, {KHUB_VALUE_INT, {.i = 0}}},
    {"interleaved", KHUB_VALUE_BOOL, 0, {KHUB_VALUE_BOOL, {.i = 0}}},
};
constexpr khub_arg_desc kForwardArgs[] = {
    {"q", KHUB_ARG_INOUT, kDtypes, 3, kC},
    {"k", KHUB_ARG_INOUT, "same:q", 3, kC},
    {"cos", KHUB_ARG_INPUT, "f32", 2, kC},
    {"sin", KHUB_ARG_INPUT, "f32", 2, kC},
};
constexpr khub_arg_desc kBackwardArgs[] = {
    {"grad_q", KHUB_ARG_INOUT, kDtypes, 3, kC},
    {"grad_k", KHUB_ARG_INOUT, "same:grad_q", 3, kC},
    {"cos", KHUB_ARG_INPUT, "f32", 2, kC},
    {"sin", KHUB_ARG_INPUT, "f32", 2, kC},
};

}  // namespace
}  // namespace khub_rotary_cuda

extern "C" {

KHUB_KERNEL_EXPORT khub_status khub_rotary_rotary_pos_emb_forward(const khub_call* call,
                                                                  khub_error* error) {
  return khub_cuda::guard_boundary("rotary_pos_emb_forward", error, [&] {
    return khub_rotary_cuda::rotate("rotary_pos_emb_forward", false, call, error);
  });
}

KHUB_KERNEL_EXPORT khub_status khub_rotary_rotary_pos_emb_backward(const khub_call* call,
                                                                   khub_error* error) {
  return khub_cuda::guard_boundary("rotary_pos_emb_backward", error, [&] {
    return khub_rotary_cuda::rotate("rotary_pos_emb_backward", true, call, error);
  });
}

}  // extern "C"

namespace khub_rotary_cuda {
namespace {

constexpr uint32_t kFnFlags = KHUB_FN_CAN_CAPTURE | KHUB_FN_DETERMINISTIC;
constexpr const char* kConstraints = "{\"min_compute_capability\": \"8.0\"}";

const khub_function_desc kFunctions[] = {
    {sizeof(khub_function_desc), "rotary_pos_emb_forward", "khub_rotary_rotary_pos_emb_forward", 4,
     kForwardArgs, 2, kAttrs, kDtypes, kFnFlags, nullptr, kConstraints},
    {sizeof(khub_function_desc), "rotary_pos_emb_backward", "khub_rotary_rotary_pos_emb_backward",
     4, kBackwardArgs, 2, kAttrs, kDtypes, kFnFlags, nullptr, kConstraints},
};

const khub_layer_desc kLayers[] = {
    {sizeof(khub_layer_desc), "rotary_pos_emb", "rotary_pos_emb_forward", "rotary_pos_emb_backward",
     KHUB_LAYER_HAS_BACKWARD | KHUB_LAYER_CAN_CAPTURE},
};

}  // namespace
}  // namespace khub_rotary_cuda

KHUB_DEFINE_KERNEL_MANIFEST("rotary", "cuda", khub_rotary_cuda::kFunctions,
                            khub_rotary_cuda::kLayers)
