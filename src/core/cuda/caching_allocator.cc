#include "core/cuda/caching_allocator.h"

#include <algorithm>
#include <bit>

#include "core/cuda/cuda_check.h"

namespace khub::cuda {

size_t CudaCachingAllocator::size_class(size_t n) {
  constexpr size_t kMin = 512;
  if (n <= 4096) return std::max(kMin, (n + kMin - 1) / kMin * kMin);
  size_t step = std::bit_floor(n) / 4;  // four classes per power of two
  return (n + step - 1) / step * step;
}

void* CudaCachingAllocator::allocate(size_t nbytes) {
  size_t size = size_class(nbytes);
  Device dev = device();
  cudaStream_t stream = stream_for(dev);  // outside the lock: may create the default stream
  std::lock_guard<std::mutex> lock(mu_);
  void* ptr = nullptr;
  int pool = active_pool_ != 0 && stream == pool_stream_ ? active_pool_ : 0;
  auto it = free_.find({stream, size});
  auto pit = pool_free_.find({pool, size});
  if (pool != 0 && pit != pool_free_.end() && !pit->second.empty()) {
    ptr = pit->second.back();
    pit->second.pop_back();
    ++stats_.cache_hits;
  } else if (pool == 0 && it != free_.end() && !it->second.empty()) {
    ptr = it->second.back();
    it->second.pop_back();
    ++stats_.cache_hits;
  } else {
    DeviceGuard g(dev);
    cudaError_t err = cudaMalloc(&ptr, size);
    if (err == cudaErrorMemoryAllocation) {
      (void)cudaGetLastError();
      release_cached_locked();  // give the cache back and try once more
      err = cudaMalloc(&ptr, size);
    }
    if (err == cudaErrorMemoryAllocation) {
      (void)cudaGetLastError();
      size_t free_b = 0, total_b = 0;
      (void)cudaMemGetInfo(&free_b, &total_b);
      fail(ErrorKind::kIo, "CUDA out of memory on ", dev.str(), " allocating ", nbytes,
           " bytes (khub holds ", stats_.allocated_bytes, " bytes in tensors; the device has ",
           free_b, " of ", total_b, " bytes free)");
    }
    KHUB_CUDA_CHECK(err);
    stats_.reserved_bytes += size;
    ++stats_.device_allocations;
  }
  live_.emplace(ptr, Block{size, stream, pool});
  stats_.allocated_bytes += size;
  stats_.peak_allocated_bytes = std::max(stats_.peak_allocated_bytes, stats_.allocated_bytes);
  if (poison_) {
    DeviceGuard g(dev);
    KHUB_CUDA_CHECK(cudaMemsetAsync(ptr, 0xff, size, stream));
  }
  return ptr;
}

void CudaCachingAllocator::deallocate(void* ptr, size_t) {
  if (ptr == nullptr) return;
  std::lock_guard<std::mutex> lock(mu_);
  auto it = live_.find(ptr);
  KHUB_ICHECK(it != live_.end(), "CUDA allocator: freeing a pointer it did not allocate");
  Block b = it->second;
  live_.erase(it);
  stats_.allocated_bytes -= b.size;
  if (b.pool == 0) {
    free_[{b.stream, b.size}].push_back(ptr);
  } else if (pools_[b.pool]) {
    pool_free_[{b.pool, b.size}].push_back(ptr);
  } else {
    DeviceGuard g(device());
    (void)cudaFree(ptr);  // its graph is gone; cudaFree waits for the device
    stats_.reserved_bytes -= b.size;
  }
}

int CudaCachingAllocator::begin_pool(cudaStream_t stream) {
  std::lock_guard<std::mutex> lock(mu_);
  KHUB_ICHECK(active_pool_ == 0, "CUDA allocator: a graph pool is already active");
  active_pool_ = next_pool_++;
  pool_stream_ = stream;
  pools_[active_pool_] = true;
  return active_pool_;
}

void CudaCachingAllocator::end_pool() {
  std::lock_guard<std::mutex> lock(mu_);
  active_pool_ = 0;
  pool_stream_ = nullptr;
}

void CudaCachingAllocator::release_pool(int pool) {
  std::lock_guard<std::mutex> lock(mu_);
  DeviceGuard g(device());
  for (auto it = pool_free_.begin(); it != pool_free_.end();) {
    if (it->first.first != pool) {
      ++it;
      continue;
    }
    for (void* p : it->second) {
      (void)cudaFree(p);
      stats_.reserved_bytes -= it->first.second;
    }
    it = pool_free_.erase(it);
  }
  pools_[pool] = false;
}

void CudaCachingAllocator::release_cached_locked() {
  DeviceGuard g(device());
  // cudaFree waits for the device, so work still reading a cached block (queued before it was
  // freed) is finished before the memory goes back.
  for (auto& [key, ptrs] : free_) {
    for (void* p : ptrs) {
      KHUB_CUDA_CHECK(cudaFree(p));
      stats_.reserved_bytes -= key.second;
    }
  }
  free_.clear();
}

CudaMemoryStats CudaCachingAllocator::stats() {
  std::lock_guard<std::mutex> lock(mu_);
  return stats_;
}

void CudaCachingAllocator::reset_peak() {
  std::lock_guard<std::mutex> lock(mu_);
  stats_.peak_allocated_bytes = stats_.allocated_bytes;
}

void CudaCachingAllocator::empty_cache() {
  std::lock_guard<std::mutex> lock(mu_);
  release_cached_locked();
}

void CudaCachingAllocator::set_poison(bool on) {
  std::lock_guard<std::mutex> lock(mu_);
  poison_ = on;
}

}  // namespace khub::cuda
