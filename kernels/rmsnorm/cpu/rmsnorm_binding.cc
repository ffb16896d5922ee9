// RMSNorm kernels, tier 3: the khub kernel ABI (include/khub/kernel_abi.h). The manifest, and one
// exported function per entry that validates its khub_call (dtypes, ranks, shapes, strides,
// attributes) and dispatches on the dtype to the launchers of rmsnorm_launch.h.
//
// Signatures (docs/layer-contracts.md; backward: the forward's inputs and params, then grad_out,
// then one grad_<name> per input and param):
//   rms_norm_forward            x [..., H], weight [H] -> out [..., H]                  attr eps
//   rms_norm_backward           x, weight, grad_out -> grad_x [..., H], grad_weight [H]
//   gemma_rms_norm_forward/backward: the same with scale 1 + weight
//   fused_add_rms_norm_forward  x, residual (inout), weight -> out
//   fused_add_rms_norm_backward residual (the forward's output, x + residual), weight, grad_out,
//                               grad_residual (inout: in dL/d residual_out, out dL/d residual_in)
//                               -> grad_x, grad_weight
// The fused backward needs only the sum the forward left in `residual`, not x.
#include <cmath>
#include <cstdio>

#include "../rmsnorm_manifest.h"
#include "khub/kernel_abi.h"
#include "khub/kernel_manifest.h"
#include "khub_cpu/abi_args.h"
#include "rmsnorm_launch.h"

namespace khub_rmsnorm {
namespace {

using khub_cpu::CallArgs;
using khub_cpu::ElemType;
using khub_cpu::RowLayout;

constexpr const char* kDtypes = "f32,bf16,f16";
constexpr uint32_t kFnFlags = KHUB_FN_DETERMINISTIC;

bool read_eps(CallArgs& c, float* eps) {
  double v;
  if (!c.attr_float("eps", &v)) return false;
  if (!std::isfinite(v) || v < 0)
    return c.fail(KHUB_STATUS_INVALID_ARGUMENT, "attribute eps is %g, expected a finite value >= 0",
                  v);
  *eps = static_cast<float>(v);
  return true;
}

// Checks weight (rank 1, hidden elements, dtype of x).
bool check_weight(CallArgs& c, int w, int x, const char* x_name, int64_t hidden) {
  ElemType t;
  char why[64];
  std::snprintf(why, sizeof(why), "the last dim of %s", x_name);
  return c.float_tensor(w, "weight", &t) && c.same_dtype(w, "weight", x, x_name) &&
         c.rank(w, "weight", 1) && c.dim_is(w, "weight", 0, hidden, why);
}

// Checks that tensor i has x's dtype and shape; `output` also requires non-overlapping elements.
bool like_x(CallArgs& c, int i, const char* name, int x, const char* x_name, bool output) {
  ElemType t;
  return c.float_tensor(i, name, &t) && c.same_dtype(i, name, x, x_name) &&
         c.same_shape(i, name, x, x_name) && (!output || c.writable(i, name));
}

khub_status forward(const char* fn, Scale scale, bool fused, const khub_call* call,
                    khub_error* error) {
  CallArgs c(fn, call, error);
  const int X = 0, R = 1, W = fused ? 2 : 1, O = fused ? 3 : 2;
  ElemType type = ElemType::kF32;
  float eps = 0;
  if (!c.check_call(fused ? 4 : 3, 1) || !c.float_tensor(X, "x", &type) || !c.min_rank(X, "x", 1))
    return c.status();
  const int64_t hidden = c.tensor(X).shape[c.tensor(X).ndim - 1];
  RowLayout x_rows, r_rows, o_rows;
  if ((fused && !like_x(c, R, "residual", X, "x", true)) || !check_weight(c, W, X, "x", hidden) ||
      !like_x(c, O, "out", X, "x", true) || !read_eps(c, &eps) || !c.rows(X, "x", &x_rows) ||
      (fused && !c.rows(R, "residual", &r_rows)) || !c.rows(O, "out", &o_rows))
    return c.status();
  return khub_cpu::dispatch_float_type(type, [&](auto zero) {
    using T = decltype(zero);
    ForwardArgs<T> a;
    a.x = static_cast<const T*>(c.data(X));
    a.x_rows = x_rows;
    if (fused) {
      a.residual = static_cast<T*>(c.data(R));
      a.residual_rows = r_rows;
    }
    a.weight = static_cast<const T*>(c.data(W));
    a.weight_stride = c.stride(W, 0);
    a.out = static_cast<T*>(c.data(O));
    a.out_rows = o_rows;
    a.hidden = hidden;
    a.eps = eps;
    a.scale = scale;
    khub_cpu::ErrorText text;
    return c.finish(rms_norm_forward(a, c.num_threads(), &text), text);
  });
}

// Tensor indices of a backward signature.
struct BackwardSlots {
  int x, weight, grad_out, grad_residual, grad_x, grad_weight;
  const char* x_name;
};
constexpr BackwardSlots kPlainSlots{0, 1, 2, -1, 3, 4, "x"};
constexpr BackwardSlots kFusedSlots{0, 1, 2, 3, 4, 5, "residual"};

khub_status backward(const char* fn, Scale scale, bool fused, const khub_call* call,
                     khub_error* error) {
  CallArgs c(fn, call, error);
  const BackwardSlots s = fused ? kFusedSlots : kPlainSlots;
  ElemType type = ElemType::kF32;
  float eps = 0;
  if (!c.check_call(fused ? 6 : 5, 1) || !c.float_tensor(s.x, s.x_name, &type) ||
      !c.min_rank(s.x, s.x_name, 1))
    return c.status();
  const int64_t hidden = c.tensor(s.x).shape[c.tensor(s.x).ndim - 1];
  RowLayout x_rows, g_rows, gr_rows, gx_rows;
  ElemType gw_type;
  if (!check_weight(c, s.weight, s.x, s.x_name, hidden) ||
      !like_x(c, s.grad_out, "grad_out", s.x, s.x_name, false) ||
      (fused && !like_x(c, s.grad_residual, "grad_residual", s.x, s.x_name, true)) ||
      !like_x(c, s.grad_x, "grad_x", s.x, s.x_name, true) ||
      !c.float_tensor(s.grad_weight, "grad_weight", &gw_type) ||
      !c.same_dtype(s.grad_weight, "grad_weight", s.weight, "weight") ||
      !c.same_shape(s.grad_weight, "grad_weight", s.weight, "weight") ||
      !c.writable(s.grad_weight, "grad_weight") || !read_eps(c, &eps) ||
      !c.rows(s.x, s.x_name, &x_rows) || !c.rows(s.grad_out, "grad_out", &g_rows) ||
      (fused && !c.rows(s.grad_residual, "grad_residual", &gr_rows)) ||
      !c.rows(s.grad_x, "grad_x", &gx_rows))
    return c.status();
  return khub_cpu::dispatch_float_type(type, [&](auto zero) {
    using T = decltype(zero);
    BackwardArgs<T> a;
    a.x = static_cast<const T*>(c.data(s.x));
    a.x_rows = x_rows;
    a.weight = static_cast<const T*>(c.data(s.weight));
    a.weight_stride = c.stride(s.weight, 0);
    a.grad_out = static_cast<const T*>(c.data(s.grad_out));
    a.grad_out_rows = g_rows;
    a.grad_x = static_cast<T*>(c.data(s.grad_x));
    a.grad_x_rows = gx_rows;
    if (fused) {
      a.grad_residual = static_cast<T*>(c.data(s.grad_residual));
      a.grad_residual_rows = gr_rows;
    }
    a.rows = x_rows.rows;
    a.hidden = hidden;
    a.eps = eps;
    a.scale = scale;
    khub_cpu::ErrorText text;
    Status st =
        rms_norm_backward(a, static_cast<T*>(c.data(s.grad_weight)), c.stride(s.grad_weight, 0),
                          c.workspace(), c.workspace_bytes(), c.num_threads(), &text);
    return c.finish(st, text);
  });
}

// Workspace query of the backward functions (../rmsnorm_backward_plan.h).
uint64_t backward_workspace(const khub_call* call) {
  return khub_rmsnorm_plan::backward_workspace_bytes(call, kMaxGroups);
}

// ---- manifest ------------------------------------------------------------------------------

KHUB_RMSNORM_ARG_TABLES(0, "same:x", "same:residual");

}  // namespace
}  // namespace khub_rmsnorm

using khub_rmsnorm::Scale;

extern "C" {

#define KHUB_RMSNORM_ENTRY(fn, body)                                                           \
  KHUB_KERNEL_EXPORT khub_status khub_rmsnorm_##fn(const khub_call* call, khub_error* error) { \
    return khub_cpu::guard_boundary(#fn, error, [&] { return body; });                         \
  }

KHUB_RMSNORM_ENTRY(rms_norm_forward,
                   khub_rmsnorm::forward("rms_norm_forward", Scale::kWeight, false, call, error))
KHUB_RMSNORM_ENTRY(rms_norm_backward,
                   khub_rmsnorm::backward("rms_norm_backward", Scale::kWeight, false, call, error))
KHUB_RMSNORM_ENTRY(gemma_rms_norm_forward,
                   khub_rmsnorm::forward("gemma_rms_norm_forward", Scale::kOnePlusWeight, false,
                                         call, error))
KHUB_RMSNORM_ENTRY(gemma_rms_norm_backward,
                   khub_rmsnorm::backward("gemma_rms_norm_backward", Scale::kOnePlusWeight, false,
                                          call, error))
KHUB_RMSNORM_ENTRY(fused_add_rms_norm_forward,
                   khub_rmsnorm::forward("fused_add_rms_norm_forward", Scale::kWeight, true, call,
                                         error))
KHUB_RMSNORM_ENTRY(fused_add_rms_norm_backward,
                   khub_rmsnorm::backward("fused_add_rms_norm_backward", Scale::kWeight, true, call,
                                          error))

}  // extern "C"

namespace khub_rmsnorm {
namespace {

KHUB_RMSNORM_FUNCTION_TABLE(kFnFlags, "{}");
KHUB_RMSNORM_LAYER_TABLE(KHUB_LAYER_HAS_BACKWARD);

}  // namespace
}  // namespace khub_rmsnorm

KHUB_DEFINE_KERNEL_MANIFEST("rmsnorm", "cpu", khub_rmsnorm::kFunctions, khub_rmsnorm::kLayers)
