// Row loops over the vectors of the current ISA (KHUB_ISA_NS): full vectors, then one partial
// vector for the tail, so a row of any length (1, 7, 4097, ...) is handled without a scalar
// epilogue and without touching memory past its end.
#pragma once

#ifndef KHUB_ISA_NS
#error "define KHUB_ISA_NS (scalar, avx2 or avx512) before including vec_loop.h"
#endif

#include <cstdint>
#include <type_traits>

namespace khub_cpu::KHUB_ISA_NS {

// The length of a full chunk as a type, so code for full chunks and code for the tail are two
// separate instantiations: a runtime `len == kWidth` test lets the compiler merge both into the
// tail's buffered loads (it did, for AVX2).
using FullChunk = std::integral_constant<int, kWidth>;

// Calls body(i, FullChunk{}) for i = 0, kWidth, 2 kWidth, ..., then body(i, len) once with
// 0 < len < kWidth (an int) for the tail. Bodies take `auto len` and use load_len / store_len.
template <typename Body>
inline void for_chunks(int64_t n, const Body& body) {
  int64_t i = 0;
  for (; i + kWidth <= n; i += kWidth) body(i, FullChunk{});
  if (i < n) body(i, static_cast<int>(n - i));
}

template <typename T>
inline Vec load_len(const T* p, FullChunk) {
  return load(p);
}
// len lanes from p; lanes past len are zero.
template <typename T>
inline Vec load_len(const T* p, int len) {
  return load_n(p, len);
}
template <typename T>
inline void store_len(T* p, Vec v, FullChunk) {
  store(p, v);
}
template <typename T>
inline void store_len(T* p, Vec v, int len) {
  store_n(p, v, len);
}

// Stores of an output row: non-temporal for full chunks when `stream` (the caller checked that
// the row is aligned to a vector's size and that the output is too large to stay in cache).
template <typename T>
inline void store_out(T* p, Vec v, FullChunk, bool stream) {
  if (stream) {
    store_stream(p, v);
  } else {
    store(p, v);
  }
}
template <typename T>
inline void store_out(T* p, Vec v, int len, bool) {
  store_n(p, v, len);
}
// True when full-vector stores from p on are aligned for store_stream.
template <typename T>
inline bool stream_aligned(const T* p) {
  return reinterpret_cast<uintptr_t>(p) % (sizeof(T) * kWidth) == 0;
}

}  // namespace khub_cpu::KHUB_ISA_NS
