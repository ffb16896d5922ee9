// The scalar path of the gated activation kernels: activation_compute.h compiled for scalar.
#include "activation_rows.h"
// clang-format off
#include "khub_cpu/target_scalar_begin.h"
#define KHUB_ISA_NS scalar
#include "khub_cpu/vec_scalar.h"
#include "activation_compute.h"

// clang-format on

namespace khub_activation {

extern const KernelTable kScalarKernels = {
    scalar::row_kernels<float>(), scalar::row_kernels<bf16_t>(), scalar::row_kernels<f16_t>()};

}  // namespace khub_activation
