// khub-community/rmsnorm, CUDA variant: the khub kernel ABI (include/khub/kernel_abi.h). The
// manifest (the tables the CPU variant shares, ../rmsnorm_manifest.h) and one exported function per
// entry, which hands the call to the forward (rmsnorm_forward.cu) or the backward
// (rmsnorm_backward.cu) of its family and turns an escaping C++ exception into an error status.
#include "../rmsnorm_manifest.h"
#include "khub/kernel_manifest.h"
#include "rmsnorm_cuda.cuh"

namespace khub_rmsnorm_cuda {
namespace {

constexpr const char* kDtypes = "f32,bf16,f16";
constexpr uint32_t kFnFlags = KHUB_FN_CAN_CAPTURE | KHUB_FN_DETERMINISTIC;
constexpr uint32_t kC = KHUB_ARG_CONTIGUOUS;

// grad_weight in f32 (preferred by khub: the sum over every token stays unrounded) or x's dtype.
KHUB_RMSNORM_ARG_TABLES(kC, "f32,bf16,f16", "f32,bf16,f16");

}  // namespace
}  // namespace khub_rmsnorm_cuda

using khub_rmsnorm_cuda::Scale;

extern "C" {

#define KHUB_RMSNORM_ENTRY(fn, impl, scale, fused)                                             \
  KHUB_KERNEL_EXPORT khub_status khub_rmsnorm_##fn(const khub_call* call, khub_error* error) { \
    return khub_cuda::guard_boundary(                                                          \
        #fn, error, [&] { return khub_rmsnorm_cuda::impl(#fn, scale, fused, call, error); });  \
  }

KHUB_RMSNORM_ENTRY(rms_norm_forward, forward, Scale::kWeight, false)
KHUB_RMSNORM_ENTRY(rms_norm_backward, backward, Scale::kWeight, false)
KHUB_RMSNORM_ENTRY(gemma_rms_norm_forward, forward, Scale::kOnePlusWeight, false)
KHUB_RMSNORM_ENTRY(gemma_rms_norm_backward, backward, Scale::kOnePlusWeight, false)
KHUB_RMSNORM_ENTRY(fused_add_rms_norm_forward, forward, Scale::kWeight, true)
KHUB_RMSNORM_ENTRY(fused_add_rms_norm_backward, backward, Scale::kWeight, true)

}  // extern "C"

namespace khub_rmsnorm_cuda {
namespace {

KHUB_RMSNORM_FUNCTION_TABLE(kFnFlags, "{\"min_compute_capability\": \"8.0\"}");
constexpr uint32_t kLayerFlags = KHUB_LAYER_HAS_BACKWARD | KHUB_LAYER_CAN_CAPTURE;
KHUB_RMSNORM_LAYER_TABLE(kLayerFlags);

}  // namespace
}  // namespace khub_rmsnorm_cuda

KHUB_DEFINE_KERNEL_MANIFEST("rmsnorm", "cuda", khub_rmsnorm_cuda::kFunctions,
                            khub_rmsnorm_cuda::kLayers)
