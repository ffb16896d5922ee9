// The KV cache: preallocated once for `slots` sequences × `capacity` positions per layer, in the
// activation dtype on the model's device (f32 on the CPU); sequences write their keys and values
// in place at their positions and attention reads views. It is never grown by concatenation.
#pragma once

#include <vector>

#include "core/tensor.h"

namespace khub {

class KVCache {
 public:
  KVCache(int64_t layers, int64_t slots, int64_t capacity, int64_t kv_heads, int64_t head_dim,
          Device device = Device::cpu(), DType dtype = DType::kF32);

  int64_t slots() const { return slots_; }
  int64_t capacity() const { return capacity_; }
  // Positions filled for a slot (the next token's position).
  int64_t length(int64_t slot) const { return lengths_[slot]; }
  void set_length(int64_t slot, int64_t n) { lengths_[slot] = n; }
  void reset() { std::fill(lengths_.begin(), lengths_.end(), 0); }

  // A layer's whole cache [slots, capacity, kv_heads, head_dim] (a view sharing its memory).
  Tensor layer_keys(int64_t layer) const { return k_[layer]; }
  Tensor layer_values(int64_t layer) const { return v_[layer]; }
  // The one allocation every layer's keys and values live in (a captured step bakes it in).
  const void* data() const { return storage_.data(); }
  // That allocation as a tensor [layers, 2, slots, capacity, kv_heads, head_dim] (DecodeStep).
  const Tensor& storage() const { return storage_; }
  size_t nbytes() const;

 private:
  int64_t slots_, capacity_;
  Tensor storage_;             // [layers, 2, slots, capacity, kv_heads, head_dim]: one allocation
  std::vector<Tensor> k_, v_;  // per layer: [slots, capacity, kv_heads, head_dim] views
  std::vector<int64_t> lengths_;
};

}  // namespace khub
