// Linear layers and matrix products, the reference path's GEMMs (DESIGN §1: OpenBLAS on CPU).
#pragma once

#include "core/tensor.h"

namespace khub::ops {

// y = x · wᵀ (+ bias). x: f32 [..., in]; w: [out, in] in f32, bf16 or f16 (kept in that dtype in
// memory: bf16/f16 rows are widened to f32 in blocks that fit the cache, then multiplied with
// sgemm); bias: [out] or undefined. Returns f32 [..., out].
Tensor linear(const Tensor& x, const Tensor& w, const Tensor& bias = Tensor());

// Number of BLAS threads (0 = OpenBLAS default).
void set_blas_threads(int n);

}  // namespace khub::ops
