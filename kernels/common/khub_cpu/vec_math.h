// Transcendental functions on the vectors of vec_scalar.h / vec_avx2.h / vec_avx512.h, written
// once for every path. Include after the ISA's vec_*.h with KHUB_ISA_NS naming that ISA's
// namespace (scalar, avx2, avx512); everything here lands in khub_cpu::KHUB_ISA_NS, so each path
// gets its own copy compiled for its own ISA.
//
// Accuracy (measured over the f32 range by the CPU kernel tests, against long double):
// - vexp: Cody-Waite reduction x = n ln2 + r, |r| <= ln2/2, degree-6 polynomial for e^r fitted
//   here (dev/fit_exp.cc: max relative error 7e-8 in f32), scaled by 2^n (vscalefps on
//   AVX-512); about 2 ulp, subnormal results included, 0 below ln(2^-150), +inf above
//   ln(FLT_MAX), NaN in, NaN out.
// - normal_cdf: Phi(a) = 1 - erfc(z)/2 or erfc(z)/2 with z = |a|/sqrt(2), where
//   erfc(z) = t e^{-z^2} P(s), t = 1/(1 + z/2), s maps t in [1/6, 1] to [-1, 1], and P is a
//   degree-8 polynomial fitted here (dev/fit_erfcx.cc: least squares on Chebyshev nodes, relative
//   weight, z in [0, 10]); max relative error of the f32 evaluation 3.1e-7. Beyond z = 9.4,
//   e^{-z^2} underflows f32 and erfc is 0.
#pragma once

#ifndef KHUB_ISA_NS
#error "define KHUB_ISA_NS (scalar, avx2 or avx512) before including vec_math.h"
#endif

namespace khub_cpu::KHUB_ISA_NS {

inline Vec vexp(Vec x) {
  // Below ln(2^-150) the result rounds to 0; above 88.8 (> ln FLT_MAX = 88.72) to inf, which
  // scale_pow2 produces by itself. Clamping keeps n in [-150, 128] and NaN passes through.
  Vec xc = clamp(x, vset(-104.0f), vset(88.8f));
  Vec n = vround(xc * vset(1.44269504088896341f));
  // ln 2 = 355/512 - 2.12194440054690583e-4; n * 355/512 is exact for |n| <= 150.
  Vec r = fnmadd(n, vset(0.693359375f), xc);
  r = fnmadd(n, vset(-2.12194440054690583e-4f), r);
  Vec p = vset(1.385929063e-03f);
  p = fmadd(p, r, vset(8.374763653e-03f));
  p = fmadd(p, r, vset(4.166772589e-02f));
  p = fmadd(p, r, vset(1.666642129e-01f));
  p = fmadd(p, r, vset(4.999999404e-01f));
  p = fmadd(p, r, vset(1.0f));
  p = fmadd(p, r, vset(1.0f));
  // Most vectors need only the one-step scaling; lanes with results outside the normal range
  // (|x| > 87.3) take the exact two-step one (AVX-512's vscalefps does both in one).
  if (__builtin_expect(any_outside(n, -126.0f, 127.0f), 0)) return scale_pow2(p, n);
  return scale_pow2_normal(p, n);
}

// 1 / (1 + e^-x), through e^-|x| so that neither tail overflows: for x < 0 it is e / (1 + e).
inline Vec vsigmoid(Vec x) {
  Vec e = vexp(-vabs(x));
  Vec r = vrecip(vset(1.0f) + e);  // 1 + e in [1, 2]: no range trouble for the estimate
  return select(x < vzero(), e * r, r);
}

// Phi(a), the standard normal CDF; *pdf receives phi(a) = e^{-a^2/2} / sqrt(2 pi).
inline Vec normal_cdf(Vec a, Vec* pdf) {
  Vec z = vabs(a) * vset(0.707106781186547524f);
  Vec t = vrecip(fmadd(z, vset(0.5f), vset(1.0f)));  // 1 + z/2 in [1, inf)
  Vec s = fmadd(t, vset(2.4f), vset(-1.4f));         // (t - 1/6) * 2.4 - 1
  Vec p = vset(-5.460689182e-05f);
  p = fmadd(p, s, vset(1.948948781e-05f));
  p = fmadd(p, s, vset(5.880228926e-04f));
  p = fmadd(p, s, vset(-6.305407480e-04f));
  p = fmadd(p, s, vset(-6.152113155e-03f));
  p = fmadd(p, s, vset(5.965755562e-03f));
  p = fmadd(p, s, vset(1.020296787e-01f));
  p = fmadd(p, s, vset(3.262222902e-01f));
  p = fmadd(p, s, vset(5.720119736e-01f));
  Vec e = vexp(a * a * vset(-0.5f));
  *pdf = e * vset(0.398942280401432678f);
  Vec half_erfc = t * e * p * vset(0.5f);
  return select(a < vzero(), half_erfc, vset(1.0f) - half_erfc);
}

}  // namespace khub_cpu::KHUB_ISA_NS
