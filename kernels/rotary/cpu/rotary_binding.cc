// Rotary position embedding, tier 3: the khub kernel ABI (include/khub/kernel_abi.h). The manifest,
// and the exported functions that validate their khub_call and dispatch on the dtype.
//
// Signatures (docs/layer-contracts.md):
//   rotary_pos_emb_forward   q [T, Hq, Dh] (inout), k [T, Hk, Dh] (inout), cos [T, R/2] f32,
//                            sin [T, R/2] f32; attrs rotary_dim (int, 0 = 2 * cos.shape[1]),
//                            interleaved (bool: false NeoX halves, true GPT-J pairs)
//   rotary_pos_emb_backward  grad_q (inout), grad_k (inout), cos, sin; same attrs: rotates the
//                            gradients in place by the inverse rotation (its transpose).
#include "khub/kernel_abi.h"
#include "khub/kernel_manifest.h"
#include "khub_cpu/abi_args.h"
#include "rotary_launch.h"

namespace khub_rotary {
namespace {

using khub_cpu::CallArgs;
using khub_cpu::ElemType;

constexpr const char* kDtypes = "f32,bf16,f16";

khub_status rotate(const char* fn, bool inverse, const khub_call* call, khub_error* error) {
  CallArgs c(fn, call, error);
  const char* qn = inverse ? "grad_q" : "q";
  const char* kn = inverse ? "grad_k" : "k";
  ElemType type = ElemType::kF32, ktype = ElemType::kF32;
  int64_t rotary_dim = 0;
  bool interleaved = false;
  if (!c.check_call(4, 2) || !c.float_tensor(0, qn, &type) || !c.rank(0, qn, 3) ||
      !c.writable(0, qn) || !c.float_tensor(1, kn, &ktype) || !c.same_dtype(1, kn, 0, qn) ||
      !c.rank(1, kn, 3) || !c.writable(1, kn) || !c.f32_tensor(2, "cos") || !c.rank(2, "cos", 2) ||
      !c.f32_tensor(3, "sin") || !c.same_shape(3, "sin", 2, "cos") ||
      !c.attr_int("rotary_dim", &rotary_dim) || !c.attr_bool("interleaved", &interleaved))
    return c.status();
  const DLTensor &q = c.tensor(0), &cs = c.tensor(2);
  const int64_t tokens = q.shape[0], head_dim = q.shape[2];
  if (!c.dim_is(1, kn, 0, tokens, "the tokens of q") ||
      !c.dim_is(1, kn, 2, head_dim, "the head_dim of q") ||
      !c.dim_is(2, "cos", 0, tokens, "the tokens of q"))
    return c.status();
  if (rotary_dim == 0) rotary_dim = 2 * cs.shape[1];
  if (rotary_dim < 0 || rotary_dim % 2 != 0 || rotary_dim > head_dim) {
    c.fail(KHUB_STATUS_INVALID_ARGUMENT,
           "attribute rotary_dim is %lld, expected an even value in [0, %lld] (head_dim)",
           static_cast<long long>(rotary_dim), static_cast<long long>(head_dim));
    return c.status();
  }
  if (!c.dim_is(2, "cos", 1, rotary_dim / 2, "rotary_dim / 2")) return c.status();
  return khub_cpu::dispatch_float_type(type, [&](auto zero) {
    using T = decltype(zero);
    RotaryArgs<T> a;
    a.q = {static_cast<T*>(c.data(0)), q.shape[1], c.stride(0, 0), c.stride(0, 1), c.stride(0, 2)};
    a.k = {static_cast<T*>(c.data(1)), c.tensor(1).shape[1], c.stride(1, 0), c.stride(1, 1),
           c.stride(1, 2)};
    a.cos = {static_cast<const float*>(c.data(2)), c.stride(2, 0), c.stride(2, 1)};
    a.sin = {static_cast<const float*>(c.data(3)), c.stride(3, 0), c.stride(3, 1)};
    a.tokens = tokens;
    a.rotary_dim = rotary_dim;
    a.interleaved = interleaved;
    a.inverse = inverse;
    khub_cpu::ErrorText text;
    return c.finish(rotary_apply(a, c.num_threads(), &text), text);
  });
}

constexpr khub_attr_desc kAttrs[] = {
    {"rotary_dim", KHUB_VALUE_INT, 0, {KHUB_VALUE_INT, {.i = 0}}},
    {"interleaved", KHUB_VALUE_BOOL, 0, {KHUB_VALUE_BOOL, {.i = 0}}},
};
constexpr khub_arg_desc kForwardArgs[] = {
    {"q", KHUB_ARG_INOUT, kDtypes, 3, 0},
    {"k", KHUB_ARG_INOUT, "same:q", 3, 0},
    {"cos", KHUB_ARG_INPUT, "f32", 2, 0},
    {"sin", KHUB_ARG_INPUT, "f32", 2, 0},
};
constexpr khub_arg_desc kBackwardArgs[] = {
    {"grad_q", KHUB_ARG_INOUT, kDtypes, 3, 0},
    {"grad_k", KHUB_ARG_INOUT, "same:grad_q", 3, 0},
    {"cos", KHUB_ARG_INPUT, "f32", 2, 0},
    {"sin", KHUB_ARG_INPUT, "f32", 2, 0},
};

}  // namespace
}  // namespace khub_rotary

extern "C" {

KHUB_KERNEL_EXPORT khub_status khub_rotary_rotary_pos_emb_forward(const khub_call* call,
                                                                  khub_error* error) {
  return khub_cpu::guard_boundary("rotary_pos_emb_forward", error, [&] {
    return khub_rotary::rotate("rotary_pos_emb_forward", false, call, error);
  });
}

KHUB_KERNEL_EXPORT khub_status khub_rotary_rotary_pos_emb_backward(const khub_call* call,
                                                                   khub_error* error) {
  return khub_cpu::guard_boundary("rotary_pos_emb_backward", error, [&] {
    return khub_rotary::rotate("rotary_pos_emb_backward", true, call, error);
  });
}

}  // extern "C"

namespace khub_rotary {
namespace {

const khub_function_desc kFunctions[] = {
    {sizeof(khub_function_desc), "rotary_pos_emb_forward", "khub_rotary_rotary_pos_emb_forward", 4,
     kForwardArgs, 2, kAttrs, kDtypes, KHUB_FN_DETERMINISTIC, nullptr, "{}"},
    {sizeof(khub_function_desc), "rotary_pos_emb_backward", "khub_rotary_rotary_pos_emb_backward",
     4, kBackwardArgs, 2, kAttrs, kDtypes, KHUB_FN_DETERMINISTIC, nullptr, "{}"},
};

const khub_layer_desc kLayers[] = {
    {sizeof(khub_layer_desc), "rotary_pos_emb", "rotary_pos_emb_forward", "rotary_pos_emb_backward",
     KHUB_LAYER_HAS_BACKWARD},
};

}  // namespace
}  // namespace khub_rotary

KHUB_DEFINE_KERNEL_MANIFEST("rotary", "cpu", khub_rotary::kFunctions, khub_rotary::kLayers)
