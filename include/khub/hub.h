// The kernel hub (khub public API, docs/cpp-api.md; docs/kernel-hub.md):
//   khub::hub::get_kernel("org/name@REV[:layer]", KernelOptions) → a loaded, verified kernel:
//       kernel->function("rms_norm_forward")({.tensors = {...}, .attrs = {...}}) calls it on
//       khub::Tensors through the C ABI (include/khub/kernel_abi.h)
//   khub::hub::get_local_kernel(path), has_kernel(ref), lookup_kernel(ref) (resolve and select
//       without loading)
// Sources: LOCAL_KERNELS, KHUB_HUB_PATH hub folders, the HTTP hub at HF_ENDPOINT
// (docs/environment.md).
#pragma once

#include "hub/get_kernel.h"
#include "khub/tensor.h"
