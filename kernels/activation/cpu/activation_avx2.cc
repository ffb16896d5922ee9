// The avx2 path of the gated activation kernels: activation_compute.h compiled for avx2.
#include "activation_rows.h"
// clang-format off
#include "khub_cpu/target_avx2_begin.h"
#define KHUB_ISA_NS avx2
#include "khub_cpu/vec_avx2.h"
#include "activation_compute.h"
#include "khub_cpu/target_end.h"
// clang-format on

namespace khub_activation {

extern const KernelTable kAvx2Kernels = {avx2::row_kernels<float>(), avx2::row_kernels<bf16_t>(),
                                         avx2::row_kernels<f16_t>()};

}  // namespace khub_activation
