// Opens the avx512bf16 target region of an ISA translation unit (close it with target_end.h).
// Every baseline header the region's code uses is included first, so no inline function of a
// shared header is ever first compiled inside the region (see vec_avx2.h).
// No include guard: each ISA translation unit includes it exactly once.
//
// GCC 12 reports the `__Y = __Y` idiom inside its own AVX-512 intrinsics (_mm512_undefined_*) as
// an uninitialized use; the warning points into avx512fintrin.h, so it is silenced from here on,
// before <immintrin.h> is first included (nothing earlier in an ISA unit includes it).
#if !defined(__clang__)
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <type_traits>

#include "half.h"

// vec_avx512.h uses vcvtneps2bf16 for bf16 rounding in this region.
#define KHUB_CPU_WITH_AVX512BF16 1

#if defined(__clang__)
#pragma clang attribute push(                                                      \
    __attribute__((target("avx512f,avx512bw,avx512vl,avx512bf16,avx2,fma,f16c"))), \
    apply_to = function)
#else
#pragma GCC push_options
#pragma GCC target("avx512f,avx512bw,avx512vl,avx512bf16,avx2,fma,f16c")
#endif
