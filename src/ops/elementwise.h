// Small elementwise and indexing ops of the reference path.
#pragma once

#include <cstdint>
#include <vector>

#include "core/tensor.h"

namespace khub::ops {

// Dtypes: f32 on the CPU; f32, bf16 and f16 on CUDA (computed in f32, rounded once).

// a += b (same shape and dtype, a contiguous).
void add_inplace(Tensor& a, const Tensor& b);
// a *= s (contiguous).
void scale_inplace(Tensor& a, float s);
// x = cap * tanh(x / cap) (contiguous).
void softcap_inplace(Tensor& x, float cap);
// Rows of table [V, H] (any float dtype) for host ids → out_dtype [ids.size(), H] on the table's
// device: the ids are checked here (out of [0, V) is an error naming the id), then gathered by
// ops::index_rows.
Tensor embedding(const Tensor& table, const std::vector<int32_t>& ids,
                 DType out_dtype = DType::kF32);
// t = 0 (any dtype and device; contiguous on CUDA). Gradients are zeroed with it.
void zero_inplace(Tensor& t);
// x converted to dtype (same device; x itself when the dtype already matches).
Tensor cast(const Tensor& x, DType dtype);

}  // namespace khub::ops
