// Row gathers and scatters driven by index tensors (i32, on the data's device). A step that keeps
// its token ids, positions and cache rows in device memory runs through these, so it can be
// captured in a CUDA graph once and replayed with new values written into the same buffers.
#pragma once

#include "core/tensor.h"

namespace khub::ops {

// out[i] = table[idx[i]] converted to out_dtype: table [R, ...] contiguous, idx [n] i32 on the
// table's device; returns [n, ...]. Indices are not checked on the device: callers validate them
// on the host before they upload them (an index outside [0, R) reads out of bounds).
Tensor index_rows(const Tensor& table, const Tensor& idx, DType out_dtype);

// Writes a step's keys and values into the KV cache of one layer: k_cache and v_cache
// [S, C, Hk, D] are rows [S·C, Hk·D]; k[i] and v[i] ([n, Hk, D], the last two dims contiguous, any
// row stride) go to row rows[i] (= slot · C + position, i32 [n] on the cache's device). One launch
// on CUDA. Rows are not checked on the device (callers validate them on the host).
void kv_append(Tensor& k_cache, Tensor& v_cache, const Tensor& k, const Tensor& v,
               const Tensor& rows);

// The index of the largest value of each row of x [rows, cols] (f32; on CUDA also bf16/f16) — the
// first one on ties; NaN is skipped, a row of only NaN gives 0 — as i32 [rows] on x's device:
// greedy decoding picks its tokens on the device and copies back `rows` ids instead of the whole
// logits. out: where to write them (contiguous i32 [rows] on x's device), or undefined for a new
// tensor; returned either way. mirror: a second place for the picks (below).
struct PicksMirror {
  // 2 × rows i32 that x's device stores into (on CUDA, MappedHostBuffer::device_view()), or null.
  int32_t* to = nullptr;
  // An i32 on x's device whose low bit picks the half of `to` the picks go to: a reader one step
  // behind reads one half while the next step writes the other.
  Tensor half;
};
Tensor argmax_rows(const Tensor& x, Tensor out = Tensor(), const PicksMirror& mirror = {});

}  // namespace khub::ops
