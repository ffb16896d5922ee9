// 16-lane f32 vectors for AVX-512 F + BW + VL (with AVX2, FMA, F16C). Include only inside an
// AVX-512 target region, after every baseline header (see vec_avx2.h for why), with KHUB_ISA_NS
// naming the region's namespace: avx512, or avx512bf16 where target_avx512bf16_begin.h defined
// KHUB_CPU_WITH_AVX512BF16 and rounding to bf16 is one vcvtneps2bf16. That instruction rounds to
// nearest even and keeps NaN a NaN, like the integer sequence, but reads f32 subnormals
// (|v| < 1.2e-38) as zero. The two namespaces never share an inline function, so the plain
// AVX-512 path cannot end up with a BF16 instruction.
#ifndef KHUB_CPU_VEC_AVX512_H_
#define KHUB_CPU_VEC_AVX512_H_

#ifndef KHUB_CPU_HALF_H_
#error "include half.h (and every other baseline header) before the ISA headers"
#endif
#ifndef KHUB_ISA_NS
#error "define KHUB_ISA_NS (avx512 or avx512bf16) before including vec_avx512.h"
#endif

#include <immintrin.h>

// load_dup, swap_pairs and negate_even exist (rotary's GPT-J layout uses them).
#define KHUB_CPU_VEC_HAS_PAIR_OPS 1

namespace khub_cpu::KHUB_ISA_NS {

constexpr int kWidth = 16;

struct Vec {
  __m512 v;
};
struct Mask {
  __mmask16 m;
};

inline __mmask16 first_n(int n) { return static_cast<__mmask16>((1u << n) - 1u); }

inline Vec vzero() { return {_mm512_setzero_ps()}; }
inline Vec vset(float x) { return {_mm512_set1_ps(x)}; }
inline Vec operator+(Vec a, Vec b) { return {_mm512_add_ps(a.v, b.v)}; }
inline Vec operator-(Vec a, Vec b) { return {_mm512_sub_ps(a.v, b.v)}; }
inline Vec operator*(Vec a, Vec b) { return {_mm512_mul_ps(a.v, b.v)}; }
inline Vec operator/(Vec a, Vec b) { return {_mm512_div_ps(a.v, b.v)}; }
inline Vec operator-(Vec a) {
  return {_mm512_castsi512_ps(_mm512_xor_si512(_mm512_castps_si512(a.v),
                                               _mm512_set1_epi32(static_cast<int>(0x80000000u))))};
}
inline Vec fmadd(Vec a, Vec b, Vec c) { return {_mm512_fmadd_ps(a.v, b.v, c.v)}; }
inline Vec fnmadd(Vec a, Vec b, Vec c) { return {_mm512_fnmadd_ps(a.v, b.v, c.v)}; }
inline Vec vabs(Vec a) { return {_mm512_abs_ps(a.v)}; }
// 1 / a: the 14-bit estimate and one Newton step (within 1 ulp for normal a); the zmm divider
// is the bottleneck of sigmoid-heavy loops otherwise.
inline Vec vrecip(Vec a) {
  __m512 r = _mm512_rcp14_ps(a.v);
  return {_mm512_mul_ps(r, _mm512_fnmadd_ps(a.v, r, _mm512_set1_ps(2.0f)))};
}
inline Vec clamp(Vec x, Vec lo, Vec hi) { return {_mm512_min_ps(hi.v, _mm512_max_ps(lo.v, x.v))}; }
inline Mask operator<(Vec a, Vec b) { return {_mm512_cmp_ps_mask(a.v, b.v, _CMP_LT_OQ)}; }
inline Mask operator>(Vec a, Vec b) { return {_mm512_cmp_ps_mask(a.v, b.v, _CMP_GT_OQ)}; }
inline Vec select(Mask m, Vec if_true, Vec if_false) {
  return {_mm512_mask_blend_ps(m.m, if_false.v, if_true.v)};
}
inline float reduce_add(Vec a) { return _mm512_reduce_add_ps(a.v); }
inline Vec vround(Vec a) {
  return {_mm512_roundscale_ps(a.v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC)};
}
// p * 2^n for integral n: vscalefps rounds overflow to inf and small results into subnormals.
inline Vec scale_pow2(Vec p, Vec n) { return {_mm512_scalef_ps(p.v, n.v)}; }
inline Vec scale_pow2_normal(Vec p, Vec n) { return scale_pow2(p, n); }
inline bool any_outside(Vec, float, float) { return false; }  // vscalefps covers every n

#if defined(KHUB_CPU_WITH_AVX512BF16)
inline __m256i bf16_pack(__m512 v) { return reinterpret_cast<__m256i>(_mm512_cvtneps_pbh(v)); }
inline __m512i bf16_round_f32_bits(__m512 v) {
  return _mm512_slli_epi32(_mm512_cvtepu16_epi32(bf16_pack(v)), 16);
}
#else
// v rounded to bf16 (nearest, ties to even), still as f32 bit patterns (low 16 bits zero);
// NaN stays NaN (v itself).
inline __m512i bf16_round_f32_bits(__m512 v) {
  __m512i b = _mm512_castps_si512(v);
  __m512i lsb = _mm512_and_si512(_mm512_srli_epi32(b, 16), _mm512_set1_epi32(1));
  __m512i r = _mm512_add_epi32(_mm512_add_epi32(b, lsb), _mm512_set1_epi32(0x7fff));
  r = _mm512_and_si512(r, _mm512_set1_epi32(static_cast<int>(0xffff0000u)));
  return _mm512_mask_mov_epi32(r, _mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q), b);
}
// The 16 bf16 patterns of v, rounded as above (NaN becomes the quiet NaN 0x7fc0, as PyTorch's).
inline __m256i bf16_pack(__m512 v) {
  __m512i b = _mm512_castps_si512(v);
  __m512i lsb = _mm512_and_si512(_mm512_srli_epi32(b, 16), _mm512_set1_epi32(1));
  __m512i r =
      _mm512_srli_epi32(_mm512_add_epi32(_mm512_add_epi32(b, lsb), _mm512_set1_epi32(0x7fff)), 16);
  r = _mm512_mask_mov_epi32(r, _mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q), _mm512_set1_epi32(0x7fc0));
  return _mm512_cvtepi32_epi16(r);
}
#endif
inline Vec widen_bf16(__m256i h) {
  return {_mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16))};
}

inline Vec load(const float* p) { return {_mm512_loadu_ps(p)}; }
inline Vec load(const bf16_t* p) {
  return widen_bf16(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)));
}
inline Vec load(const f16_t* p) {
  return {_mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)))};
}
inline Vec load_n(const float* p, int n) { return {_mm512_maskz_loadu_ps(first_n(n), p)}; }
inline Vec load_n(const bf16_t* p, int n) {
  return widen_bf16(_mm256_maskz_loadu_epi16(first_n(n), p));
}
inline Vec load_n(const f16_t* p, int n) {
  return {_mm512_cvtph_ps(_mm256_maskz_loadu_epi16(first_n(n), p))};
}

inline void store(float* p, Vec v) { _mm512_storeu_ps(p, v.v); }
inline void store(bf16_t* p, Vec v) {
  _mm256_storeu_si256(reinterpret_cast<__m256i*>(p), bf16_pack(v.v));
}
inline void store(f16_t* p, Vec v) {
  _mm256_storeu_si256(reinterpret_cast<__m256i*>(p),
                      _mm512_cvtps_ph(v.v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
}
inline void store_n(float* p, Vec v, int n) { _mm512_mask_storeu_ps(p, first_n(n), v.v); }
inline void store_n(bf16_t* p, Vec v, int n) {
  _mm256_mask_storeu_epi16(p, first_n(n), bf16_pack(v.v));
}
inline void store_n(f16_t* p, Vec v, int n) {
  _mm256_mask_storeu_epi16(p, first_n(n),
                           _mm512_cvtps_ph(v.v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
}

// Non-temporal stores of a full vector (p aligned to its size): written around the caches, with
// no read for ownership. stream_fence() orders them before the data is handed to another thread.
inline void store_stream(float* p, Vec v) { _mm512_stream_ps(p, v.v); }
inline void store_stream(bf16_t* p, Vec v) {
  _mm256_stream_si256(reinterpret_cast<__m256i*>(p), bf16_pack(v.v));
}
inline void store_stream(f16_t* p, Vec v) {
  _mm256_stream_si256(reinterpret_cast<__m256i*>(p),
                      _mm512_cvtps_ph(v.v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
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
  return {_mm512_castsi512_ps(bf16_round_f32_bits(v.v))};
}
template <>
inline Vec quantize<f16_t>(Vec v) {
  return {_mm512_cvtph_ps(_mm512_cvtps_ph(v.v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC))};
}

inline Vec load_dup(const float* p) {
  __m512 h = _mm512_castps256_ps512(_mm256_loadu_ps(p));
  const __m512i idx = _mm512_setr_epi32(0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7);
  return {_mm512_permutexvar_ps(idx, h)};
}
inline Vec swap_pairs(Vec a) { return {_mm512_permute_ps(a.v, 0xB1)}; }
inline Vec negate_even(Vec a) {
  const __m512i sign =
      _mm512_set4_epi32(0, static_cast<int>(0x80000000u), 0, static_cast<int>(0x80000000u));
  return {_mm512_castsi512_ps(_mm512_xor_si512(_mm512_castps_si512(a.v), sign))};
}

}  // namespace khub_cpu::KHUB_ISA_NS

#endif  // KHUB_CPU_VEC_AVX512_H_
