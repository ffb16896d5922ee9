// Row loops over the vectors of the current ISA (KHUB_ISA_NS): full vectors, then one partial
// vector for the tail, so a row of any length (1, 7, 4097, ...) is handled without a scalar
// epilogue and without touching memory past its end.
#pragma once

#ifndef KHUB_ISA_NS
#error "define KHUB_ISA_NS (scalar, avx2 or avx512) before including vec_loop.h"
#endif

#include <cstdint>

namespace khub_cpu::KHUB_ISA_NS {

// Calls body(i, len) for i = 0, kWidth, 2 kWidth, ... with len = kWidth, and once more with
// 0 < len < kWidth for the tail. Inlined, the full-width calls see len as the constant kWidth.
template <typename Body>
inline void for_chunks(int64_t n, const Body& body) {
  int64_t i = 0;
  for (; i + kWidth <= n; i += kWidth) body(i, kWidth);
  if (i < n) body(i, static_cast<int>(n - i));
}

// len lanes from p; lanes past len are zero.
template <typename T>
inline Vec load_len(const T* p, int len) {
  return len == kWidth ? load(p) : load_n(p, len);
}
template <typename T>
inline void store_len(T* p, Vec v, int len) {
  if (len == kWidth) {
    store(p, v);
  } else {
    store_n(p, v, len);
  }
}

}  // namespace khub_cpu::KHUB_ISA_NS
