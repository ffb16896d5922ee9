// Gated activations, tier 3: the khub kernel ABI (include/khub/kernel_abi.h). The manifest, and one
// exported function per entry that validates its khub_call and dispatches on the dtype.
//
// Signatures (docs/layer-contracts.md; no attributes):
//   <act>_and_mul_forward   x [..., 2D] -> out [..., D]
//   <act>_and_mul_backward  x [..., 2D], grad_out [..., D] -> grad_x [..., 2D]
// for act in silu (SiluAndMul), gelu_tanh (GeluTanhAndMul), gelu (GeluAndMul).
#include <cstdio>

#include "activation_launch.h"
#include "khub/kernel_abi.h"
#include "khub/kernel_manifest.h"
#include "khub_cpu/abi_args.h"

namespace khub_activation {
namespace {

using khub_cpu::CallArgs;
using khub_cpu::ElemType;

constexpr const char* kDtypes = "f32,bf16,f16";

// x: floating, rank >= 1, even last dim. Returns D through *d.
bool check_x(CallArgs& c, int x, ElemType* type, int64_t* d) {
  if (!c.float_tensor(x, "x", type) || !c.min_rank(x, "x", 1)) return false;
  const DLTensor& t = c.tensor(x);
  int64_t last = t.shape[t.ndim - 1];
  if (last % 2 != 0)
    return c.fail(KHUB_STATUS_INVALID_ARGUMENT,
                  "x has last dim %lld, expected an even size 2 x D (gate and up halves)",
                  static_cast<long long>(last));
  *d = last / 2;
  return true;
}

// Tensor i has x's dtype and shape x.shape[:-1] + [last].
bool check_like_x(CallArgs& c, int i, const char* name, int x, int64_t last, bool output) {
  ElemType t;
  if (!c.float_tensor(i, name, &t) || !c.same_dtype(i, name, x, "x")) return false;
  const DLTensor& xt = c.tensor(x);
  int64_t shape[64];
  if (xt.ndim > 64) return c.fail(KHUB_STATUS_INVALID_ARGUMENT, "x has %d dims", xt.ndim);
  for (int k = 0; k < xt.ndim; ++k) shape[k] = xt.shape[k];
  shape[xt.ndim - 1] = last;
  char why[96];
  std::snprintf(why, sizeof(why), "the leading dims of x, then %lld", static_cast<long long>(last));
  return c.shape_is(i, name, shape, xt.ndim, why) && (!output || c.writable(i, name));
}

khub_status forward(const char* fn, Act act, const khub_call* call, khub_error* error) {
  CallArgs c(fn, call, error);
  ElemType type = ElemType::kF32;
  int64_t d = 0;
  khub_cpu::RowLayout x_rows, out_rows;
  if (!c.check_call(2, 0) || !check_x(c, 0, &type, &d) || !check_like_x(c, 1, "out", 0, d, true) ||
      !c.rows(0, "x", &x_rows) || !c.rows(1, "out", &out_rows))
    return c.status();
  return khub_cpu::dispatch_float_type(type, [&](auto zero) {
    using T = decltype(zero);
    ForwardArgs<T> a;
    a.x = static_cast<const T*>(c.data(0));
    a.x_rows = x_rows;
    a.out = static_cast<T*>(c.data(1));
    a.out_rows = out_rows;
    a.d = d;
    a.act = act;
    khub_cpu::ErrorText text;
    return c.finish(activation_forward(a, c.num_threads(), &text), text);
  });
}

khub_status backward(const char* fn, Act act, const khub_call* call, khub_error* error) {
  CallArgs c(fn, call, error);
  ElemType type = ElemType::kF32;
  int64_t d = 0;
  khub_cpu::RowLayout x_rows, g_rows, gx_rows;
  if (!c.check_call(3, 0) || !check_x(c, 0, &type, &d) ||
      !check_like_x(c, 1, "grad_out", 0, d, false) ||
      !check_like_x(c, 2, "grad_x", 0, 2 * d, true) || !c.rows(0, "x", &x_rows) ||
      !c.rows(1, "grad_out", &g_rows) || !c.rows(2, "grad_x", &gx_rows))
    return c.status();
  return khub_cpu::dispatch_float_type(type, [&](auto zero) {
    using T = decltype(zero);
    BackwardArgs<T> a;
    a.x = static_cast<const T*>(c.data(0));
    a.x_rows = x_rows;
    a.grad_out = static_cast<const T*>(c.data(1));
    a.grad_out_rows = g_rows;
    a.grad_x = static_cast<T*>(c.data(2));
    a.grad_x_rows = gx_rows;
    a.d = d;
    a.act = act;
    khub_cpu::ErrorText text;
    return c.finish(activation_backward(a, c.num_threads(), &text), text);
  });
}

constexpr khub_arg_desc kForwardArgs[] = {
    {"x", KHUB_ARG_INPUT, kDtypes, -1, 0},
    {"out", KHUB_ARG_OUTPUT, "same:x", -1, 0},
};
constexpr khub_arg_desc kBackwardArgs[] = {
    {"x", KHUB_ARG_INPUT, kDtypes, -1, 0},
    {"grad_out", KHUB_ARG_INPUT, "same:x", -1, 0},
    {"grad_x", KHUB_ARG_OUTPUT, "same:x", -1, 0},
};

}  // namespace
}  // namespace khub_activation

using khub_activation::Act;

extern "C" {

#define KHUB_ACTIVATION_ENTRY(fn, body)                                                           \
  KHUB_KERNEL_EXPORT khub_status khub_activation_##fn(const khub_call* call, khub_error* error) { \
    return khub_cpu::guard_boundary(#fn, error, [&] { return body; });                            \
  }

KHUB_ACTIVATION_ENTRY(silu_and_mul_forward,
                      khub_activation::forward("silu_and_mul_forward", Act::kSilu, call, error))
KHUB_ACTIVATION_ENTRY(silu_and_mul_backward,
                      khub_activation::backward("silu_and_mul_backward", Act::kSilu, call, error))
KHUB_ACTIVATION_ENTRY(gelu_tanh_and_mul_forward,
                      khub_activation::forward("gelu_tanh_and_mul_forward", Act::kGeluTanh, call,
                                               error))
KHUB_ACTIVATION_ENTRY(gelu_tanh_and_mul_backward,
                      khub_activation::backward("gelu_tanh_and_mul_backward", Act::kGeluTanh, call,
                                                error))
KHUB_ACTIVATION_ENTRY(gelu_and_mul_forward,
                      khub_activation::forward("gelu_and_mul_forward", Act::kGelu, call, error))
KHUB_ACTIVATION_ENTRY(gelu_and_mul_backward,
                      khub_activation::backward("gelu_and_mul_backward", Act::kGelu, call, error))

}  // extern "C"

namespace khub_activation {
namespace {

#define KHUB_ACTIVATION_FN(fn, args)                                                               \
  {                                                                                                \
    sizeof(khub_function_desc), #fn, "khub_activation_" #fn, sizeof(args) / sizeof(args[0]), args, \
        0, nullptr, kDtypes, KHUB_FN_DETERMINISTIC, nullptr, "{}"                                  \
  }

const khub_function_desc kFunctions[] = {
    KHUB_ACTIVATION_FN(silu_and_mul_forward, kForwardArgs),
    KHUB_ACTIVATION_FN(silu_and_mul_backward, kBackwardArgs),
    KHUB_ACTIVATION_FN(gelu_tanh_and_mul_forward, kForwardArgs),
    KHUB_ACTIVATION_FN(gelu_tanh_and_mul_backward, kBackwardArgs),
    KHUB_ACTIVATION_FN(gelu_and_mul_forward, kForwardArgs),
    KHUB_ACTIVATION_FN(gelu_and_mul_backward, kBackwardArgs),
};

const khub_layer_desc kLayers[] = {
    {sizeof(khub_layer_desc), "SiluAndMul", "silu_and_mul_forward", "silu_and_mul_backward",
     KHUB_LAYER_HAS_BACKWARD},
    {sizeof(khub_layer_desc), "GeluTanhAndMul", "gelu_tanh_and_mul_forward",
     "gelu_tanh_and_mul_backward", KHUB_LAYER_HAS_BACKWARD},
    {sizeof(khub_layer_desc), "GeluAndMul", "gelu_and_mul_forward", "gelu_and_mul_backward",
     KHUB_LAYER_HAS_BACKWARD},
};

}  // namespace
}  // namespace khub_activation

KHUB_DEFINE_KERNEL_MANIFEST("activation", "cpu", khub_activation::kFunctions,
                            khub_activation::kLayers)
