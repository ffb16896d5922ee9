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

void KVCache::write(int64_t layer, int64_t slot, int64_t pos, const Tensor& k, const Tensor& v) {
  int64_t n = k.size(0);
  KHUB_CHECK_ARG(pos >= 0 && pos + n <= capacity_, "KV cache: writing positions [", pos, ", ",
                 pos + n, ") beyond its capacity of ", capacity_,
                 " (raise max_new_tokens' budget when creating the cache)");
  keys(layer, slot).slice(0, pos, pos + n).copy_from(k);
  values(layer, slot).slice(0, pos, pos + n).copy_from(v);
}

size_t KVCache::nbytes() const { return storage_.nbytes(); }

}  // namespace khub
