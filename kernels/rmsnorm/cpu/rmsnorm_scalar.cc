// The scalar path of the RMSNorm kernels: rmsnorm_compute.h compiled for scalar.
#include "rmsnorm_rows.h"
// clang-format off
#include "khub_cpu/target_scalar_begin.h"
#define KHUB_ISA_NS scalar
#include "khub_cpu/vec_scalar.h"
#include "rmsnorm_compute.h"

// clang-format on

namespace khub_rmsnorm {

extern const KernelTable kScalarKernels = {
    scalar::row_kernels<float>(), scalar::row_kernels<bf16_t>(), scalar::row_kernels<f16_t>()};

}  // namespace khub_rmsnorm
