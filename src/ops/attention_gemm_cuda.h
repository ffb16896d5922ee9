// Internal to the CUDA attention op: the GEMM path for long query blocks (prefill), the way
// PyTorch eager attention computes it: scores = q·kᵀ (cuBLAS), masked softmax, out = p·v (cuBLAS).
#pragma once

#include <cuda_runtime_api.h>

#include "core/tensor.h"
#include "ops/attention.h"

namespace khub::ops::cuda {

// q: contiguous [Sq, Hq, D]; k, v: [Skv, Hk, D] with contiguous rows, q's dtype; sinks: f32 [Hq]
// on the device or null; out: [Sq, Hq, D] in q's dtype, fully written.
void attention_gemm(const Tensor& q, const Tensor& k, const Tensor& v, const AttentionParams& p,
                    const float* sinks, Tensor& out, cudaStream_t stream);

}  // namespace khub::ops::cuda
