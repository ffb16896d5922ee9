// Internal to ops/: the CUDA implementations that each op's dispatch (<op>.cc) calls for CUDA
// tensors. Defined in <op>_cuda.cu when khub is built with CUDA, and by ops_cuda_unavailable.cc
// (which says "built without CUDA") otherwise. Arguments are validated by the callers in <op>.cc
// for what is common to both devices and here for what is CUDA-specific.
#pragma once

#include <cstdint>
#include <vector>

#include "core/tensor.h"
#include "ops/activation.h"
#include "ops/attention.h"
#include "ops/indexing.h"

namespace khub::ops::cuda {

// y = x · wᵀ (+ bias), x/w/bias one dtype (f32, bf16, f16), f32 accumulation (cuBLAS, or a GEMV
// kernel for a few bf16/f16 rows); linear_split writes the output features' parts separately.
Tensor linear(const Tensor& x, const Tensor& w, const Tensor& bias, bool weight_constant);
std::vector<Tensor> linear_split(const Tensor& x, const Tensor& w, const Tensor& bias,
                                 const std::vector<int64_t>& sizes, bool weight_constant);
// weight_offset 0: RMSNorm; 1: Gemma's (1 + weight).
Tensor rms_norm(const Tensor& x, const Tensor& weight, float eps, float weight_offset);
Tensor act_and_mul(const Tensor& x, GatedActivation act);
void apply_rotary(Tensor& q, Tensor& k, const Tensor& cos, const Tensor& sin, int64_t rotary_dim,
                  bool interleaved);
Tensor attention(const Tensor& q, const Tensor& k, const Tensor& v, const AttentionParams& p,
                 const Tensor& sinks);
void add_inplace(Tensor& a, const Tensor& b);
void scale_inplace(Tensor& a, float s);
void softcap_inplace(Tensor& x, float cap);
Tensor cast(const Tensor& x, DType dtype);
Tensor index_rows(const Tensor& table, const Tensor& idx, DType out_dtype);
Tensor argmax_rows(const Tensor& x, Tensor out, const PicksMirror& mirror);
void kv_append(Tensor& k_cache, Tensor& v_cache, const Tensor& k, const Tensor& v,
               const Tensor& rows);

}  // namespace khub::ops::cuda
