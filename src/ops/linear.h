// Linear layers and matrix products, the reference path's GEMMs (docs/design.md §1: OpenBLAS on
// CPU).
#pragma once

#include <vector>

#include "core/tensor.h"

namespace khub::ops {

// y = x · wᵀ (+ bias). CPU: x f32 [..., in]; w: [out, in] in f32, bf16 or f16 (kept in that dtype
// in memory: bf16/f16 rows are widened to f32 in blocks that fit the cache, then multiplied with
// sgemm); bias: [out] or undefined; returns f32 [..., out]. CUDA: x, w and bias share one dtype
// (f32, bf16, f16), cuBLAS with f32 accumulation (f32 without TF32), returns that dtype; up to 8
// bf16/f16 rows (decode) run a weight-streaming GEMV kernel instead (ops/linear_cuda.cu).
// weight_constant: w is not written by the kernel queued just before this call on the stream
// (model weights in a forward pass). On CUDA 9.0+ the GEMV then starts reading w while that
// kernel still runs (programmatic dependent launch); leave it false for a weight being updated.
Tensor linear(const Tensor& x, const Tensor& w, const Tensor& bias = Tensor(),
              bool weight_constant = false);

// linear() with the output features split into parts of the given sizes (summing to w's rows),
// one contiguous [..., sizes[i]] tensor each: a fused q/k/v projection. The CUDA GEMV writes the
// parts directly; elsewhere they are copied out of one product.
std::vector<Tensor> linear_split(const Tensor& x, const Tensor& w, const Tensor& bias,
                                 const std::vector<int64_t>& sizes, bool weight_constant = false);

// Number of BLAS threads (0 = OpenBLAS default).
void set_blas_threads(int n);

}  // namespace khub::ops
