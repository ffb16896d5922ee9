// Opens the avx2 target region of an ISA translation unit (close it with target_end.h).
// Every baseline header the region's code uses is included first, so no inline function of a
// shared header is ever first compiled inside the region (see vec_avx2.h).
// No include guard: each ISA translation unit includes it exactly once.
#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <type_traits>

#include "half.h"

#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx2,fma,f16c"))), apply_to = function)
#else
#pragma GCC push_options
#pragma GCC target("avx2,fma,f16c")
#endif
