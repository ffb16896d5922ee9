// khub-community/rmsnorm, CUDA variant: RMSNorm, GemmaRMSNorm (scale 1 + weight) and fused
// residual-add + RMSNorm, forward and backward (docs/layer-contracts.md). What the ABI entries and
// the manifest (rmsnorm_binding.cu) share with the forward (rmsnorm_forward.cu) and the backward
// (rmsnorm_backward.cu): the scale, the warp reduction and the checks both directions make.
// Memory-bound: each row is read once and written once with 16-byte accesses; sums in f32.
// Unaligned pointers or a hidden size that is not a multiple of the vector use 1-element accesses.
// Numerics as HF: LlamaRMSNorm rounds x * rstd to the dtype before multiplying by weight;
// Gemma3RMSNorm multiplies by (1 + weight) in f32; the fused residual is rounded once to the dtype.
// The backward treats LlamaRMSNorm's intermediate rounding as the identity (as autograd does).
#ifndef KHUB_RMSNORM_CUDA_RMSNORM_CUDA_CUH_
#define KHUB_RMSNORM_CUDA_RMSNORM_CUDA_CUH_

#include <cmath>
#include <cstdint>

#include "khub/kernel_abi.h"
#include "khub_cuda/abi_cuda.cuh"

namespace khub_rmsnorm_cuda {

using khub_cuda::Call;
using khub_cuda::ElemType;
using khub_cuda::from_f32;
using khub_cuda::load_vec;
using khub_cuda::round_to;
using khub_cuda::store_vec;
using khub_cuda::to_f32;
using khub_cuda::Vec;

enum class Scale { kWeight, kOnePlusWeight };

__device__ __forceinline__ float warp_sum(float v) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}

// Reads the eps attribute (finite, >= 0) into *eps; false (with the call's error set) otherwise.
inline bool read_eps(Call& c, float* eps) {
  const khub_value* v = c.attr("eps", KHUB_VALUE_FLOAT);
  if (v == nullptr) return false;
  if (!std::isfinite(v->v.f) || v->v.f < 0) {
    c.fail(KHUB_STATUS_INVALID_ARGUMENT, "attribute eps is %g, expected a finite value >= 0",
           v->v.f);
    return false;
  }
  *eps = static_cast<float>(v->v.f);
  return true;
}

// The kernels index a row's elements with int and count rows with int: tensor x (`name`) of
// `hidden` columns must fit both.
inline bool fits_int_indexing(Call& c, int x, const char* name, int64_t hidden) {
  if (hidden > (int64_t{1} << 30) || (hidden > 0 && c.numel(x) / hidden > 0x7fffffffLL)) {
    c.fail(KHUB_STATUS_UNSUPPORTED, "%s is too large (%lld elements)", name,
           static_cast<long long>(c.numel(x)));
    return false;
  }
  return true;
}

// The six functions of the manifest, by direction: `scale` and `fused` pick the family
// (RMSNorm: kWeight, unfused; GemmaRMSNorm: kOnePlusWeight, unfused; FusedAddRMSNorm: kWeight,
// fused). `fn` names the function in errors.
khub_status forward(const char* fn, Scale scale, bool fused, const khub_call* call,
                    khub_error* error);
khub_status backward(const char* fn, Scale scale, bool fused, const khub_call* call,
                     khub_error* error);

// Workspace query of the backward functions (bytes for the call's row groups).
uint64_t backward_workspace(const khub_call* call);

}  // namespace khub_rmsnorm_cuda

#endif  // KHUB_RMSNORM_CUDA_RMSNORM_CUDA_CUH_
