// Memory for tensors. Only core/ owns memory (docs/design.md §1): every Storage gets its bytes from
// an Allocator or adopts an external owner (an mmap, a DLPack producer) through a keep-alive
// handle.
#pragma once

#include <cstddef>

#include "core/device.h"

namespace khub {

class Allocator {
 public:
  virtual ~Allocator() = default;
  virtual void* allocate(size_t nbytes) = 0;
  virtual void deallocate(void* ptr, size_t nbytes) = 0;
  virtual Device device() const = 0;
};

// 64-byte aligned host memory (one cache line; the widest AVX-512 load).
constexpr size_t kCpuAlignment = 64;

Allocator* cpu_allocator();
// The allocator for a device. A device runtime (CUDA) registers one caching allocator per device
// the first time the device is asked for; a device that cannot be used throws an Error saying why
// ("built without CUDA", no driver, no such device).
Allocator* allocator_for(Device device);
// Registers the allocator of device index 0 of a type, or of one device.
void register_allocator(DeviceType type, Allocator* allocator);
void register_allocator(Device device, Allocator* allocator);

}  // namespace khub
