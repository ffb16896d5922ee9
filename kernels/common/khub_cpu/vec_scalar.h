// The scalar "vector": one float lane with the same interface as vec_avx2.h / vec_avx512.h, so one
// templated compute body serves every path. Compiled for the baseline ISA.
#ifndef KHUB_CPU_VEC_SCALAR_H_
#define KHUB_CPU_VEC_SCALAR_H_

#ifndef KHUB_CPU_HALF_H_
#error "include half.h (and every other baseline header) before the ISA headers"
#endif

#include <cmath>

namespace khub_cpu::scalar {

constexpr int kWidth = 1;

struct Vec {
  float v;
};
struct Mask {
  bool m;
};

inline Vec vzero() { return {0.0f}; }
inline Vec vset(float x) { return {x}; }
inline Vec operator+(Vec a, Vec b) { return {a.v + b.v}; }
inline Vec operator-(Vec a, Vec b) { return {a.v - b.v}; }
inline Vec operator*(Vec a, Vec b) { return {a.v * b.v}; }
inline Vec operator/(Vec a, Vec b) { return {a.v / b.v}; }
inline Vec operator-(Vec a) { return {-a.v}; }
inline Vec fmadd(Vec a, Vec b, Vec c) { return {a.v * b.v + c.v}; }   // a*b + c
inline Vec fnmadd(Vec a, Vec b, Vec c) { return {c.v - a.v * b.v}; }  // c - a*b
inline Vec vabs(Vec a) { return {std::fabs(a.v)}; }
inline Vec vrecip(Vec a) { return {1.0f / a.v}; }
// Clamps x into [lo, hi]; a NaN x stays NaN.
inline Vec clamp(Vec x, Vec lo, Vec hi) {
  float y = x.v < lo.v ? lo.v : x.v;
  return {y > hi.v ? hi.v : y};
}
inline Mask operator<(Vec a, Vec b) { return {a.v < b.v}; }
inline Mask operator>(Vec a, Vec b) { return {a.v > b.v}; }
inline Vec select(Mask m, Vec if_true, Vec if_false) { return m.m ? if_true : if_false; }
inline float reduce_add(Vec a) { return a.v; }
// Round to nearest even without a libm call (baseline x86-64 has no roundss): adding and
// subtracting 1.5 * 2^23 rounds any |a| < 2^22 to an integer; larger floats already are.
inline Vec vround(Vec a) {
  const float magic = 12582912.0f;
  return {std::fabs(a.v) < 4194304.0f ? (a.v + magic) - magic : a.v};
}
// p * 2^n for an integral n in [-150, 128]: two exact power-of-two factors (2^n1, n1 in
// [-126, 127], and 2^(n - n1), in [2^-24, 2]), so overflow gives inf and small results round
// into the subnormals.
inline float pow2_bits(int32_t n) { return f32_from_bits(static_cast<uint32_t>(n + 127) << 23); }
inline Vec scale_pow2(Vec p, Vec n) {
  if (!(n.v == n.v)) return n;  // NaN: the float-to-int conversion would be undefined
  int32_t ni = static_cast<int32_t>(n.v), n1 = ni < -126 ? -126 : ni > 127 ? 127 : ni;
  return {p.v * pow2_bits(n1) * pow2_bits(ni - n1)};
}

inline Vec scale_pow2_normal(Vec p, Vec n) { return scale_pow2(p, n); }
inline bool any_outside(Vec, float, float) { return false; }  // scale_pow2_normal is exact here

template <typename T>
inline Vec load(const T* p) {
  return {to_f32(*p)};
}
template <typename T>
inline Vec load_n(const T* p, int n) {
  return n > 0 ? load(p) : vzero();
}
template <typename T>
inline void store(T* p, Vec v) {
  *p = from_f32<T>(v.v);
}
template <typename T>
inline void store_n(T* p, Vec v, int n) {
  if (n > 0) store(p, v);
}
// No non-temporal stores on the baseline path: plain stores.
template <typename T>
inline void store_stream(T* p, Vec v) {
  store(p, v);
}
inline void stream_fence() {}

template <typename T>
inline Vec quantize(Vec v) {
  return {round_to<T>(v.v)};
}

}  // namespace khub_cpu::scalar

#endif  // KHUB_CPU_VEC_SCALAR_H_
