// Backward of the reference ops (ops/backward.h) against central finite differences of float64
// forwards written here. Each test first checks that khub's f32 forward agrees with the float64
// one (so the differences are of the same function), then compares the f32 gradient of
// L = Σ r ⊙ y (r random) with (L(x + ε) - L(x - ε)) / 2ε, ε = 1e-4, to a relative 1e-3. Fresh
// random inputs each run; the seed is printed on failure.
#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <functional>
#include <random>
#include <string>

#include "ops/backward.h"
#include "ops/elementwise.h"
#include "ops/linear.h"
#include "ops/norm.h"
#include "ops/rotary.h"

namespace khub {
namespace {

using Vec = std::vector<double>;
using LossFn = std::function<double()>;

uint64_t fresh_seed() {
  return static_cast<uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count());
}

Tensor randn(Shape shape, std::mt19937_64& rng, float stddev = 1.0f) {
  std::normal_distribution<float> n(0.0f, stddev);
  Tensor t = Tensor::empty(shape, DType::kF32);
  for (int64_t i = 0; i < t.numel(); ++i) t.data_as<float>()[i] = n(rng);
  return t;
}

Vec f64(const Tensor& t) {
  Vec v(t.numel());
  for (int64_t i = 0; i < t.numel(); ++i) v[i] = t.item(i);
  return v;
}

double dot(const Vec& a, const Vec& b) {
  double s = 0;
  for (size_t i = 0; i < a.size(); ++i) s += a[i] * b[i];
  return s;
}

void expect_forward(const Tensor& got, const Vec& want, double tol, uint64_t seed) {
  ASSERT_EQ(got.numel(), static_cast<int64_t>(want.size()));
  for (size_t i = 0; i < want.size(); ++i) {
    ASSERT_NEAR(got.item(i), want[i], tol * (1 + std::fabs(want[i])))
        << "forward index " << i << " seed " << seed;
  }
}

// got (the op's gradient of L with respect to x) against central differences of loss() in x,
// at every index or at the given ones. x is perturbed in place and restored.
void expect_grad(const std::string& what, const Vec& got, Vec& x, const LossFn& loss, uint64_t seed,
                 std::vector<int64_t> idx = {}) {
  ASSERT_EQ(got.size(), x.size()) << what;
  if (idx.empty()) {
    for (size_t i = 0; i < x.size(); ++i) idx.push_back(static_cast<int64_t>(i));
  }
  const double eps = 1e-4;
  Vec fd(idx.size());
  double max_fd = 0;
  for (size_t n = 0; n < idx.size(); ++n) {
    double x0 = x[idx[n]];
    x[idx[n]] = x0 + eps;
    double lp = loss();
    x[idx[n]] = x0 - eps;
    double lm = loss();
    x[idx[n]] = x0;
    fd[n] = (lp - lm) / (2 * eps);
    max_fd = std::max(max_fd, std::fabs(fd[n]));
  }
  for (size_t n = 0; n < idx.size(); ++n) {
    double g = got[idx[n]];
    ASSERT_NEAR(g, fd[n], 1e-3 * (std::fabs(fd[n]) + 1e-2 * max_fd) + 1e-9)
        << what << " index " << idx[n] << " seed " << seed;
  }
}

void expect_grad(const std::string& what, const Tensor& got, Vec& x, const LossFn& loss,
                 uint64_t seed, std::vector<int64_t> idx = {}) {
  expect_grad(what, f64(got), x, loss, seed, std::move(idx));
}

Vec minus(const Vec& a, const Vec& b) {
  Vec d(a.size());
  for (size_t i = 0; i < a.size(); ++i) d[i] = a[i] - b[i];
  return d;
}

// acc == init + times * delta: the accumulator semantics of a second call.
void expect_accumulated(const Tensor& acc, const Vec& init, const Vec& delta, int times,
                        const std::string& what) {
  ASSERT_EQ(acc.numel(), static_cast<int64_t>(init.size()));
  for (size_t i = 0; i < init.size(); ++i) {
    double want = init[i] + times * delta[i];
    ASSERT_NEAR(acc.item(i), want, 1e-5 * (1 + std::fabs(want))) << what << " index " << i;
  }
}

template <typename F>
void expect_error(F&& f, ErrorKind kind, const std::string& needle) {
  try {
    f();
    ADD_FAILURE() << "no error; expected one containing '" << needle << "'";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), kind) << e.what();
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
  }
}

// ---- float64 forwards ----------------------------------------------------------------------

Vec rms64(const Vec& x, const Vec& w, int64_t h, double eps, double off) {
  Vec y(x.size());
  for (size_t r = 0; r < x.size() / h; ++r) {
    double ss = 0;
    for (int64_t i = 0; i < h; ++i) ss += x[r * h + i] * x[r * h + i];
    double inv = 1 / std::sqrt(ss / h + eps);
    for (int64_t i = 0; i < h; ++i) y[r * h + i] = x[r * h + i] * inv * (off + w[i]);
  }
  return y;
}

double act64(double a, ops::GatedActivation act) {
  switch (act) {
    case ops::GatedActivation::kSilu:
      return a / (1 + std::exp(-a));
    case ops::GatedActivation::kGeluTanh:
      return 0.5 * a * (1 + std::tanh(std::sqrt(2 / M_PI) * (a + 0.044715 * a * a * a)));
    default:
      return 0.5 * a * (1 + std::erf(a / std::sqrt(2.0)));
  }
}

// Rotates [T, H, D] by angle tables given as c, s [T, R/2].
Vec rot64(const Vec& x, int64_t t, int64_t h, int64_t d, const Vec& c, const Vec& s, int64_t rd,
          bool interleaved) {
  Vec y = x;
  int64_t half = rd / 2;
  for (int64_t i = 0; i < t; ++i)
    for (int64_t hh = 0; hh < h; ++hh)
      for (int64_t j = 0; j < half; ++j) {
        int64_t a = (i * h + hh) * d + (interleaved ? 2 * j : j);
        int64_t b = (i * h + hh) * d + (interleaved ? 2 * j + 1 : j + half);
        y[a] = x[a] * c[i * half + j] - x[b] * s[i * half + j];
        y[b] = x[b] * c[i * half + j] + x[a] * s[i * half + j];
      }
  return y;
}

struct AttnShape {
  int64_t sq, skv, hq, hk, d;
};

// One sequence: q [Sq, Hq, D] at q_off, k and v rows of kv_stride elements starting at k_off /
// v_off ([Hk, D] each), out [Sq, Hq, D] at o_off.
void attn64(const Vec& q, size_t q_off, const Vec& k, const Vec& v, size_t kv_off,
            int64_t kv_stride, const AttnShape& s, const ops::AttentionParams& p, Vec& out,
            size_t o_off, const Vec* sinks = nullptr) {
  int64_t group = s.hq / s.hk;
  Vec sc(s.skv);
  for (int64_t h = 0; h < s.hq; ++h) {
    int64_t kh = h / group;
    for (int64_t i = 0; i < s.sq; ++i) {
      int64_t pos = p.q_offset + i;
      double* o = &out[o_off + (i * s.hq + h) * s.d];
      for (int64_t t = 0; t < s.d; ++t) o[t] = 0;
      double mx = -INFINITY;
      for (int64_t j = 0; j < s.skv; ++j) {
        bool visible = (!p.causal || j <= pos) && (p.window == 0 || pos - j < p.window);
        if (!visible) {
          sc[j] = -INFINITY;
          continue;
        }
        double dotp = 0;
        for (int64_t t = 0; t < s.d; ++t)
          dotp += q[q_off + (i * s.hq + h) * s.d + t] * k[kv_off + j * kv_stride + kh * s.d + t];
        double x = dotp * p.scale;
        if (p.softcap > 0) x = p.softcap * std::tanh(x / p.softcap);
        sc[j] = x;
        mx = std::max(mx, x);
      }
      if (mx == -INFINITY) continue;  // no visible key: zeros, as the op writes
      double den = 0;
      if (sinks) {  // one more logit in the softmax, without a value
        mx = std::max(mx, (*sinks)[h]);
        den += std::exp((*sinks)[h] - mx);
      }
      for (int64_t j = 0; j < s.skv; ++j) den += sc[j] == -INFINITY ? 0 : std::exp(sc[j] - mx);
      for (int64_t j = 0; j < s.skv; ++j) {
        if (sc[j] == -INFINITY) continue;
        double w = std::exp(sc[j] - mx) / den;
        for (int64_t t = 0; t < s.d; ++t) o[t] += w * v[kv_off + j * kv_stride + kh * s.d + t];
      }
    }
  }
}

// ---- norm, activation, rotary, softcap -----------------------------------------------------

TEST(Backward, RmsNormAndGemmaOffset) {
  uint64_t seed = fresh_seed();
  std::mt19937_64 rng(seed);
  const int64_t h = 24;
  const float eps = 1e-5f;
  for (float off : {0.0f, 1.0f}) {
    Tensor x = randn({3, 2, h}, rng), w = randn({h}, rng, 0.5f), r = randn({3, 2, h}, rng);
    Vec xv = f64(x), wv = f64(w), rv = f64(r);
    expect_forward(off == 0 ? ops::rms_norm(x, w, eps) : ops::gemma_rms_norm(x, w, eps),
                   rms64(xv, wv, h, eps, off), 1e-5, seed);
    Tensor dw = randn({h}, rng);
    Vec dw0 = f64(dw);
    Tensor dx = ops::rms_norm_backward(x, w, eps, off, r, &dw);
    LossFn loss = [&] { return dot(rv, rms64(xv, wv, h, eps, off)); };
    expect_grad("rms dx", dx, xv, loss, seed);
    Vec delta = minus(f64(dw), dw0);
    expect_grad("rms dweight", delta, wv, loss, seed);
    ops::rms_norm_backward(x, w, eps, off, r, &dw);
    expect_accumulated(dw, dw0, delta, 2, "rms dweight");
  }
}

TEST(Backward, GatedActivationsAllThree) {
  uint64_t seed = fresh_seed();
  std::mt19937_64 rng(seed);
  const int64_t n = 4, d = 7;
  for (auto act : {ops::GatedActivation::kSilu, ops::GatedActivation::kGeluTanh,
                   ops::GatedActivation::kGelu}) {
    Tensor x = randn({n, 2 * d}, rng, 1.5f), r = randn({n, d}, rng);
    Vec xv = f64(x), rv = f64(r);
    auto fwd = [&] {
      Vec y(n * d);
      for (int64_t i = 0; i < n; ++i)
        for (int64_t j = 0; j < d; ++j)
          y[i * d + j] = act64(xv[i * 2 * d + j], act) * xv[i * 2 * d + d + j];
      return y;
    };
    expect_forward(ops::act_and_mul(x, act), fwd(), 1e-5, seed);
    Tensor dx = ops::act_and_mul_backward(x, r, act);
    EXPECT_EQ(dx.shape(), x.shape());
    expect_grad(
        "act dx " + std::to_string(static_cast<int>(act)), dx, xv, [&] { return dot(rv, fwd()); },
        seed);
  }
}

TEST(Backward, PartialRotaryBothLayouts) {
  uint64_t seed = fresh_seed();
  std::mt19937_64 rng(seed);
  const int64_t t = 4, hq = 3, hk = 2, d = 10, rd = 6, half = rd / 2;
  std::uniform_real_distribution<float> angle(-3.0f, 3.0f);
  // Scaled tables (yarn's attention factor): the transpose is still what the gradient needs.
  Tensor cos = Tensor::empty({t, half}, DType::kF32), sin = Tensor::empty({t, half}, DType::kF32);
  for (int64_t i = 0; i < t * half; ++i) {
    float a = angle(rng);
    cos.data_as<float>()[i] = 1.1f * std::cos(a);
    sin.data_as<float>()[i] = 1.1f * std::sin(a);
  }
  Vec cv = f64(cos), sv = f64(sin);
  for (bool interleaved : {false, true}) {
    Tensor q = randn({t, hq, d}, rng), k = randn({t, hk, d}, rng);
    Tensor rq = randn({t, hq, d}, rng), rk = randn({t, hk, d}, rng);
    Vec qv = f64(q), kv = f64(k), rqv = f64(rq), rkv = f64(rk);
    Tensor qr = q.clone(), kr = k.clone();
    ops::apply_rotary(qr, kr, cos, sin, rd, interleaved);
    expect_forward(qr, rot64(qv, t, hq, d, cv, sv, rd, interleaved), 1e-5, seed);
    expect_forward(kr, rot64(kv, t, hk, d, cv, sv, rd, interleaved), 1e-5, seed);
    Tensor dq = rq.clone(), dk = rk.clone();
    ops::apply_rotary_backward(dq, dk, cos, sin, rd, interleaved);
    LossFn loss = [&] {
      return dot(rqv, rot64(qv, t, hq, d, cv, sv, rd, interleaved)) +
             dot(rkv, rot64(kv, t, hk, d, cv, sv, rd, interleaved));
    };
    expect_grad("rotary dq", dq, qv, loss, seed);
    expect_grad("rotary dk", dk, kv, loss, seed);
  }
}

TEST(Backward, Softcap) {
  uint64_t seed = fresh_seed();
  std::mt19937_64 rng(seed);
  const float cap = 2.5f;
  Tensor x = randn({5, 9}, rng, 3.0f), r = randn({5, 9}, rng);
  Vec xv = f64(x), rv = f64(r);
  auto fwd = [&] {
    Vec y(xv.size());
    for (size_t i = 0; i < y.size(); ++i) y[i] = cap * std::tanh(xv[i] / cap);
    return y;
  };
  Tensor y = x.clone();
  ops::softcap_inplace(y, cap);
  expect_forward(y, fwd(), 1e-5, seed);
  Tensor dx = r.clone();
  ops::softcap_backward_inplace(dx, y, cap);
  expect_grad(
      "softcap dx", dx, xv, [&] { return dot(rv, fwd()); }, seed);
}

// ---- attention -----------------------------------------------------------------------------

struct AttnCase {
  AttnShape s;
  bool causal;
  int64_t window;
  float softcap;
  int64_t q_offset;
  float scale;
};

// Forward agreement and full finite differences of q, k and v for one case; k and v are
// row-strided views (one spare head per row) and the gradients are pre-filled when prefill is set
// (the op overwrites them).
void check_attention_case(const AttnCase& c, bool prefill, std::mt19937_64& rng, uint64_t seed) {
  const AttnShape& s = c.s;
  ops::AttentionParams p;
  p.causal = c.causal;
  p.window = c.window;
  p.softcap = c.softcap;
  p.q_offset = c.q_offset;
  p.scale = c.scale;
  Tensor q = randn({s.sq, s.hq, s.d}, rng), r = randn({s.sq, s.hq, s.d}, rng);
  Tensor kbuf = randn({s.skv, s.hk + 1, s.d}, rng), vbuf = randn({s.skv, s.hk + 1, s.d}, rng);
  Tensor k = kbuf.slice(1, 0, s.hk), v = vbuf.slice(1, 0, s.hk);
  Vec qv = f64(q), kv = f64(k), vv = f64(v), rv = f64(r);
  auto fwd = [&] {
    Vec out(s.sq * s.hq * s.d);
    attn64(qv, 0, kv, vv, 0, s.hk * s.d, s, p, out, 0);
    return out;
  };
  expect_forward(ops::attention(q, k, v, p), fwd(), 1e-5, seed);
  Tensor dq, dk, dv;
  if (prefill) {
    dq = Tensor::full(q.shape(), 7.0, DType::kF32);
    dk = Tensor::full({s.skv, s.hk, s.d}, 7.0, DType::kF32);
    dv = Tensor::full({s.skv, s.hk, s.d}, 7.0, DType::kF32);
  }
  ops::attention_backward(q, k, v, r, p, &dq, &dk, &dv);
  LossFn loss = [&] { return dot(rv, fwd()); };
  std::string tag = "attention sq " + std::to_string(s.sq) + " hk " + std::to_string(s.hk) + " ";
  expect_grad(tag + "dq", dq, qv, loss, seed);
  expect_grad(tag + "dk", dk, kv, loss, seed);
  expect_grad(tag + "dv", dv, vv, loss, seed);
}

// gpt-oss's sinks: a learned logit per head in every softmax. Forward against float64 and finite
// differences of q, k, v and the sinks, with a window, GQA and a query that sees one key.
TEST(Backward, AttentionSinks) {
  uint64_t seed = fresh_seed();
  std::mt19937_64 rng(seed);
  const AttnShape s{5, 5, 4, 2, 6};
  ops::AttentionParams p;
  p.window = 3;
  p.scale = 0.5f;
  Tensor q = randn({s.sq, s.hq, s.d}, rng), k = randn({s.skv, s.hk, s.d}, rng);
  Tensor v = randn({s.skv, s.hk, s.d}, rng), r = randn({s.sq, s.hq, s.d}, rng);
  Tensor sinks = randn({s.hq}, rng);
  Vec qv = f64(q), kv = f64(k), vv = f64(v), rv = f64(r), sv = f64(sinks);
  auto fwd = [&] {
    Vec out(s.sq * s.hq * s.d);
    attn64(qv, 0, kv, vv, 0, s.hk * s.d, s, p, out, 0, &sv);
    return out;
  };
  expect_forward(ops::attention(q, k, v, p, sinks), fwd(), 1e-5, seed);
  Tensor dq, dk, dv, dsinks;
  ops::attention_backward(q, k, v, r, p, &dq, &dk, &dv, sinks, &dsinks);
  LossFn loss = [&] { return dot(rv, fwd()); };
  expect_grad("sinks dq", dq, qv, loss, seed);
  expect_grad("sinks dk", dk, kv, loss, seed);
  expect_grad("sinks dv", dv, vv, loss, seed);
  expect_grad("sinks dsinks", dsinks, sv, loss, seed);
  Tensor dq2, dk2, dv2;
  expect_error([&] { ops::attention_backward(q, k, v, r, p, &dq2, &dk2, &dv2, sinks, nullptr); },
               ErrorKind::kInvalidArgument, "dsinks");
}

TEST(Backward, AttentionMasksGqaSoftcapOffset) {
  uint64_t seed = fresh_seed();
  std::mt19937_64 rng(seed);
  const AttnCase cases[] = {
      {{6, 6, 4, 1, 5}, true, 0, 0.0f, 0, 0.45f},  // GQA onto one KV head
      {{5, 8, 4, 2, 7}, true, 3, 2.0f, 3, 0.6f},   // 2 KV heads, window < S, softcap, q_offset
      {{3, 7, 2, 2, 4}, false, 0, 0.0f, 0, 0.5f},  // bidirectional
      {{3, 4, 2, 1, 3}, true, 2, 0.0f, 3, 0.5f},   // the last query sees no key
      {{4, 9, 6, 3, 6}, false, 4, 1.5f, 5, 0.4f},  // bidirectional window, later keys visible
  };
  bool prefill = false;
  for (const AttnCase& c : cases) {
    check_attention_case(c, prefill, rng, seed);
    prefill = !prefill;
  }
}

// Long enough for the op to split heads over threads (when the machine has several cores), with
// 6 query heads on 3 KV heads so that one KV head is shared by two threads' head ranges.
// Finite differences at sampled elements only (each is two full float64 forwards).
TEST(Backward, AttentionLongSequenceSampled) {
  uint64_t seed = fresh_seed();
  std::mt19937_64 rng(seed);
  const AttnShape s{256, 256, 6, 3, 12};
  ops::AttentionParams p;
  p.window = 100;
  p.softcap = 3.0f;
  p.scale = 1.0f / std::sqrt(12.0f);
  Tensor q = randn({s.sq, s.hq, s.d}, rng), k = randn({s.skv, s.hk, s.d}, rng);
  Tensor v = randn({s.skv, s.hk, s.d}, rng), r = randn({s.sq, s.hq, s.d}, rng);
  Vec qv = f64(q), kv = f64(k), vv = f64(v), rv = f64(r);
  auto fwd = [&] {
    Vec out(s.sq * s.hq * s.d);
    attn64(qv, 0, kv, vv, 0, s.hk * s.d, s, p, out, 0);
    return out;
  };
  expect_forward(ops::attention(q, k, v, p), fwd(), 1e-5, seed);
  Tensor dq, dk, dv;
  ops::attention_backward(q, k, v, r, p, &dq, &dk, &dv);
  LossFn loss = [&] { return dot(rv, fwd()); };
  std::uniform_int_distribution<int64_t> qi(0, static_cast<int64_t>(qv.size()) - 1);
  std::uniform_int_distribution<int64_t> ki(0, static_cast<int64_t>(kv.size()) - 1);
  std::vector<int64_t> qs, ks;
  for (int n = 0; n < 5; ++n) qs.push_back(qi(rng)), ks.push_back(ki(rng));
  // Rows of KV head 1 (shared by query heads 2 and 3), early, middle and last.
  for (int64_t j : {3, 120, 255}) ks.push_back((j * s.hk + 1) * s.d + j % s.d);
  expect_grad("long dq", dq, qv, loss, seed, qs);
  expect_grad("long dk", dk, kv, loss, seed, ks);
  expect_grad("long dv", dv, vv, loss, seed, ks);
}

TEST(Backward, AttentionVarlenCachedPrefixesAndSlots) {
  uint64_t seed = fresh_seed();
  std::mt19937_64 rng(seed);
  const int64_t slots = 4, cap = 10, hq = 4, hk = 2, d = 6, t = 9;
  // Slot 1 is unused; seq 0 has a cached prefix (kv_len > q_len); seq 2 is a decode-like tail.
  const std::vector<ops::AttentionSeq> seqs = {{2, 0, 3, 7}, {0, 3, 4, 4}, {3, 7, 2, 9}};
  ops::AttentionParams p;
  p.window = 5;
  p.softcap = 2.0f;
  p.scale = 0.5f;
  p.q_offset = 123;  // ignored by the varlen ops
  Tensor q = randn({t, hq, d}, rng), r = randn({t, hq, d}, rng);
  Tensor kc = randn({slots, cap, hk, d}, rng), vc = randn({slots, cap, hk, d}, rng);
  Vec qv = f64(q), kv = f64(kc), vv = f64(vc), rv = f64(r);
  auto fwd = [&] {
    Vec out(t * hq * d);
    for (const auto& sq : seqs) {
      ops::AttentionParams ps = p;
      ps.causal = true;
      ps.q_offset = sq.kv_len - sq.q_len;
      attn64(qv, sq.q_start * hq * d, kv, vv, sq.slot * cap * hk * d, hk * d,
             AttnShape{sq.q_len, sq.kv_len, hq, hk, d}, ps, out, sq.q_start * hq * d);
    }
    return out;
  };
  expect_forward(ops::attention_varlen(q, kc, vc, seqs, p), fwd(), 1e-5, seed);
  Tensor dq, dv;
  Tensor dk = randn({slots, cap, hk, d}, rng);  // accumulated into
  Vec dk0 = f64(dk);
  ops::attention_varlen_backward(q, kc, vc, r, seqs, p, &dq, &dk, &dv);
  LossFn loss = [&] { return dot(rv, fwd()); };
  expect_grad("varlen dq", dq, qv, loss, seed);
  Vec dk_delta = minus(f64(dk), dk0);
  expect_grad("varlen dk_cache", dk_delta, kv, loss, seed);
  expect_grad("varlen dv_cache", dv, vv, loss, seed);
  Tensor dq2, dv_again = dv.clone();
  ops::attention_varlen_backward(q, kc, vc, r, seqs, p, &dq2, &dk, &dv_again);
  expect_accumulated(dk, dk0, dk_delta, 2, "varlen dk_cache");
  expect_accumulated(dv_again, Vec(vv.size(), 0.0), f64(dv), 2, "varlen dv_cache");
}

// ---- linear, embedding, cross-entropy ------------------------------------------------------

TEST(Backward, LinearWithAndWithoutBias) {
  uint64_t seed = fresh_seed();
  std::mt19937_64 rng(seed);
  const int64_t in = 11, out = 5, m = 6;
  for (bool with_bias : {false, true}) {
    Tensor x = randn({2, 3, in}, rng), w = randn({out, in}, rng), b = randn({out}, rng);
    Tensor r = randn({2, 3, out}, rng);
    Vec xv = f64(x), wv = f64(w), bv = f64(b), rv = f64(r);
    auto fwd = [&] {
      Vec y(m * out);
      for (int64_t i = 0; i < m; ++i)
        for (int64_t j = 0; j < out; ++j) {
          double acc = with_bias ? bv[j] : 0.0;
          for (int64_t l = 0; l < in; ++l) acc += xv[i * in + l] * wv[j * in + l];
          y[i * out + j] = acc;
        }
      return y;
    };
    expect_forward(ops::linear(x, w, with_bias ? b : Tensor()), fwd(), 1e-5, seed);
    Tensor dw = randn({out, in}, rng), db = randn({out}, rng);
    Vec dw0 = f64(dw), db0 = f64(db);
    Tensor dx = ops::linear_backward(x, w, r, &dw, with_bias ? &db : nullptr);
    EXPECT_EQ(dx.shape(), x.shape());
    LossFn loss = [&] { return dot(rv, fwd()); };
    expect_grad("linear dx", dx, xv, loss, seed);
    Vec dw_delta = minus(f64(dw), dw0), db_delta = minus(f64(db), db0);
    expect_grad("linear dw", dw_delta, wv, loss, seed);
    if (with_bias) {
      expect_grad("linear db", db_delta, bv, loss, seed);
    } else {
      expect_accumulated(db, db0, db_delta, 0, "untouched db");
    }
    Tensor none = ops::linear_backward(x, w, r, &dw, with_bias ? &db : nullptr, false);
    EXPECT_FALSE(none.defined());
    expect_accumulated(dw, dw0, dw_delta, 2, "linear dw");
    if (with_bias) expect_accumulated(db, db0, db_delta, 2, "linear db");
  }
}

TEST(Backward, EmbeddingRepeatedIdsAndScale) {
  uint64_t seed = fresh_seed();
  std::mt19937_64 rng(seed);
  const int64_t vocab = 6, h = 4;
  const std::vector<int32_t> ids = {3, 1, 3, 5, 3};
  const float scale = 2.5f;
  const int64_t n = static_cast<int64_t>(ids.size());
  Tensor table = randn({vocab, h}, rng), r = randn({n, h}, rng);
  Vec tv = f64(table), rv = f64(r);
  auto fwd = [&] {
    Vec y(n * h);
    for (int64_t i = 0; i < n; ++i)
      for (int64_t t = 0; t < h; ++t) y[i * h + t] = scale * tv[ids[i] * h + t];
    return y;
  };
  Tensor y = ops::embedding(table, ids);
  ops::scale_inplace(y, scale);
  expect_forward(y, fwd(), 1e-6, seed);
  Tensor dt = randn({vocab, h}, rng);
  Vec dt0 = f64(dt);
  ops::embedding_backward(r, ids, scale, dt);
  Vec delta = minus(f64(dt), dt0);
  expect_grad(
      "embedding dtable", delta, tv, [&] { return dot(rv, fwd()); }, seed);
  ops::embedding_backward(r, ids, scale, dt);
  expect_accumulated(dt, dt0, delta, 2, "embedding dtable");
  expect_error(
      [&] {
        ops::embedding_backward(r, {3, 1, 6, 0, 0}, scale, dt);
      },
      ErrorKind::kInvalidArgument, "token id 6 at position 2");
}

TEST(Backward, CrossEntropyIgnoredLabelsAndInPlace) {
  uint64_t seed = fresh_seed();
  std::mt19937_64 rng(seed);
  const int64_t n = 6, vocab = 9;
  const std::vector<int32_t> labels = {2, -100, 8, 0, -100, 5};
  const float grad_scale = 0.25f;  // 1 / (rows that count)
  Tensor logits = randn({n, vocab}, rng, 2.0f);
  for (int64_t j = 0; j < vocab; ++j) logits.data_as<float>()[2 * vocab + j] += 1000.0f;
  Vec xv = f64(logits);
  auto loss64 = [&] {
    double total = 0;
    for (int64_t i = 0; i < n; ++i) {
      if (labels[i] == -100) continue;
      double mx = -INFINITY, sum = 0;
      for (int64_t j = 0; j < vocab; ++j) mx = std::max(mx, xv[i * vocab + j]);
      for (int64_t j = 0; j < vocab; ++j) sum += std::exp(xv[i * vocab + j] - mx);
      total += mx + std::log(sum) - xv[i * vocab + labels[i]];
    }
    return total;
  };
  Tensor dl;
  double loss = ops::cross_entropy(logits, labels, grad_scale, &dl);
  ASSERT_TRUE(std::isfinite(loss));
  EXPECT_NEAR(loss, loss64(), 1e-5 * (1 + loss)) << "seed " << seed;
  EXPECT_NEAR(ops::cross_entropy(logits, labels, grad_scale, nullptr), loss, 1e-12 * (1 + loss));
  expect_grad(
      "cross_entropy dlogits", dl, xv, [&] { return grad_scale * loss64(); }, seed);
  for (int64_t j = 0; j < vocab; ++j) EXPECT_EQ(dl.item(1 * vocab + j), 0.0);

  Tensor inplace = logits.clone();
  double loss_inplace = ops::cross_entropy(inplace, labels, grad_scale, &inplace);
  EXPECT_EQ(loss_inplace, loss);
  for (int64_t i = 0; i < n * vocab; ++i) ASSERT_NEAR(inplace.item(i), dl.item(i), 1e-7) << i;

  // A bad label fails before anything is written, naming the row and the label.
  Tensor untouched = logits.clone();
  std::vector<int32_t> bad = labels;
  bad[3] = 9;
  expect_error([&] { ops::cross_entropy(untouched, bad, 1.0f, &untouched); },
               ErrorKind::kInvalidArgument, "label 9 of row 3");
  for (int64_t i = 0; i < n * vocab; ++i) ASSERT_EQ(untouched.item(i), logits.item(i));
  bad[3] = -7;
  expect_error([&] { ops::cross_entropy(logits, bad, 1.0f, nullptr); }, ErrorKind::kInvalidArgument,
               "label -7 of row 3");
  expect_error(
      [&] {
        ops::cross_entropy(logits, {1, 2}, 1.0f, nullptr);
      },
      ErrorKind::kInvalidArgument, "2 labels for 6 rows");
}

TEST(Backward, WrongDtypesAndShapesAreClearErrors) {
  std::mt19937_64 rng(1);
  Tensor x = randn({3, 8}, rng), w = randn({8}, rng), dy = randn({3, 8}, rng);
  Tensor xb = x.to(DType::kBF16);
  expect_error([&] { ops::rms_norm_backward(xb, w, 1e-5f, 0.0f, dy, nullptr); },
               ErrorKind::kInvalidArgument, "ops::rms_norm_backward: x must be an f32");
  expect_error(
      [&] {
        ops::act_and_mul_backward(randn({3, 7}, rng), dy, ops::GatedActivation::kSilu);
      },
      ErrorKind::kInvalidArgument, "must be even");
  Tensor lw = randn({4, 8}, rng).to(DType::kBF16);
  expect_error(
      [&] {
        ops::linear_backward(x, lw, randn({3, 4}, rng), nullptr, nullptr);
      },
      ErrorKind::kInvalidArgument, "ops::linear_backward: w must be an f32");
  expect_error(
      [&] {
        ops::linear_backward(x, randn({4, 8}, rng), dy, nullptr, nullptr);
      },
      ErrorKind::kInvalidArgument, "expected [3, 4]");
  Tensor q = randn({2, 3, 4}, rng), kv = randn({2, 2, 4}, rng), dq, dk, dv;
  expect_error([&] { ops::attention_backward(q, kv, kv, q, {}, &dq, &dk, &dv); },
               ErrorKind::kInvalidArgument, "3 query heads are not a multiple of 2");
  Tensor bad_cap = x.clone();
  expect_error([&] { ops::softcap_backward_inplace(bad_cap, x, 0.0f); },
               ErrorKind::kInvalidArgument, "must be positive");
  Tensor logits_b = x.to(DType::kBF16);
  expect_error(
      [&] {
        ops::cross_entropy(logits_b, {0, 1, 2}, 1.0f, nullptr);
      },
      ErrorKind::kInvalidArgument, "ops::cross_entropy: logits must be an f32");
}

}  // namespace
}  // namespace khub
