// RMSNorm, GemmaRMSNorm and fused residual-add + RMSNorm on the CPU: tier 1, the per-row compute,
// written once over the vector type of the ISA being compiled (KHUB_ISA_NS).
//
// Algorithm, per row of H elements (one thread owns whole rows):
//   forward   pass 1: s = sum(x^2) (fused: x <- round_T(x + residual), stored back to residual);
//             rstd = 1 / sqrt(s / H + eps);
//             pass 2: out = round_T(x * rstd) * w           (RMSNorm, as HF LlamaRMSNorm)
//                     out = x * rstd * (1 + w)              (GemmaRMSNorm, as HF Gemma3RMSNorm)
//   backward  pass 1: s = sum(x^2), d = sum(g * w' * x) with w' = w or 1 + w;
//             pass 2: grad_x = rstd * g * w' - x * d * rstd^3 / H  (fused: + grad_residual, stored
//             to grad_residual as well); partial[group] += g * x * rstd for grad_weight.
// Memory traffic: each input element is read from DRAM once and each output written once; pass 2
// re-reads the row from L1/L2 (a 4096-wide bf16 row is 8 KB). Bandwidth-bound at large sizes.
// Numerics: bf16/f16 loaded to f32, all sums in f32 (four vector accumulators), one rounding to T
// per stored value, plus the intermediate round_T of LlamaRMSNorm's forward. The backward treats
// that intermediate rounding as the identity (as autograd does for a dtype cast).
// Tolerances the tests hold these to: tests/kernels_cpu/README.md.
#pragma once

#ifndef KHUB_ISA_NS
#error "define KHUB_ISA_NS (scalar, avx2 or avx512) before including rmsnorm_compute.h"
#endif

#include "khub_cpu/vec_loop.h"

namespace khub_rmsnorm::KHUB_ISA_NS {

using namespace khub_cpu::KHUB_ISA_NS;
using khub_cpu::from_f32;
using khub_cpu::round_to;
using khub_cpu::to_f32;

inline float rstd_of(float sum_sq, int64_t n, float eps) {
  return 1.0f / std::sqrt(sum_sq / static_cast<float>(n) + eps);
}

template <Scale S>
inline Vec effective_weight(Vec w) {
  if constexpr (S == Scale::kWeight) {
    return w;
  } else {
    return w + vset(1.0f);
  }
}

template <typename T>
inline float sum_squares(const T* x, int64_t n) {
  Vec a0 = vzero(), a1 = vzero(), a2 = vzero(), a3 = vzero();
  int64_t i = 0;
  for (; i + 4 * kWidth <= n; i += 4 * kWidth) {
    Vec v0 = load(x + i), v1 = load(x + i + kWidth);
    Vec v2 = load(x + i + 2 * kWidth), v3 = load(x + i + 3 * kWidth);
    a0 = fmadd(v0, v0, a0);
    a1 = fmadd(v1, v1, a1);
    a2 = fmadd(v2, v2, a2);
    a3 = fmadd(v3, v3, a3);
  }
  for_chunks(n - i, [&](int64_t j, auto len) {
    Vec v = load_len(x + i + j, len);
    a0 = fmadd(v, v, a0);
  });
  return reduce_add((a0 + a1) + (a2 + a3));
}

// residual <- round_T(x + residual); returns the sum of squares of the stored residual.
template <typename T>
inline float add_residual(const T* x, T* residual, int64_t n) {
  Vec a0 = vzero(), a1 = vzero();
  int64_t i = 0;
  for (; i + 2 * kWidth <= n; i += 2 * kWidth) {
    Vec s0 = quantize<T>(load(x + i) + load(residual + i));
    Vec s1 = quantize<T>(load(x + i + kWidth) + load(residual + i + kWidth));
    store(residual + i, s0);
    store(residual + i + kWidth, s1);
    a0 = fmadd(s0, s0, a0);
    a1 = fmadd(s1, s1, a1);
  }
  for_chunks(n - i, [&](int64_t j, auto len) {
    Vec s = quantize<T>(load_len(x + i + j, len) + load_len(residual + i + j, len));
    store_len(residual + i + j, s, len);
    a0 = fmadd(s, s, a0);
  });
  return reduce_add(a0 + a1);
}

template <Scale S, typename T>
inline void normalize(const T* x, const T* w, T* out, int64_t n, float rstd, bool stream) {
  const Vec r = vset(rstd);
  stream = stream && stream_aligned(out);
  for_chunks(n, [&](int64_t i, auto len) {
    Vec y = load_len(x + i, len) * r;
    if constexpr (S == Scale::kWeight) {
      y = quantize<T>(y) * load_len(w + i, len);
    } else {
      y = y * effective_weight<S>(load_len(w + i, len));
    }
    store_out(out + i, y, len, stream);
  });
}

// Any strides: the plain scalar algorithm (rare layouts; correctness over speed).
template <Scale S, typename T>
void forward_row_strided(const ForwardArgs<T>& a, const T* x, int64_t sx, T* res, int64_t sr,
                         T* out, int64_t so) {
  const int64_t n = a.hidden, sw = a.weight_stride;
  float ss = 0;
  for (int64_t i = 0; i < n; ++i) {
    float v = to_f32(x[i * sx]);
    if (res != nullptr) {
      v = round_to<T>(v + to_f32(res[i * sr]));
      res[i * sr] = from_f32<T>(v);
    }
    ss += v * v;
  }
  const T* src = res != nullptr ? res : x;
  const int64_t ss_src = res != nullptr ? sr : sx;
  const float r = rstd_of(ss, n, a.eps);
  for (int64_t i = 0; i < n; ++i) {
    float y = to_f32(src[i * ss_src]) * r;
    float w = to_f32(a.weight[i * sw]);
    y = S == Scale::kWeight ? round_to<T>(y) * w : y * (1.0f + w);
    out[i * so] = from_f32<T>(y);
  }
}

template <Scale S, typename T>
void forward_rows_scaled(const ForwardArgs<T>& a, int64_t row_begin, int64_t row_end) {
  const bool fused = a.residual != nullptr;
  const bool unit = a.x_rows.inner_stride == 1 && a.weight_stride == 1 &&
                    a.out_rows.inner_stride == 1 && (!fused || a.residual_rows.inner_stride == 1);
  for (int64_t row = row_begin; row < row_end; ++row) {
    const T* x = a.x + a.x_rows.offset(row);
    T* res = fused ? a.residual + a.residual_rows.offset(row) : nullptr;
    T* out = a.out + a.out_rows.offset(row);
    if (!unit) {
      forward_row_strided<S>(a, x, a.x_rows.inner_stride, res, a.residual_rows.inner_stride, out,
                             a.out_rows.inner_stride);
      continue;
    }
    if (fused) {
      float ss = add_residual(x, res, a.hidden);
      normalize<S>(res, a.weight, out, a.hidden, rstd_of(ss, a.hidden, a.eps), a.stream_out);
    } else {
      normalize<S>(x, a.weight, out, a.hidden, rstd_of(sum_squares(x, a.hidden), a.hidden, a.eps),
                   a.stream_out);
    }
  }
  if (a.stream_out) stream_fence();
}

template <typename T>
void forward_rows(const ForwardArgs<T>& a, int64_t row_begin, int64_t row_end) {
  if (a.scale == Scale::kWeight) {
    forward_rows_scaled<Scale::kWeight>(a, row_begin, row_end);
  } else {
    forward_rows_scaled<Scale::kOnePlusWeight>(a, row_begin, row_end);
  }
}

template <Scale S, typename T>
inline void backward_row(const BackwardArgs<T>& a, const T* x, const T* g, T* gx, T* gres,
                         float* partial) {
  const int64_t n = a.hidden;
  const T* w = a.weight;
  Vec ss0 = vzero(), ss1 = vzero(), dot0 = vzero(), dot1 = vzero();
  int64_t i = 0;
  for (; i + 2 * kWidth <= n; i += 2 * kWidth) {
    Vec x0 = load(x + i), x1 = load(x + i + kWidth);
    Vec gw0 = load(g + i) * effective_weight<S>(load(w + i));
    Vec gw1 = load(g + i + kWidth) * effective_weight<S>(load(w + i + kWidth));
    ss0 = fmadd(x0, x0, ss0);
    ss1 = fmadd(x1, x1, ss1);
    dot0 = fmadd(gw0, x0, dot0);
    dot1 = fmadd(gw1, x1, dot1);
  }
  for_chunks(n - i, [&](int64_t j, auto len) {
    Vec xv = load_len(x + i + j, len);
    Vec gw = load_len(g + i + j, len) * effective_weight<S>(load_len(w + i + j, len));
    ss0 = fmadd(xv, xv, ss0);
    dot0 = fmadd(gw, xv, dot0);
  });
  const float r = rstd_of(reduce_add(ss0 + ss1), n, a.eps);
  const float c = reduce_add(dot0 + dot1) * r * r * r / static_cast<float>(n);
  const Vec rv = vset(r), cv = vset(c);
  const bool stream = a.stream_out && stream_aligned(gx);
  for_chunks(n, [&](int64_t k, auto len) {
    Vec xv = load_len(x + k, len), gv = load_len(g + k, len);
    Vec gxv = fnmadd(cv, xv, rv * gv * effective_weight<S>(load_len(w + k, len)));
    if (gres != nullptr) {
      gxv = gxv + load_len(gres + k, len);
      store_len(gres + k, gxv, len);
    }
    store_out(gx + k, gxv, len, stream);
    store_len(partial + k, fmadd(gv * xv, rv, load_len(partial + k, len)), len);
  });
}

template <Scale S, typename T>
void backward_row_strided(const BackwardArgs<T>& a, const T* x, const T* g, T* gx, T* gres,
                          float* partial) {
  const int64_t n = a.hidden, sw = a.weight_stride, sx = a.x_rows.inner_stride;
  const int64_t sg = a.grad_out_rows.inner_stride, sgx = a.grad_x_rows.inner_stride;
  const int64_t sgr = a.grad_residual_rows.inner_stride;
  auto weff = [&](int64_t i) {
    float w = to_f32(a.weight[i * sw]);
    return S == Scale::kWeight ? w : 1.0f + w;
  };
  float ss = 0, dot = 0;
  for (int64_t i = 0; i < n; ++i) {
    float xv = to_f32(x[i * sx]);
    ss += xv * xv;
    dot += to_f32(g[i * sg]) * weff(i) * xv;
  }
  const float r = rstd_of(ss, n, a.eps);
  const float c = dot * r * r * r / static_cast<float>(n);
  for (int64_t i = 0; i < n; ++i) {
    float xv = to_f32(x[i * sx]), gv = to_f32(g[i * sg]);
    float v = r * gv * weff(i) - c * xv;
    if (gres != nullptr) {
      v += to_f32(gres[i * sgr]);
      gres[i * sgr] = from_f32<T>(v);
    }
    gx[i * sgx] = from_f32<T>(v);
    partial[i] += gv * xv * r;
  }
}

template <Scale S, typename T>
void backward_groups_scaled(const BackwardArgs<T>& a, int64_t group_begin, int64_t group_end) {
  const bool fused = a.grad_residual != nullptr;
  const bool unit = a.x_rows.inner_stride == 1 && a.weight_stride == 1 &&
                    a.grad_out_rows.inner_stride == 1 && a.grad_x_rows.inner_stride == 1 &&
                    (!fused || a.grad_residual_rows.inner_stride == 1);
  for (int64_t grp = group_begin; grp < group_end; ++grp) {
    float* partial = a.weight_partials + grp * a.hidden;
    for (int64_t i = 0; i < a.hidden; ++i) partial[i] = 0.0f;
    const int64_t row_end = std::min(a.rows, (grp + 1) * a.rows_per_group);
    for (int64_t row = grp * a.rows_per_group; row < row_end; ++row) {
      const T* x = a.x + a.x_rows.offset(row);
      const T* g = a.grad_out + a.grad_out_rows.offset(row);
      T* gx = a.grad_x + a.grad_x_rows.offset(row);
      T* gres = fused ? a.grad_residual + a.grad_residual_rows.offset(row) : nullptr;
      if (unit) {
        backward_row<S>(a, x, g, gx, gres, partial);
      } else {
        backward_row_strided<S>(a, x, g, gx, gres, partial);
      }
    }
  }
  if (a.stream_out) stream_fence();
}

template <typename T>
void backward_groups(const BackwardArgs<T>& a, int64_t group_begin, int64_t group_end) {
  if (a.scale == Scale::kWeight) {
    backward_groups_scaled<Scale::kWeight>(a, group_begin, group_end);
  } else {
    backward_groups_scaled<Scale::kOnePlusWeight>(a, group_begin, group_end);
  }
}

template <typename T>
constexpr RowKernels<T> row_kernels() {
  return {&forward_rows<T>, &backward_groups<T>};
}

}  // namespace khub_rmsnorm::KHUB_ISA_NS
