// Memory for tensors. Only core/ owns memory (DESIGN §1): every Storage gets its bytes from an
// Allocator or adopts an external owner (an mmap, a DLPack producer) through a keep-alive handle.
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
// The allocator for a device. CUDA registers its caching allocator when the CUDA runtime part is
// linked; asking for a device without one throws Error(kUnsupported).
Allocator* allocator_for(Device device);
void register_allocator(DeviceType type, Allocator* allocator);

}  // namespace khub
