// The kernel hub (khub public API, docs/cpp-api.md; docs/kernel-hub.md):
//   khub::hub::get_kernel("org/name@REV[:layer]", KernelOptions) → a loaded, verified kernel:
//       kernel->function("rms_norm_forward")({.tensors = {...}, .attrs = {...}}) calls it on
//   khub::hub::get_local_kernel(path), has_kernel(ref), lookup_kernel(ref) (resolve and select
//       without loading)
//   khub::hub::read_kernel_locks("kernels.lock") → KernelOptions::locks; find_project_lock()
//   khub::set_program_dir(dir)  for hosts whose executable is not khub's (an embedding language):
//       the folder standing for bin/, beside which the bundled hub and the install's trust policy
//       are looked for
// Sources: LOCAL_KERNELS, KHUB_HUB_PATH hub folders, the HTTP hub at HF_ENDPOINT
// (docs/environment.md).
#pragma once

#include "core/program_dir.h"
#include "hub/get_kernel.h"
#include "hub/kernel_locks.h"
#include "khub/tensor.h"
