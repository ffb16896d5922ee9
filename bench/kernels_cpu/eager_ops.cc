#include "eager_ops.h"

#include <cmath>
#include <type_traits>

#include "thread_pool.h"

namespace khub_bench {
namespace {

using khub_cpu::from_f32;
using khub_cpu::to_f32;

// ATen's grain: an op runs on several threads once it has 32768 elements.
constexpr int64_t kGrain = 32768;

template <typename Fn>
void par(int64_t n, int threads, const Fn& fn) {
  int t = static_cast<int>(std::max<int64_t>(1, std::min<int64_t>(threads, n / kGrain)));
  if (t == 1) {
    fn(int64_t{0}, n);
  } else {
    eager_pool().run(n, t, fn);
  }
}

// Parallel over rows with `cols` elements each.
template <typename Fn>
void par_rows(int64_t rows, int64_t cols, int threads, const Fn& fn) {
  int t = static_cast<int>(
      std::max<int64_t>(1, std::min<int64_t>({int64_t{threads}, rows, rows * cols / kGrain})));
  if (t == 1) {
    fn(int64_t{0}, rows);
  } else {
    eager_pool().run(rows, t, fn);
  }
}

template <typename T>
T* as(std::vector<uint16_t>& v) {
  return reinterpret_cast<T*>(v.data());
}

// One elementwise op: out[i] = f(in...) in f32, stored to Out.
template <typename Out, typename Fn>
void map(int64_t n, Out* out, int threads, const Fn& f) {
  par(n, threads, [&](int64_t b, int64_t e) {
#pragma omp simd
    for (int64_t i = b; i < e; ++i) out[i] = from_f32<Out>(f(i));
  });
}

// One op broadcasting a per-row or per-column operand: out[r, j] = f(r, j, i) with i = r * cols +
// j, looped as rows x cols like TensorIterator does (no per-element index division).
template <typename Out, typename Fn>
void map_rows(int64_t rows, int64_t cols, Out* out, int threads, const Fn& f) {
  par_rows(rows, cols, threads, [&](int64_t b, int64_t e) {
    for (int64_t r = b; r < e; ++r) {
      Out* o = out + r * cols;
#pragma omp simd
      for (int64_t j = 0; j < cols; ++j) o[j] = from_f32<Out>(f(r, j, r * cols + j));
    }
  });
}

// x.to(f32): a copy for 16-bit x; for f32 PyTorch returns x itself (no pass).
template <typename T>
const float* to_float(const T* x, int64_t n, std::vector<float>& buf, int threads) {
  if constexpr (std::is_same_v<T, float>) {
    return x;
  } else {
    map(n, buf.data(), threads, [&](int64_t i) { return to_f32(x[i]); });
    return buf.data();
  }
}

// r[row] = rsqrt(mean(v[row, :]) + eps): mean is one pass over v; + eps and rsqrt are two more
// ops on the (small) row vector.
void mean_rsqrt(const float* v, float* r, int64_t rows, int64_t hidden, float eps, int threads) {
  par_rows(rows, hidden, threads, [&](int64_t b, int64_t e) {
    for (int64_t row = b; row < e; ++row) {
      float sum = 0;
#pragma omp simd reduction(+ : sum)
      for (int64_t i = 0; i < hidden; ++i) sum += v[row * hidden + i];
      r[row] = sum / static_cast<float>(hidden);
    }
  });
  for (int64_t row = 0; row < rows; ++row) r[row] += eps;
  for (int64_t row = 0; row < rows; ++row) r[row] = 1.0f / std::sqrt(r[row]);
}

}  // namespace

void EagerScratch::reserve(int64_t elements, int64_t rows, int64_t cols_) {
  for (auto* v : {&f0, &f1, &f2, &f3}) v->assign(elements, 0.0f);
  for (auto* v : {&t0, &t1, &t2, &t3}) v->assign(elements, 0);
  rows0.assign(rows, 0.0f);
  rows1.assign(rows, 0.0f);
  cols.assign(cols_, 0.0f);
}

template <typename T>
void eager_rms_norm(const T* x, const T* w, T* out, int64_t rows, int64_t hidden, float eps,
                    bool gemma, EagerScratch& s, int threads) {
  const int64_t n = rows * hidden;
  const float* h = to_float(x, n, s.f0, threads);                        // x.to(f32)
  map(n, s.f1.data(), threads, [&](int64_t i) { return h[i] * h[i]; });  // .pow(2)
  mean_rsqrt(s.f1.data(), s.rows0.data(), rows, hidden, eps, threads);   // mean, +eps, rsqrt
  const float* r = s.rows0.data();
  map_rows(rows, hidden, s.f2.data(), threads,
           [&](int64_t row, int64_t, int64_t i) { return h[i] * r[row]; });  // h * r
  if (gemma) {
    // output * (1.0 + weight.float()), then .type_as(x)
    map(hidden, s.cols.data(), threads, [&](int64_t i) { return 1.0f + to_f32(w[i]); });
    const float* w1 = s.cols.data();
    map_rows(rows, hidden, s.f3.data(), threads,
             [&](int64_t, int64_t j, int64_t i) { return s.f2[i] * w1[j]; });
    map(n, out, threads, [&](int64_t i) { return s.f3[i]; });
  } else {
    // weight * hidden_states.to(input_dtype)
    const T* y = reinterpret_cast<const T*>(s.f2.data());
    if constexpr (!std::is_same_v<T, float>) {
      map(n, as<T>(s.t0), threads, [&](int64_t i) { return s.f2[i]; });
      y = as<T>(s.t0);
    }
    map_rows(rows, hidden, out, threads,
             [&](int64_t, int64_t j, int64_t i) { return to_f32(w[j]) * to_f32(y[i]); });
  }
}

template <typename T>
void eager_fused_add_rms_norm(const T* x, const T* residual, T* residual_out, const T* w, T* out,
                              int64_t rows, int64_t hidden, float eps, EagerScratch& s,
                              int threads) {
  map(rows * hidden, residual_out, threads,
      [&](int64_t i) { return to_f32(residual[i]) + to_f32(x[i]); });
  eager_rms_norm(residual_out, w, out, rows, hidden, eps, false, s, threads);
}

template <typename T>
void eager_rms_norm_backward(const float* h, const float* r, const T* y, const T* w,
                             const T* grad_out, T* grad_x, T* grad_w, int64_t rows, int64_t hidden,
                             EagerScratch& s, int threads) {
  const int64_t n = rows * hidden;
  T* t1 = as<T>(s.t1);
  if constexpr (std::is_same_v<T, float>) t1 = s.f1.data();
  // grad_w = (g * y).sum over rows
  map(n, t1, threads, [&](int64_t i) { return to_f32(grad_out[i]) * to_f32(y[i]); });
  par(hidden, threads, [&](int64_t b, int64_t e) {
    for (int64_t j = b; j < e; ++j) s.cols[j] = 0;
    for (int64_t row = 0; row < rows; ++row)
#pragma omp simd
      for (int64_t j = b; j < e; ++j) s.cols[j] += to_f32(t1[row * hidden + j]);
    for (int64_t j = b; j < e; ++j) grad_w[j] = from_f32<T>(s.cols[j]);
  });
  // gy = g * w; gn = gy.to(f32)
  T* gy = as<T>(s.t2);
  if constexpr (std::is_same_v<T, float>) gy = s.f3.data();
  map_rows(rows, hidden, gy, threads,
           [&](int64_t, int64_t j, int64_t i) { return to_f32(grad_out[i]) * to_f32(w[j]); });
  const float* gn = to_float(gy, n, s.f1, threads);
  // through n = h * r: grad_h1 = gn * r; grad_r = (gn * h).sum(-1)
  map_rows(rows, hidden, s.f2.data(), threads,
           [&](int64_t row, int64_t, int64_t i) { return gn[i] * r[row]; });
  map(n, s.f3.data(), threads, [&](int64_t i) { return gn[i] * h[i]; });
  float* gr = s.rows1.data();
  par_rows(rows, hidden, threads, [&](int64_t b, int64_t e) {
    for (int64_t row = b; row < e; ++row) {
      float sum = 0;
#pragma omp simd reduction(+ : sum)
      for (int64_t i = 0; i < hidden; ++i) sum += s.f3[row * hidden + i];
      gr[row] = sum;
    }
  });
  // rsqrt and mean backward on the row vector: grad_v = grad_r * (-0.5 r^3) / hidden
  for (int64_t row = 0; row < rows; ++row) gr[row] *= -0.5f * r[row] * r[row] * r[row];
  for (int64_t row = 0; row < rows; ++row) gr[row] /= static_cast<float>(hidden);
  // pow backward: grad_h2 = grad_v * 2 * h (two ops), then grad_h = grad_h1 + grad_h2
  map(n, s.f3.data(), threads, [&](int64_t i) { return 2.0f * h[i]; });
  map_rows(rows, hidden, s.f1.data(), threads,
           [&](int64_t row, int64_t, int64_t i) { return s.f3[i] * gr[row]; });
  map(n, s.f3.data(), threads, [&](int64_t i) { return s.f2[i] + s.f1[i]; });
  map(n, grad_x, threads, [&](int64_t i) { return s.f3[i]; });  // .to(x.dtype)
}

namespace {
inline float act_value(EagerAct act, float a) {
  switch (act) {
    case EagerAct::kSilu:
      return a / (1.0f + std::exp(-a));
    case EagerAct::kGeluTanh:
      return 0.5f * a * (1.0f + std::tanh(0.7978845608f * (a + 0.044715f * a * a * a)));
    case EagerAct::kGelu:
      break;
  }
  return 0.5f * a * (1.0f + std::erf(a * 0.70710678f));
}
}  // namespace

template <typename T>
void eager_act_and_mul(EagerAct act, const T* x, T* out, int64_t rows, int64_t d, EagerScratch& s,
                       int threads) {
  T* t = as<T>(s.t0);
  if constexpr (std::is_same_v<T, float>) t = s.f0.data();
  // t = act(x[..., :d]) over a strided slice, then out = t * x[..., d:]
  par_rows(rows, d, threads, [&](int64_t b, int64_t e) {
    for (int64_t row = b; row < e; ++row) {
      const T* a = x + row * 2 * d;
      T* tr = t + row * d;
      switch (act) {
        case EagerAct::kSilu:
#pragma omp simd
          for (int64_t i = 0; i < d; ++i)
            tr[i] = from_f32<T>(act_value(EagerAct::kSilu, to_f32(a[i])));
          break;
        case EagerAct::kGeluTanh:
#pragma omp simd
          for (int64_t i = 0; i < d; ++i)
            tr[i] = from_f32<T>(act_value(EagerAct::kGeluTanh, to_f32(a[i])));
          break;
        case EagerAct::kGelu:
#pragma omp simd
          for (int64_t i = 0; i < d; ++i)
            tr[i] = from_f32<T>(act_value(EagerAct::kGelu, to_f32(a[i])));
          break;
      }
    }
  });
  par_rows(rows, d, threads, [&](int64_t b, int64_t e) {
    for (int64_t row = b; row < e; ++row) {
      const T* up = x + row * 2 * d + d;
#pragma omp simd
      for (int64_t i = 0; i < d; ++i)
        out[row * d + i] = from_f32<T>(to_f32(t[row * d + i]) * to_f32(up[i]));
    }
  });
}

template <typename T>
void eager_silu_and_mul_backward(const T* x, const T* grad_out, T* grad_x, int64_t rows, int64_t d,
                                 EagerScratch& s, int threads) {
  const int64_t n = rows * d;
  T* t = as<T>(s.t0);  // silu(gate), saved by the forward
  T* gt = as<T>(s.t1);
  T* gb = as<T>(s.t2);
  T* ga = as<T>(s.t3);
  if constexpr (std::is_same_v<T, float>) {
    t = s.f0.data();
    gt = s.f1.data();
    gb = s.f2.data();
    ga = s.f3.data();
  }
  // gate and up are strided halves of x: looped by rows, as TensorIterator does.
  const T* gate = x;
  const T* up = x + d;
  map_rows(rows, d, gt, threads, [&](int64_t r, int64_t j, int64_t i) {  // g * up
    return to_f32(grad_out[i]) * to_f32(up[r * 2 * d + j]);
  });
  map(n, gb, threads, [&](int64_t i) { return to_f32(grad_out[i]) * to_f32(t[i]); });  // g * t
  map_rows(rows, d, ga, threads, [&](int64_t r, int64_t j, int64_t i) {  // silu_backward(gt, gate)
    float a = to_f32(gate[r * 2 * d + j]), sg = 1.0f / (1.0f + std::exp(-a));
    return to_f32(gt[i]) * sg * (1.0f + a * (1.0f - sg));
  });
  // slice backward, twice: grad_x = zeros (one fill stands for both), then each half copied in
  map(2 * n, grad_x, threads, [&](int64_t) { return 0.0f; });
  par_rows(rows, d, threads, [&](int64_t b, int64_t e) {
    for (int64_t row = b; row < e; ++row)
      for (int64_t i = 0; i < d; ++i) {
        grad_x[row * 2 * d + i] = ga[row * d + i];
        grad_x[row * 2 * d + d + i] = gb[row * d + i];
      }
  });
}

template <typename T>
void eager_rotary(const T* x, const T* cos, const T* sin, T* out, int64_t tokens, int64_t heads,
                  int64_t head_dim, EagerScratch& s, int threads) {
  const int64_t n = tokens * heads * head_dim, half = head_dim / 2;
  T* xc = as<T>(s.t0);
  T* rh = as<T>(s.t1);
  T* rs = as<T>(s.t2);
  if constexpr (std::is_same_v<T, float>) {
    xc = s.f0.data();
    rh = s.f1.data();
    rs = s.f2.data();
  }
  // Rows of head_dim; row = token * heads + head; cos/sin rows broadcast over heads.
  const int64_t rows = tokens * heads;
  map_rows(rows, head_dim, xc, threads, [&](int64_t r, int64_t j, int64_t i) {  // x * cos
    return to_f32(x[i]) * to_f32(cos[(r / heads) * head_dim + j]);
  });
  // rotate_half = cat(-x2, x1): the negation of x2, then the cat copy
  map_rows(rows, half, rs, threads,
           [&](int64_t r, int64_t j, int64_t) { return -to_f32(x[r * head_dim + half + j]); });
  map_rows(rows, head_dim, rh, threads, [&](int64_t r, int64_t j, int64_t) {
    return j < half ? to_f32(rs[r * half + j]) : to_f32(x[r * head_dim + j - half]);
  });
  map_rows(rows, head_dim, rh, threads, [&](int64_t r, int64_t j, int64_t i) {  // * sin
    return to_f32(rh[i]) * to_f32(sin[(r / heads) * head_dim + j]);
  });
  map(n, out, threads, [&](int64_t i) { return to_f32(xc[i]) + to_f32(rh[i]); });  // +
}

#define KHUB_EAGER_INSTANTIATE(T)                                                             \
  template void eager_rms_norm<T>(const T*, const T*, T*, int64_t, int64_t, float, bool,      \
                                  EagerScratch&, int);                                        \
  template void eager_fused_add_rms_norm<T>(const T*, const T*, T*, const T*, T*, int64_t,    \
                                            int64_t, float, EagerScratch&, int);              \
  template void eager_rms_norm_backward<T>(const float*, const float*, const T*, const T*,    \
                                           const T*, T*, T*, int64_t, int64_t, EagerScratch&, \
                                           int);                                              \
  template void eager_act_and_mul<T>(EagerAct, const T*, T*, int64_t, int64_t, EagerScratch&, \
                                     int);                                                    \
  template void eager_silu_and_mul_backward<T>(const T*, const T*, T*, int64_t, int64_t,      \
                                               EagerScratch&, int);                           \
  template void eager_rotary<T>(const T*, const T*, const T*, T*, int64_t, int64_t, int64_t,  \
                                EagerScratch&, int);
KHUB_EAGER_INSTANTIATE(float)
KHUB_EAGER_INSTANTIATE(bf16_t)

}  // namespace khub_bench
