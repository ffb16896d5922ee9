#include "models/kv_cache.h"

namespace khub {

KVCache::KVCache(int64_t layers, int64_t slots, int64_t capacity, int64_t kv_heads,
                 int64_t head_dim, Device device, DType dtype)
    : slots_(slots), capacity_(capacity), lengths_(slots, 0) {
  // One allocation: a cache of the same size made later (the next generate call) gets the same
  // block back from the caching allocator, so a decode step captured on the first (Mode Compile)
  // replays on the second.
  storage_ = Tensor::empty({layers, 2, slots, capacity, kv_heads, head_dim}, dtype, device);
  for (int64_t l = 0; l < layers; ++l) {
    k_.push_back(storage_.select(0, l).select(0, 0));
    v_.push_back(storage_.select(0, l).select(0, 1));
  }
}

size_t KVCache::nbytes() const { return storage_.nbytes(); }

}  // namespace khub
