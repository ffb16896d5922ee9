// 16-bit float storage types and their scalar conversions, shared by every CPU kernel.
//
// Kernels store bf16/f16 and compute in f32. These conversions are compiled for the baseline ISA
// (this header must be included before any `#pragma GCC target` region, see vec_avx2.h), so their
// out-of-line copies can never carry AVX instructions into the scalar path.
// Rounding: round to nearest, ties to even, NaN stays NaN (quiet); f16 handles subnormals,
// overflow to infinity and underflow to signed zero.
#ifndef KHUB_CPU_HALF_H_
#define KHUB_CPU_HALF_H_

#include <cstdint>
#include <cstring>

namespace khub_cpu {

struct bf16_t {
  uint16_t bits;
};
struct f16_t {
  uint16_t bits;
};

inline uint32_t f32_bits(float f) {
  uint32_t b;
  std::memcpy(&b, &f, 4);
  return b;
}
inline float f32_from_bits(uint32_t b) {
  float f;
  std::memcpy(&f, &b, 4);
  return f;
}

inline float to_f32(float v) { return v; }
inline float to_f32(bf16_t v) { return f32_from_bits(static_cast<uint32_t>(v.bits) << 16); }
inline float to_f32(f16_t v) {
  uint32_t h = v.bits;
  uint32_t sign = (h & 0x8000u) << 16;
  uint32_t exp = (h >> 10) & 0x1fu;
  uint32_t man = h & 0x3ffu;
  if (exp == 0x1f) return f32_from_bits(sign | 0x7f800000u | (man << 13));  // inf / NaN
  if (exp != 0) return f32_from_bits(sign | ((exp + 112) << 23) | (man << 13));
  // Zero or subnormal: value = man * 2^-24, exact in f32.
  float mag = static_cast<float>(man) * 5.9604644775390625e-08f;
  return sign ? -mag : mag;
}

inline uint16_t bf16_bits_from_f32(float f) {
  uint32_t b = f32_bits(f);
  if ((b & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((b >> 16) | 0x40u);
  b += 0x7fffu + ((b >> 16) & 1u);
  return static_cast<uint16_t>(b >> 16);
}

inline uint16_t f16_bits_from_f32(float f) {
  uint32_t b = f32_bits(f);
  uint16_t sign = static_cast<uint16_t>((b >> 16) & 0x8000u);
  uint32_t abs = b & 0x7fffffffu;
  if (abs > 0x7f800000u) return sign | 0x7e00u;   // NaN
  if (abs >= 0x477ff000u) return sign | 0x7c00u;  // rounds to >= 65520: infinity
  if (abs >= 0x38800000u) {                       // normal f16 (>= 2^-14)
    uint32_t r = abs + 0xfffu + ((abs >> 13) & 1u) - (112u << 23);
    return sign | static_cast<uint16_t>(r >> 13);
  }
  if (abs < 0x33000000u) return sign;  // < 2^-25: rounds to zero (2^-25 itself ties to even 0)
  // Subnormal f16: value / 2^-24 rounded to an integer, ties to even.
  uint32_t exp = abs >> 23;
  uint32_t man = (abs & 0x7fffffu) | 0x800000u;
  uint32_t shift = 126 - exp;  // 14..24 for exp in [102, 112]
  uint32_t q = man >> shift;
  uint32_t rem = man & ((1u << shift) - 1);
  uint32_t half = 1u << (shift - 1);
  if (rem > half || (rem == half && (q & 1u))) ++q;
  return sign | static_cast<uint16_t>(q);
}

// from_f32<T>(v): v rounded to T.
template <typename T>
T from_f32(float v);
template <>
inline float from_f32<float>(float v) {
  return v;
}
template <>
inline bf16_t from_f32<bf16_t>(float v) {
  return bf16_t{bf16_bits_from_f32(v)};
}
template <>
inline f16_t from_f32<f16_t>(float v) {
  return f16_t{f16_bits_from_f32(v)};
}

// Rounds v to T's precision and back: the value a T tensor would hold.
template <typename T>
inline float round_to(float v) {
  return to_f32(from_f32<T>(v));
}

}  // namespace khub_cpu

#endif  // KHUB_CPU_HALF_H_
