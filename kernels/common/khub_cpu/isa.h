// Run-time choice of the SIMD path: scalar (any x86-64), AVX2 (+FMA, F16C), AVX-512 (F, BW, VL)
// or AVX-512 with BF16 (the AVX-512 code with vcvtneps2bf16 for rounding to bf16; Cooper Lake,
// Sapphire Rapids, Zen 4 and later). The library is compiled for baseline x86-64; the AVX2 and
// AVX-512 code lives in separate translation units under `#pragma GCC target`, and is only called
// after cpu_isa_best() has confirmed the CPU and the OS (XCR0) support it.
//
// KHUB_CPU_ISA=scalar|avx2|avx512|avx512bf16 forces a path (tests use it to check every path on one
// machine; `auto` or unset picks the best). Forcing a path the CPU lacks is an error, never a
// silent downgrade, so a test that asked for AVX-512 cannot pass by running AVX2.
#ifndef KHUB_CPU_ISA_H_
#define KHUB_CPU_ISA_H_

#include "status.h"

namespace khub_cpu {

enum class Isa { kScalar = 0, kAvx2 = 1, kAvx512 = 2, kAvx512Bf16 = 3 };

const char* isa_name(Isa isa);
// The best path this CPU and OS support (detected once per library copy).
Isa cpu_isa_best();
// The path to use for this call: KHUB_CPU_ISA if set (kInvalidArgument for an unknown value,
// kUnsupported when the CPU lacks it), else cpu_isa_best().
Status isa_select(Isa* isa, ErrorText* error);

}  // namespace khub_cpu

#endif  // KHUB_CPU_ISA_H_
