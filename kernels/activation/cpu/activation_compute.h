// Gated activations on the CPU: tier 1, the per-row compute, written once over the vector type of
// the ISA being compiled (KHUB_ISA_NS).
//
// Algorithm, per row of x = [a | b] (2D elements), one thread per row range:
//   forward   out = f(a) * b
//   backward  grad_a = grad_out * b * f'(a),  grad_b = grad_out * f(a)
// with f and f' in f32 from khub_cpu/vec_math.h:
//   silu       f = a s, s = sigmoid(a);                 f' = s (1 + a (1 - s))
//   gelu_tanh  f = a s, s = sigmoid(k), k = a (c1 + c2 a^2), c1 = 2 sqrt(2/pi), c2 = 0.044715 c1
//              (0.5 (1 + tanh(k/2)) = sigmoid(k));      f' = s + a s (1 - s) (c1 + 3 c2 a^2)
//   gelu       f = a Phi(a);                            f' = Phi(a) + a phi(a)
// Memory traffic: forward reads 2D and writes D elements per row, backward reads 3D and writes 2D;
// nothing is re-read. Bandwidth-bound at large sizes on AVX2/AVX-512 (the erf path is heavier).
// Numerics: f32 throughout, one rounding to T per stored value; exp and erfc to a few ulp.
// Tolerances the tests hold these to: tests/kernels_cpu/README.md.
#pragma once

#ifndef KHUB_ISA_NS
#error "define KHUB_ISA_NS (scalar, avx2 or avx512) before including activation_compute.h"
#endif

#include "khub_cpu/vec_loop.h"
#include "khub_cpu/vec_math.h"

namespace khub_activation::KHUB_ISA_NS {

using namespace khub_cpu::KHUB_ISA_NS;
constexpr float kGeluTanhC1 = 1.5957691216057308f;   // 2 sqrt(2 / pi)
constexpr float kGeluTanhC2 = 0.07135481627159393f;  // 0.044715 * c1

template <Act A>
inline Vec activation(Vec a) {
  if constexpr (A == Act::kSilu) {
    return a * vsigmoid(a);
  } else if constexpr (A == Act::kGeluTanh) {
    Vec k = a * fmadd(vset(kGeluTanhC2), a * a, vset(kGeluTanhC1));
    return a * vsigmoid(k);
  } else {
    Vec pdf;
    return a * normal_cdf(a, &pdf);
  }
}

// f(a) and f'(a).
template <Act A>
inline void activation_and_derivative(Vec a, Vec* f, Vec* df) {
  const Vec one = vset(1.0f);
  if constexpr (A == Act::kSilu) {
    Vec s = vsigmoid(a);
    *f = a * s;
    *df = s * fmadd(a, one - s, one);
  } else if constexpr (A == Act::kGeluTanh) {
    Vec a2 = a * a;
    Vec s = vsigmoid(a * fmadd(vset(kGeluTanhC2), a2, vset(kGeluTanhC1)));
    *f = a * s;
    Vec dk = fmadd(vset(3.0f * kGeluTanhC2), a2, vset(kGeluTanhC1));
    *df = fmadd(a * s * (one - s), dk, s);
  } else {
    Vec pdf;
    Vec cdf = normal_cdf(a, &pdf);
    *f = a * cdf;
    *df = fmadd(a, pdf, cdf);
  }
}

template <Act A, typename T>
void forward_rows_act(const ForwardArgs<T>& p, int64_t row_begin, int64_t row_end) {
  const int64_t d = p.d, sx = p.x_rows.inner_stride, so = p.out_rows.inner_stride;
  const bool unit = sx == 1 && so == 1;
  for (int64_t row = row_begin; row < row_end; ++row) {
    const T* x = p.x + p.x_rows.offset(row);
    T* out = p.out + p.out_rows.offset(row);
    if (unit) {
      const bool stream = p.stream_out && stream_aligned(out);
      for_chunks(d, [&](int64_t i, auto len) {
        Vec y = activation<A>(load_len(x + i, len)) * load_len(x + d + i, len);
        store_out(out + i, y, len, stream);
      });
    } else {
      // Strided rows: gather a vector's worth into contiguous buffers, compute, scatter.
      for_chunks(d, [&](int64_t i, auto len) {
        T a[kWidth] = {}, b[kWidth] = {}, y[kWidth];
        for (int j = 0; j < len; ++j) {
          a[j] = x[(i + j) * sx];
          b[j] = x[(d + i + j) * sx];
        }
        store_len(y, activation<A>(load_len(a, len)) * load_len(b, len), len);
        for (int j = 0; j < len; ++j) out[(i + j) * so] = y[j];
      });
    }
  }
  if (p.stream_out) stream_fence();
}

template <Act A, typename T>
void backward_rows_act(const BackwardArgs<T>& p, int64_t row_begin, int64_t row_end) {
  const int64_t d = p.d, sx = p.x_rows.inner_stride, sg = p.grad_out_rows.inner_stride;
  const int64_t sgx = p.grad_x_rows.inner_stride;
  const bool unit = sx == 1 && sg == 1 && sgx == 1;
  for (int64_t row = row_begin; row < row_end; ++row) {
    const T* x = p.x + p.x_rows.offset(row);
    const T* g = p.grad_out + p.grad_out_rows.offset(row);
    T* gx = p.grad_x + p.grad_x_rows.offset(row);
    if (unit) {
      const bool stream = p.stream_out && stream_aligned(gx) && stream_aligned(gx + d);
      for_chunks(d, [&](int64_t i, auto len) {
        Vec f, df;
        activation_and_derivative<A>(load_len(x + i, len), &f, &df);
        Vec b = load_len(x + d + i, len), gv = load_len(g + i, len);
        store_out(gx + i, gv * b * df, len, stream);
        store_out(gx + d + i, gv * f, len, stream);
      });
    } else {
      for_chunks(d, [&](int64_t i, auto len) {
        T a[kWidth] = {}, b[kWidth] = {}, gv[kWidth] = {}, ga[kWidth], gb[kWidth];
        for (int j = 0; j < len; ++j) {
          a[j] = x[(i + j) * sx];
          b[j] = x[(d + i + j) * sx];
          gv[j] = g[(i + j) * sg];
        }
        Vec f, df, gvec = load_len(gv, len);
        activation_and_derivative<A>(load_len(a, len), &f, &df);
        store_len(ga, gvec * load_len(b, len) * df, len);
        store_len(gb, gvec * f, len);
        for (int j = 0; j < len; ++j) {
          gx[(i + j) * sgx] = ga[j];
          gx[(d + i + j) * sgx] = gb[j];
        }
      });
    }
  }
  if (p.stream_out) stream_fence();
}

template <typename T>
void forward_rows(const ForwardArgs<T>& p, int64_t row_begin, int64_t row_end) {
  switch (p.act) {
    case Act::kSilu:
      return forward_rows_act<Act::kSilu>(p, row_begin, row_end);
    case Act::kGeluTanh:
      return forward_rows_act<Act::kGeluTanh>(p, row_begin, row_end);
    case Act::kGelu:
      return forward_rows_act<Act::kGelu>(p, row_begin, row_end);
  }
}

template <typename T>
void backward_rows(const BackwardArgs<T>& p, int64_t row_begin, int64_t row_end) {
  switch (p.act) {
    case Act::kSilu:
      return backward_rows_act<Act::kSilu>(p, row_begin, row_end);
    case Act::kGeluTanh:
      return backward_rows_act<Act::kGeluTanh>(p, row_begin, row_end);
    case Act::kGelu:
      return backward_rows_act<Act::kGelu>(p, row_begin, row_end);
  }
}

template <typename T>
constexpr RowKernels<T> row_kernels() {
  return {&forward_rows<T>, &backward_rows<T>};
}

}  // namespace khub_activation::KHUB_ISA_NS
