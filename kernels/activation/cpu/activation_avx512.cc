// The avx512 path of the gated activation kernels: activation_compute.h compiled for avx512.
#include "activation_rows.h"
// clang-format off
#include "khub_cpu/target_avx512_begin.h"
#define KHUB_ISA_NS avx512
#include "khub_cpu/vec_avx512.h"
#include "activation_compute.h"
#include "khub_cpu/target_end.h"
// clang-format on

namespace khub_activation {

extern const KernelTable kAvx512Kernels = {
    avx512::row_kernels<float>(), avx512::row_kernels<bf16_t>(), avx512::row_kernels<f16_t>()};

}  // namespace khub_activation
