// Small elementwise and indexing ops of the reference path.
#pragma once

#include <cstdint>
#include <vector>

#include "core/tensor.h"

namespace khub::ops {

// a += b (f32, same shape, a contiguous).
void add_inplace(Tensor& a, const Tensor& b);
// a *= s (f32, contiguous).
void scale_inplace(Tensor& a, float s);
// x = cap * tanh(x / cap) (f32, contiguous).
void softcap_inplace(Tensor& x, float cap);
// Rows of table [V, H] (any float dtype) for ids → f32 [ids.size(), H]. Ids out of [0, V) are an
// error naming the id.
Tensor embedding(const Tensor& table, const std::vector<int32_t>& ids);

}  // namespace khub::ops
