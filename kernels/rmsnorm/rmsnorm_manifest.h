// The manifest tables of khub-community/rmsnorm, one definition for the CPU and CUDA variants:
// the same functions, arguments and layers; a backend passes only what differs — its argument
// flags (CUDA asks for contiguous tensors), function flags, constraints and layer flags. Used
// inside a backend's namespace, after it defines kDtypes (the dtypes its kernels take) and
// backward_workspace (the backward's scratch query). The backend also names the dtypes its
// backward writes grad_weight in: x's ("same:x", the CPU variant), or an explicit list with f32
// (the CUDA variant: an f32 grad_weight keeps the sum over tokens unrounded, and khub allocates
// it in f32 whenever a kernel lists f32 explicitly; kernelize/kernel_bindings.cc).
#ifndef KHUB_RMSNORM_MANIFEST_H_
#define KHUB_RMSNORM_MANIFEST_H_

#include "khub/kernel_abi.h"

// kEps and the argument lists kForwardArgs, kBackwardArgs, kFusedForwardArgs, kFusedBackwardArgs.
// gw and fused_gw: grad_weight's dtypes in the plain and the fused backward.
#define KHUB_RMSNORM_ARG_TABLES(arg_flags, gw, fused_gw)                 \
  constexpr khub_attr_desc kEps[] = {                                    \
      {"eps", KHUB_VALUE_FLOAT, 1, {KHUB_VALUE_FLOAT, {.f = 1e-6}}}};    \
  constexpr khub_arg_desc kForwardArgs[] = {                             \
      {"x", KHUB_ARG_INPUT, kDtypes, -1, arg_flags},                     \
      {"weight", KHUB_ARG_PARAM, "same:x", 1, arg_flags},                \
      {"out", KHUB_ARG_OUTPUT, "same:x", -1, arg_flags},                 \
  };                                                                     \
  constexpr khub_arg_desc kBackwardArgs[] = {                            \
      {"x", KHUB_ARG_INPUT, kDtypes, -1, arg_flags},                     \
      {"weight", KHUB_ARG_PARAM, "same:x", 1, arg_flags},                \
      {"grad_out", KHUB_ARG_INPUT, "same:x", -1, arg_flags},             \
      {"grad_x", KHUB_ARG_OUTPUT, "same:x", -1, arg_flags},              \
      {"grad_weight", KHUB_ARG_OUTPUT, gw, 1, arg_flags},                \
  };                                                                     \
  constexpr khub_arg_desc kFusedForwardArgs[] = {                        \
      {"x", KHUB_ARG_INPUT, kDtypes, -1, arg_flags},                     \
      {"residual", KHUB_ARG_INOUT, "same:x", -1, arg_flags},             \
      {"weight", KHUB_ARG_PARAM, "same:x", 1, arg_flags},                \
      {"out", KHUB_ARG_OUTPUT, "same:x", -1, arg_flags},                 \
  };                                                                     \
  constexpr khub_arg_desc kFusedBackwardArgs[] = {                       \
      {"residual", KHUB_ARG_INPUT, kDtypes, -1, arg_flags},              \
      {"weight", KHUB_ARG_PARAM, "same:residual", 1, arg_flags},         \
      {"grad_out", KHUB_ARG_INPUT, "same:residual", -1, arg_flags},      \
      {"grad_residual", KHUB_ARG_INOUT, "same:residual", -1, arg_flags}, \
      {"grad_x", KHUB_ARG_OUTPUT, "same:residual", -1, arg_flags},       \
      {"grad_weight", KHUB_ARG_OUTPUT, fused_gw, 1, arg_flags},          \
  }

#define KHUB_RMSNORM_FN_DESC(fn, args, workspace, fn_flags, constraints)                           \
  {                                                                                                \
    sizeof(khub_function_desc), #fn, "khub_rmsnorm_" #fn, sizeof(args) / sizeof(args[0]), args, 1, \
        kEps, kDtypes, fn_flags, workspace, constraints                                            \
  }

// kFunctions: the six functions, in the order the metadata lists them.
#define KHUB_RMSNORM_FUNCTION_TABLE(fn_flags, constraints)                                        \
  const khub_function_desc kFunctions[] = {                                                       \
      KHUB_RMSNORM_FN_DESC(rms_norm_forward, kForwardArgs, nullptr, fn_flags, constraints),       \
      KHUB_RMSNORM_FN_DESC(rms_norm_backward, kBackwardArgs, backward_workspace, fn_flags,        \
                           constraints),                                                          \
      KHUB_RMSNORM_FN_DESC(gemma_rms_norm_forward, kForwardArgs, nullptr, fn_flags, constraints), \
      KHUB_RMSNORM_FN_DESC(gemma_rms_norm_backward, kBackwardArgs, backward_workspace, fn_flags,  \
                           constraints),                                                          \
      KHUB_RMSNORM_FN_DESC(fused_add_rms_norm_forward, kFusedForwardArgs, nullptr, fn_flags,      \
                           constraints),                                                          \
      KHUB_RMSNORM_FN_DESC(fused_add_rms_norm_backward, kFusedBackwardArgs, backward_workspace,   \
                           fn_flags, constraints),                                                \
  }

// kLayers: RMSNorm, GemmaRMSNorm and FusedAddRMSNorm, each with its backward.
#define KHUB_RMSNORM_LAYER_TABLE(layer_flags)                                                     \
  const khub_layer_desc kLayers[] = {                                                             \
      {sizeof(khub_layer_desc), "RMSNorm", "rms_norm_forward", "rms_norm_backward", layer_flags}, \
      {sizeof(khub_layer_desc), "GemmaRMSNorm", "gemma_rms_norm_forward",                         \
       "gemma_rms_norm_backward", layer_flags},                                                   \
      {sizeof(khub_layer_desc), "FusedAddRMSNorm", "fused_add_rms_norm_forward",                  \
       "fused_add_rms_norm_backward", layer_flags},                                               \
  }

#endif  // KHUB_RMSNORM_MANIFEST_H_
