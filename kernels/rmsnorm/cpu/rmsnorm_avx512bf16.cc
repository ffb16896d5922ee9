// The avx512bf16 path of the RMSNorm kernels: rmsnorm_compute.h compiled for AVX-512 with BF16
// conversions (vec_avx512.h under KHUB_CPU_WITH_AVX512BF16).
#include "rmsnorm_rows.h"
// clang-format off
#include "khub_cpu/target_avx512bf16_begin.h"
#define KHUB_ISA_NS avx512bf16
#include "khub_cpu/vec_avx512.h"
#include "rmsnorm_compute.h"
#include "khub_cpu/target_end.h"
// clang-format on

namespace khub_rmsnorm {

extern const KernelTable kAvx512Bf16Kernels = {avx512bf16::row_kernels<float>(),
                                               avx512bf16::row_kernels<bf16_t>(),
                                               avx512bf16::row_kernels<f16_t>()};

}  // namespace khub_rmsnorm
