// The CUDA runtime part of core/, as seen from code that must also build without CUDA: device
// discovery, the caching allocator's statistics and knobs, synchronization. Every function here
// exists in every build; in a build without CUDA (no nvcc at configure time) they report that no
// device is available, and asking for a cuda tensor fails with "built without CUDA".
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "core/device.h"

namespace khub {

// True when khub was built with CUDA and at least one device answers.
bool cuda_available();
// Number of CUDA devices (0 when none, no driver, or built without CUDA).
int cuda_device_count();
// Why cuda_available() is false ("khub was built without CUDA", "no CUDA driver: ...", ...), or
// a one-line description of the devices when it is true.
std::string cuda_status();
// True when this binary contains CUDA code (the build found nvcc).
bool cuda_built();

struct CudaDeviceProperties {
  std::string name;
  int major = 0, minor = 0;  // compute capability
  int multiprocessors = 0;
  size_t total_memory = 0;
  size_t l2_cache_bytes = 0;
  int driver_version = 0, runtime_version = 0;  // e.g. 13000
};
CudaDeviceProperties cuda_device_properties(int index = 0);

// Blocks until all work queued on the device's current stream (this thread) is done.
void cuda_synchronize(Device device);

// The caching allocator (docs/design.md §1: only core/ owns memory). Blocks are cached per stream
// in size classes; a freed block is reused only by a later allocation on the stream it was
// allocated on, which orders the reuse after every earlier use on that stream (stream-ordered
// reuse). A tensor used on another stream must not be freed before that stream is synchronized.
struct CudaMemoryStats {
  size_t allocated_bytes = 0;       // in live tensors (rounded to size classes)
  size_t reserved_bytes = 0;        // allocated + cached, i.e. held from cudaMalloc
  size_t peak_allocated_bytes = 0;  // since start or the last reset
  uint64_t device_allocations = 0;  // cudaMalloc calls
  uint64_t cache_hits = 0;          // allocations served from the cache
};
CudaMemoryStats cuda_memory_stats(int device = 0);
void cuda_reset_peak_memory(int device = 0);
// Returns every cached (unused) block to the driver.
void cuda_empty_cache();
// Testing aid: when on, every new allocation is filled with 0xFF bytes (NaN in f32, f16 and bf16)
// on its stream, so that an op which leaves part of its output unwritten shows NaN.
void cuda_set_poison_allocations(bool on);

}  // namespace khub
