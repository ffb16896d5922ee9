// Backward of the reference ops (ops/backward.h) against central finite differences of float64
// forwards written here: norms, gated activations, rotary, soft-capping, linear, embedding and
// cross-entropy (attention: backward_attention_test.cc). Each test first checks that khub's f32
// forward agrees with the float64 one (so the differences are of the same function), then
// compares the f32 gradient of L = Σ r ⊙ y (r random) with (L(x + ε) - L(x - ε)) / 2ε, ε = 1e-4,
// to a relative 1e-3 (backward_check.h). Fresh random inputs each run; the seed is printed on
// failure.
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <string>

#include "backward_check.h"
#include "ops/backward.h"
#include "ops/elementwise.h"
#include "ops/linear.h"
#include "ops/norm.h"
#include "ops/rotary.h"

namespace khub::backward_test {
namespace {

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
}  // namespace khub::backward_test
