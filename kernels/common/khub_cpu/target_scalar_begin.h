// The scalar path's "region": baseline code, same includes as the SIMD regions.
// No include guard: each ISA translation unit includes it exactly once.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <type_traits>

#include "half.h"
