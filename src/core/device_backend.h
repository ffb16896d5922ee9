// Internal to core/: the hook through which a device runtime (CUDA) registers its allocators and
// copy routines the first time a tensor on that device is needed. Builds with CUDA define it in
// core/cuda/cuda_runtime.cc; builds without define it in core/cuda_unavailable.cc.
#pragma once

#include "core/device.h"

namespace khub::detail {

// Makes `device` usable (registers its allocator and copies on first use) or throws an Error that
// says why it cannot be used: "built without CUDA", no driver, no such device index, a device type
// with no runtime in khub.
void ensure_device_backend(Device device);

}  // namespace khub::detail
