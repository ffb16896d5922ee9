// The CUDA caching allocator: one per device. cudaMalloc and cudaFree synchronize and cost tens of
// microseconds; a decode step allocates the same sizes every step, so freed blocks are kept in
// free lists keyed by (stream, size class) and handed out again.
//
// Size classes: 512-byte granularity up to 4 KiB, then four classes per power of two (waste under
// 25%). A block returns to the free list of the stream it was allocated on and is reused only by
// allocations on that stream, so every reuse is ordered after the earlier uses on that stream
// without a synchronization (stream-ordered reuse, as in PyTorch's allocator).
#pragma once

#include <cuda_runtime_api.h>

#include <map>
#include <mutex>
#include <unordered_map>
#include <utility>
#include <vector>

#include "core/allocator.h"
#include "core/cuda.h"

namespace khub::cuda {

class CudaCachingAllocator final : public Allocator {
 public:
  explicit CudaCachingAllocator(int device) : device_(device) {}

  void* allocate(size_t nbytes) override;
  void deallocate(void* ptr, size_t nbytes) override;
  Device device() const override { return Device::cuda(device_); }

  CudaMemoryStats stats();
  void reset_peak();
  void empty_cache();  // cudaFree of every cached block
  void set_poison(bool on);

  static size_t size_class(size_t nbytes);

  // Graph pools. Between begin_pool and end_pool, allocations on `stream` come from a new pool
  // private to one CUDA graph (never from the shared cache), and blocks of the pool freed at any
  // time go back to it only: a captured graph writes those addresses on every replay, so nothing
  // else may be handed them. release_pool returns the pool's free blocks to the driver; its blocks
  // still live are freed to the driver when they are released.
  int begin_pool(cudaStream_t stream);
  void end_pool();
  void release_pool(int pool);

 private:
  struct Block {
    size_t size;
    cudaStream_t stream;
    int pool;  // 0: the shared cache
  };
  void release_cached_locked();

  int device_;
  bool poison_ = false;
  std::mutex mu_;
  std::unordered_map<void*, Block> live_;
  std::map<std::pair<cudaStream_t, size_t>, std::vector<void*>> free_;
  std::map<std::pair<int, size_t>, std::vector<void*>> pool_free_;
  std::map<int, bool> pools_;  // pool id -> still alive
  int active_pool_ = 0, next_pool_ = 1;
  cudaStream_t pool_stream_ = nullptr;
  CudaMemoryStats stats_;
};

// The allocator of a device (registering the CUDA backend on first use).
CudaCachingAllocator* allocator_of(int index);

}  // namespace khub::cuda
