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
#include "ops/moe.h"

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
// Mixture of experts (ops/moe_cuda.cu): the routing computed on the device and read back; the
// experts on the device (x and the weights in one dtype), one cuBLAS GEMM pair per used expert.
ExpertRoutes moe_route(const Tensor& logits, int64_t top_k, bool softmax_topk, bool renormalize);
Tensor moe_experts(const Tensor& x, const ExpertRoutes& routes, const Tensor& gate_up,
                   const Tensor& down, const ExpertActivation& activation,
                   const Tensor& gate_up_bias, const Tensor& down_bias);
// Zeroes a contiguous tensor (cudaMemsetAsync on the device's stream).
void zero_inplace(Tensor& t);

// Backward (ops/backward.h, docs/design.md §10). Activations and their gradients share one
// floating dtype T (f32, bf16, f16; f32 arithmetic); parameter gradients (dweight, dw, db,
// dtable, dk/dv caches) are f32 accumulators. Shapes are checked by the callers in backward_*.cc.
Tensor rms_norm_backward(const Tensor& x, const Tensor& weight, float eps, float weight_offset,
                         const Tensor& dy, Tensor* dweight);
Tensor act_and_mul_backward(const Tensor& x, const Tensor& dy, GatedActivation act);
void apply_rotary_backward(Tensor& dq, Tensor& dk, const Tensor& cos, const Tensor& sin,
                           int64_t rotary_dim, bool interleaved);
void softcap_backward_inplace(Tensor& dy, const Tensor& y, float cap);
// dx = dy · w (when dx is non-null; allocated in dy's dtype), *dw += dyᵀ · x, *db += Σ_rows dy.
void linear_backward(const Tensor& x, const Tensor& w, const Tensor& dy, Tensor* dx, Tensor* dw,
                     Tensor* db);
// ids: I32 on the device, one per row of dy.
void embedding_backward(const Tensor& dy, const Tensor& ids, float scale, Tensor& dtable);
// labels: I32 on the device, checked by the caller. Returns the sum of the row losses (one
// device-to-host read).
double cross_entropy(const Tensor& logits, const Tensor& labels, float grad_scale, Tensor* dlogits);
// One sequence (as ops::attention): q, dout contiguous [Sq, Hq, D]; k, v [Skv, Hk, D] with
// contiguous rows; dq contiguous [Sq, Hq, D] in q's dtype (written); dk, dv f32 [Skv, Hk, D]
// with contiguous rows (added into); sinks f32 [Hq] or undefined, dsinks f32 [Hq] (added).
void attention_backward(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& dout,
                        const AttentionParams& p, const Tensor& sinks, Tensor& dq, Tensor& dk,
                        Tensor& dv, Tensor* dsinks);

}  // namespace khub::ops::cuda
