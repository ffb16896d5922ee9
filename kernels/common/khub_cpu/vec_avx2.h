// 8-lane f32 vectors for AVX2 + FMA + F16C. Include only inside an AVX2 target region:
//
//   #include <every baseline header, half.h first>
//   #pragma GCC push_options
//   #pragma GCC target("avx2,fma,f16c")
//   #include "vec_avx2.h"
//   ... compute code in an avx2 namespace ...
//   #pragma GCC pop_options
//
// Baseline headers must come first: an inline function first defined inside the region would be
// compiled with AVX2 and could be the copy the linker keeps for the scalar path too.
#ifndef KHUB_CPU_VEC_AVX2_H_
#define KHUB_CPU_VEC_AVX2_H_

#ifndef KHUB_CPU_HALF_H_
#error "include half.h (and every other baseline header) before the ISA headers"
#endif

#include <immintrin.h>

// load_dup, swap_pairs and negate_even exist (rotary's GPT-J layout uses them).
#define KHUB_CPU_VEC_HAS_PAIR_OPS 1

#include <cstring>

namespace khub_cpu::avx2 {

constexpr int kWidth = 8;

struct Vec {
  __m256 v;
};
struct Mask {
  __m256 m;
};

inline Vec vzero() { return {_mm256_setzero_ps()}; }
inline Vec vset(float x) { return {_mm256_set1_ps(x)}; }
inline Vec operator+(Vec a, Vec b) { return {_mm256_add_ps(a.v, b.v)}; }
inline Vec operator-(Vec a, Vec b) { return {_mm256_sub_ps(a.v, b.v)}; }
inline Vec operator*(Vec a, Vec b) { return {_mm256_mul_ps(a.v, b.v)}; }
inline Vec operator/(Vec a, Vec b) { return {_mm256_div_ps(a.v, b.v)}; }
inline Vec operator-(Vec a) { return {_mm256_xor_ps(a.v, _mm256_set1_ps(-0.0f))}; }
inline Vec fmadd(Vec a, Vec b, Vec c) { return {_mm256_fmadd_ps(a.v, b.v, c.v)}; }
inline Vec fnmadd(Vec a, Vec b, Vec c) { return {_mm256_fnmadd_ps(a.v, b.v, c.v)}; }
inline Vec vabs(Vec a) { return {_mm256_andnot_ps(_mm256_set1_ps(-0.0f), a.v)}; }
// 1 / a: the 12-bit estimate and one Newton step (about 1 ulp for normal a); the divider is
// the bottleneck of sigmoid-heavy loops otherwise.
inline Vec vrecip(Vec a) {
  __m256 r = _mm256_rcp_ps(a.v);
  return {_mm256_mul_ps(r, _mm256_fnmadd_ps(a.v, r, _mm256_set1_ps(2.0f)))};
}
// max/min return their second operand when either is NaN: x goes second so NaN propagates.
inline Vec clamp(Vec x, Vec lo, Vec hi) { return {_mm256_min_ps(hi.v, _mm256_max_ps(lo.v, x.v))}; }
inline Mask operator<(Vec a, Vec b) { return {_mm256_cmp_ps(a.v, b.v, _CMP_LT_OQ)}; }
inline Mask operator>(Vec a, Vec b) { return {_mm256_cmp_ps(a.v, b.v, _CMP_GT_OQ)}; }
inline Vec select(Mask m, Vec if_true, Vec if_false) {
  return {_mm256_blendv_ps(if_false.v, if_true.v, m.m)};
}
inline float reduce_add(Vec a) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(a.v), _mm256_extractf128_ps(a.v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}
inline Vec vround(Vec a) {
  return {_mm256_round_ps(a.v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC)};
}
// p * 2^n for integral n in [-126, 127] (results normal or inf): one exponent build.
inline Vec scale_pow2_normal(Vec p, Vec n) {
  __m256i e = _mm256_add_epi32(_mm256_cvtps_epi32(n.v), _mm256_set1_epi32(127));
  return {_mm256_mul_ps(p.v, _mm256_castsi256_ps(_mm256_slli_epi32(e, 23)))};
}
// True when some lane of n lies outside [lo, hi] (or is NaN).
inline bool any_outside(Vec n, float lo, float hi) {
  __m256 in = _mm256_and_ps(_mm256_cmp_ps(n.v, _mm256_set1_ps(lo), _CMP_GE_OQ),
                            _mm256_cmp_ps(n.v, _mm256_set1_ps(hi), _CMP_LE_OQ));
  return _mm256_movemask_ps(in) != 0xff;
}
// p * 2^n for integral n in [-150, 128]: 2^h * 2^(n - h) with h = n >> 1, both factors normal
// floats, so overflow gives inf and small results round into the subnormals.
inline Vec scale_pow2(Vec p, Vec n) {
  __m256i ni = _mm256_cvtps_epi32(n.v);
  __m256i h = _mm256_srai_epi32(ni, 1);
  const __m256i bias = _mm256_set1_epi32(127);
  __m256 f1 = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(h, bias), 23));
  __m256 f2 =
      _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(_mm256_sub_epi32(ni, h), bias), 23));
  return {_mm256_mul_ps(_mm256_mul_ps(p.v, f1), f2)};
}

// v rounded to bf16 (nearest, ties to even), still as f32 bit patterns (low 16 bits zero);
// NaN stays NaN (v itself).
inline __m256i bf16_round_f32_bits(__m256 v) {
  __m256i b = _mm256_castps_si256(v);
  __m256i lsb = _mm256_and_si256(_mm256_srli_epi32(b, 16), _mm256_set1_epi32(1));
  __m256i r = _mm256_add_epi32(_mm256_add_epi32(b, lsb), _mm256_set1_epi32(0x7fff));
  r = _mm256_and_si256(r, _mm256_set1_epi32(static_cast<int>(0xffff0000u)));
  return _mm256_blendv_epi8(r, b, _mm256_castps_si256(_mm256_cmp_ps(v, v, _CMP_UNORD_Q)));
}

inline Vec load(const float* p) { return {_mm256_loadu_ps(p)}; }
inline Vec load(const bf16_t* p) {
  __m256i w = _mm256_cvtepu16_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
  return {_mm256_castsi256_ps(_mm256_slli_epi32(w, 16))};
}
inline Vec load(const f16_t* p) {
  return {_mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)))};
}
inline void store(float* p, Vec v) { _mm256_storeu_ps(p, v.v); }
// The 8 bf16 patterns of v, rounded to nearest even; a NaN becomes 0x7fc0 | its high bits.
inline __m128i bf16_pack(__m256 v) {
  __m256i r = _mm256_srli_epi32(bf16_round_f32_bits(v), 16);
  r = _mm256_or_si256(r, _mm256_and_si256(_mm256_castps_si256(_mm256_cmp_ps(v, v, _CMP_UNORD_Q)),
                                          _mm256_set1_epi32(0x40)));
  return _mm256_castsi256_si128(_mm256_permute4x64_epi64(_mm256_packus_epi32(r, r), 0x08));
}
inline void store(bf16_t* p, Vec v) {
  _mm_storeu_si128(reinterpret_cast<__m128i*>(p), bf16_pack(v.v));
}
inline void store(f16_t* p, Vec v) {
  _mm_storeu_si128(reinterpret_cast<__m128i*>(p), _mm256_cvtps_ph(v.v, _MM_FROUND_TO_NEAREST_INT));
}
// Partial loads and stores go through a small buffer: tails are short, and this never touches
// memory past p[n - 1].
template <typename T>
inline Vec load_n(const T* p, int n) {
  T buf[kWidth] = {};
  std::memcpy(buf, p, sizeof(T) * n);
  return load(buf);
}
template <typename T>
inline void store_n(T* p, Vec v, int n) {
  T buf[kWidth];
  store(buf, v);
  std::memcpy(p, buf, sizeof(T) * n);
}

// Non-temporal stores of a full vector (p aligned to its size); see vec_avx512.h.
inline void store_stream(float* p, Vec v) { _mm256_stream_ps(p, v.v); }
inline void store_stream(bf16_t* p, Vec v) {
  _mm_stream_si128(reinterpret_cast<__m128i*>(p), bf16_pack(v.v));
}
inline void store_stream(f16_t* p, Vec v) {
  _mm_stream_si128(reinterpret_cast<__m128i*>(p), _mm256_cvtps_ph(v.v, _MM_FROUND_TO_NEAREST_INT));
}
inline void stream_fence() { _mm_sfence(); }

template <typename T>
inline Vec quantize(Vec v);
template <>
inline Vec quantize<float>(Vec v) {
  return v;
}
template <>
inline Vec quantize<bf16_t>(Vec v) {
  return {_mm256_castsi256_ps(bf16_round_f32_bits(v.v))};
}
template <>
inline Vec quantize<f16_t>(Vec v) {
  return {_mm256_cvtph_ps(_mm256_cvtps_ph(v.v, _MM_FROUND_TO_NEAREST_INT))};
}

// Rotary (GPT-J layout) helpers: p[0] p[0] p[1] p[1] ... from kWidth/2 floats; pair swap; and
// negation of the even lanes.
inline Vec load_dup(const float* p) {
  __m256 h = _mm256_castps128_ps256(_mm_loadu_ps(p));
  return {_mm256_permutevar8x32_ps(h, _mm256_setr_epi32(0, 0, 1, 1, 2, 2, 3, 3))};
}
inline Vec swap_pairs(Vec a) { return {_mm256_permute_ps(a.v, 0xB1)}; }
inline Vec negate_even(Vec a) {
  return {_mm256_xor_ps(a.v, _mm256_setr_ps(-0.0f, 0.0f, -0.0f, 0.0f, -0.0f, 0.0f, -0.0f, 0.0f))};
}

}  // namespace khub_cpu::avx2

#endif  // KHUB_CPU_VEC_AVX2_H_
