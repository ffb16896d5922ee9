// Rotary position embedding on the CPU: tier 1, the per-head compute, written once over the
// vector type of the ISA being compiled (KHUB_ISA_NS).
//
// Algorithm, per (token t, head) row x of head_dim features, with c = cos[t], s = sin[t]
// (R/2 values each) and s negated for the backward (the inverse rotation):
//   NeoX   for i < R/2: (x[i], x[i + R/2]) <- (x[i] c_i - x[i + R/2] s_i, x[i + R/2] c_i + x[i]
//   s_i) GPT-J  for i < R/2: (x[2i], x[2i + 1]) <- (x[2i] c_i - x[2i + 1] s_i, x[2i + 1] c_i +
//   x[2i] s_i)
//          vectorized as x * dup(c) + swap_pairs(x) * (-s_0, s_0, -s_1, s_1, ...)
// Features [R, head_dim) are neither read nor written. In place: q and k are read and written
// once each; cos/sin rows are shared by every head of a token and stay in cache.
// Numerics: f32, one rounding to T per stored value.
// Tolerances the tests hold these to: tests/kernels_cpu/README.md.
#pragma once

#ifndef KHUB_ISA_NS
#error "define KHUB_ISA_NS (scalar, avx2 or avx512) before including rotary_compute.h"
#endif

#include "khub_cpu/vec_loop.h"

namespace khub_rotary::KHUB_ISA_NS {

using namespace khub_cpu::KHUB_ISA_NS;
using khub_cpu::from_f32;
using khub_cpu::to_f32;

// Any strides, one pair at a time.
template <typename T>
void rotate_strided(T* x, int64_t sx, const float* c, int64_t sc, const float* s, int64_t ss,
                    int64_t half, bool interleaved, float sign) {
  for (int64_t i = 0; i < half; ++i) {
    int64_t i0 = interleaved ? 2 * i : i, i1 = interleaved ? 2 * i + 1 : i + half;
    float x0 = to_f32(x[i0 * sx]), x1 = to_f32(x[i1 * sx]);
    float cv = c[i * sc], sv = sign * s[i * ss];
    x[i0 * sx] = from_f32<T>(x0 * cv - x1 * sv);
    x[i1 * sx] = from_f32<T>(x1 * cv + x0 * sv);
  }
}

template <typename T>
inline void rotate_neox(T* x, const float* c, const float* s, int64_t half, float sign) {
  const Vec sg = vset(sign);
  for_chunks(half, [&](int64_t i, auto len) {
    Vec x0 = load_len(x + i, len), x1 = load_len(x + half + i, len);
    Vec cv = load_len(c + i, len), sv = sg * load_len(s + i, len);
    store_len(x + i, fnmadd(x1, sv, x0 * cv), len);
    store_len(x + half + i, fmadd(x0, sv, x1 * cv), len);
  });
}

template <typename T>
inline void rotate_gptj(T* x, const float* c, const float* s, int64_t half, float sign) {
  int64_t i = 0;                        // pairs done
#if defined(KHUB_CPU_VEC_HAS_PAIR_OPS)  // SIMD ISAs; the scalar path does pairs one by one
  const Vec sg = vset(sign);
  for (; i + kWidth / 2 <= half; i += kWidth / 2) {
    Vec v = load(x + 2 * i);
    Vec sv = negate_even(sg * load_dup(s + i));
    store(x + 2 * i, fmadd(swap_pairs(v), sv, v * load_dup(c + i)));
  }
#endif
  rotate_strided(x + 2 * i, 1, c + i, 1, s + i, 1, half - i, true, sign);
}

template <typename T>
void rotate_items(const RotaryArgs<T>& a, int64_t begin, int64_t end) {
  const int64_t half = a.rotary_dim / 2, q_items = a.tokens * a.q.heads;
  const float sign = a.inverse ? -1.0f : 1.0f;
  for (int64_t u = begin; u < end; ++u) {
    const bool is_q = u < q_items;
    const HeadsView<T>& hv = is_q ? a.q : a.k;
    const int64_t v = is_q ? u : u - q_items;
    const int64_t t = v / hv.heads, h = v % hv.heads;
    T* x = hv.data + t * hv.stride_token + h * hv.stride_head;
    const float* c = a.cos.data + t * a.cos.stride_token;
    const float* s = a.sin.data + t * a.sin.stride_token;
    if (hv.stride_dim != 1 || a.cos.stride_dim != 1 || a.sin.stride_dim != 1) {
      rotate_strided(x, hv.stride_dim, c, a.cos.stride_dim, s, a.sin.stride_dim, half,
                     a.interleaved, sign);
    } else if (a.interleaved) {
      rotate_gptj(x, c, s, half, sign);
    } else {
      rotate_neox(x, c, s, half, sign);
    }
  }
}

template <typename T>
constexpr RowKernels<T> row_kernels() {
  return {&rotate_items<T>};
}

}  // namespace khub_rotary::KHUB_ISA_NS
