// Internal to core/: the hook through which a device runtime (CUDA) registers its allocators and
// copy routines the first time a tensor on that device is needed. Builds with CUDA define it in
// core/cuda/cuda_runtime.cc; builds without define it in core/cuda_unavailable.cc.
#pragma once

#include <cstddef>

#include "core/device.h"

namespace khub::detail {

// Makes `device` usable (registers its allocator and copies on first use) or throws an Error that
// says why it cannot be used: "built without CUDA", no driver, no such device index, a device type
// with no runtime in khub.
void ensure_device_backend(Device device);

// What HostReadback (core/host_readback.h) needs of the CUDA runtime: pinned host memory, and a
// device-to-host copy queued on the device's current stream followed by an event, which
// wait_event blocks on. `event` is created by the first copy (*event == nullptr) and reused.
void* pinned_host_alloc(Device device, size_t bytes);
void pinned_host_free(void* p) noexcept;
void copy_to_host_async(Device device, void* dst, const void* src, size_t bytes, void** event);
void wait_event(Device device, void* event);
// The address under which `device`'s kernels reach pinned memory from pinned_host_alloc.
void* pinned_device_view(Device device, void* host);
void destroy_event(void* event) noexcept;

}  // namespace khub::detail
