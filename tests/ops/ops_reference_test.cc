// Reference ops against float64 math written here, on fresh random inputs (a new seed each run,
// printed on failure), with outputs compared at f32 tolerances.
#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <random>

#include "ops/activation.h"
#include "ops/attention.h"
#include "ops/linear.h"
#include "ops/norm.h"
#include "ops/rotary.h"

namespace khub {
namespace {

uint64_t fresh_seed() {
  return static_cast<uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count());
}

Tensor randn(Shape shape, std::mt19937_64& rng, DType dtype = DType::kF32) {
  std::normal_distribution<float> n(0.0f, 1.0f);
  Tensor t = Tensor::empty(shape, DType::kF32);
  for (int64_t i = 0; i < t.numel(); ++i) t.data_as<float>()[i] = n(rng);
  return t.to(dtype);
}

std::vector<double> f64(const Tensor& t) {
  std::vector<double> v(t.numel());
  for (int64_t i = 0; i < t.numel(); ++i) v[i] = t.item(i);
  return v;
}

void expect_close(const Tensor& got, const std::vector<double>& want, double tol, uint64_t seed) {
  ASSERT_EQ(got.numel(), static_cast<int64_t>(want.size()));
  for (size_t i = 0; i < want.size(); ++i) {
    ASSERT_NEAR(got.item(i), want[i], tol * (1 + std::fabs(want[i])))
        << "index " << i << " seed " << seed;
  }
}

TEST(Ops, LinearWithHalfWeightsMatchesFloat64) {
  uint64_t seed = fresh_seed();
  std::mt19937_64 rng(seed);
  for (DType wt : {DType::kF32, DType::kBF16, DType::kF16}) {
    int64_t m = 5, in = 37, out = 300;  // out > one 256-row block
    Tensor x = randn({m, in}, rng), w = randn({out, in}, rng, wt), b = randn({out}, rng);
    auto xv = f64(x), wv = f64(w), bv = f64(b);
    std::vector<double> want(m * out);
    for (int64_t i = 0; i < m; ++i)
      for (int64_t j = 0; j < out; ++j) {
        double s = bv[j];
        for (int64_t k = 0; k < in; ++k) s += xv[i * in + k] * wv[j * in + k];
        want[i * out + j] = s;
      }
    expect_close(ops::linear(x, w, b), want, 1e-4, seed);
  }
}

TEST(Ops, RmsNormAndGemmaNorm) {
  uint64_t seed = fresh_seed();
  std::mt19937_64 rng(seed);
  Tensor x = randn({3, 4, 33}, rng), w = randn({33}, rng);
  auto xv = f64(x), wv = f64(w);
  for (bool gemma : {false, true}) {
    std::vector<double> want(xv.size());
    for (int64_t r = 0; r < 12; ++r) {
      double ss = 0;
      for (int64_t i = 0; i < 33; ++i) ss += xv[r * 33 + i] * xv[r * 33 + i];
      double inv = 1 / std::sqrt(ss / 33 + 1e-5);
      for (int64_t i = 0; i < 33; ++i)
        want[r * 33 + i] = xv[r * 33 + i] * inv * ((gemma ? 1 : 0) + wv[i]);
    }
    expect_close(gemma ? ops::gemma_rms_norm(x, w, 1e-5f) : ops::rms_norm(x, w, 1e-5f), want, 1e-5,
                 seed);
  }
}

TEST(Ops, GatedActivations) {
  uint64_t seed = fresh_seed();
  std::mt19937_64 rng(seed);
  Tensor x = randn({7, 2 * 19}, rng);
  auto xv = f64(x);
  for (auto act : {ops::GatedActivation::kSilu, ops::GatedActivation::kGeluTanh,
                   ops::GatedActivation::kGelu}) {
    std::vector<double> want(7 * 19);
    for (int64_t r = 0; r < 7; ++r)
      for (int64_t i = 0; i < 19; ++i) {
        double a = xv[r * 38 + i], u = xv[r * 38 + 19 + i], v;
        if (act == ops::GatedActivation::kSilu)
          v = a / (1 + std::exp(-a));
        else if (act == ops::GatedActivation::kGeluTanh)
          v = 0.5 * a * (1 + std::tanh(std::sqrt(2 / M_PI) * (a + 0.044715 * a * a * a)));
        else
          v = 0.5 * a * (1 + std::erf(a / std::sqrt(2.0)));
        want[r * 19 + i] = v * u;
      }
    expect_close(ops::act_and_mul(x, act), want, 1e-5, seed);
  }
  EXPECT_THROW(ops::act_and_mul(randn({2, 5}, rng), ops::GatedActivation::kSilu), Error);
}

// Attention with GQA, a sliding window, soft-capping, sinks and a query offset.
TEST(Ops, AttentionAllFeatures) {
  uint64_t seed = fresh_seed();
  std::mt19937_64 rng(seed);
  int64_t sq = 5, skv = 9, hq = 4, hk = 2, d = 8, off = 4;
  Tensor q = randn({sq, hq, d}, rng), k = randn({skv, hk, d}, rng), v = randn({skv, hk, d}, rng);
  Tensor sinks = randn({hq}, rng);
  for (int variant = 0; variant < 4; ++variant) {
    ops::AttentionParams p;
    p.scale = 0.3f;
    p.q_offset = off;
    p.window = variant & 1 ? 3 : 0;
    p.softcap = variant & 2 ? 2.0f : 0.0f;
    bool use_sinks = variant == 3;
    auto qv = f64(q), kv = f64(k), vv = f64(v), sv = f64(sinks);
    std::vector<double> want(sq * hq * d, 0.0);
    for (int64_t i = 0; i < sq; ++i)
      for (int64_t h = 0; h < hq; ++h) {
        int64_t kh = h / (hq / hk), pos = off + i;
        std::vector<double> s;
        std::vector<int64_t> js;
        for (int64_t j = 0; j < skv; ++j) {
          if (j > pos || (p.window > 0 && pos - j >= p.window)) continue;
          double dot = 0;
          for (int64_t t = 0; t < d; ++t)
            dot += qv[(i * hq + h) * d + t] * kv[(j * hk + kh) * d + t];
          dot *= p.scale;
          if (p.softcap > 0) dot = p.softcap * std::tanh(dot / p.softcap);
          s.push_back(dot);
          js.push_back(j);
        }
        double mx = use_sinks ? sv[h] : -1e300;
        for (double x : s) mx = std::max(mx, x);
        double den = use_sinks ? std::exp(sv[h] - mx) : 0;
        for (double x : s) den += std::exp(x - mx);
        for (size_t n = 0; n < s.size(); ++n)
          for (int64_t t = 0; t < d; ++t)
            want[(i * hq + h) * d + t] += std::exp(s[n] - mx) / den * vv[(js[n] * hk + kh) * d + t];
      }
    expect_close(ops::attention(q, k, v, p, use_sinks ? sinks : Tensor()), want, 1e-5, seed);
  }
}

TEST(Ops, RotaryMatchesFloat64RotationBothLayouts) {
  uint64_t seed = fresh_seed();
  std::mt19937_64 rng(seed);
  ops::RopeParams rp;
  rp.rotary_dim = 12;  // partial: head_dim 16
  std::vector<int64_t> pos = {0, 3, 17};
  Tensor cos, sin;
  ops::rope_tables(rp, pos, 18, &cos, &sin);
  for (bool inter : {false, true}) {
    Tensor q = randn({3, 2, 16}, rng), k = randn({3, 1, 16}, rng);
    auto qv = f64(q);
    ops::apply_rotary(q, k, cos, sin, 12, inter);
    std::vector<double> want = qv;
    for (int64_t t = 0; t < 3; ++t)
      for (int64_t h = 0; h < 2; ++h)
        for (int64_t j = 0; j < 6; ++j) {
          double f = pos[t] / std::pow(10000.0, 2.0 * j / 12);
          int64_t a = inter ? 2 * j : j, b = inter ? 2 * j + 1 : j + 6;
          double x1 = qv[(t * 2 + h) * 16 + a], x2 = qv[(t * 2 + h) * 16 + b];
          want[(t * 2 + h) * 16 + a] = x1 * std::cos(f) - x2 * std::sin(f);
          want[(t * 2 + h) * 16 + b] = x2 * std::cos(f) + x1 * std::sin(f);
        }
    expect_close(q, want, 2e-5, seed);
  }
}

TEST(Ops, RopeScalingTypes) {
  ops::RopeParams p;
  p.rotary_dim = 64;
  double s;
  auto base = ops::rope_inv_freq(p, 10, &s);
  p.type = "linear";
  p.factor = 4;
  auto lin = ops::rope_inv_freq(p, 10, &s);
  EXPECT_NEAR(lin[5], base[5] / 4, 1e-9);
  p.type = "dynamic";
  p.max_position_embeddings = 100;
  EXPECT_EQ(ops::rope_inv_freq(p, 50, &s), base);         // within the trained length: unchanged
  EXPECT_LT(ops::rope_inv_freq(p, 400, &s)[5], base[5]);  // beyond: a larger base
  p.type = "yarn";
  p.original_max_position_embeddings = 100;
  auto yarn = ops::rope_inv_freq(p, 10, &s);
  EXPECT_NEAR(s, 0.1 * std::log(4.0) + 1, 1e-9);
  EXPECT_NEAR(yarn[0], base[0], 1e-6);        // high frequencies extrapolate
  EXPECT_NEAR(yarn[31], base[31] / 4, 1e-9);  // low frequencies interpolate
  p.type = "longrope";
  EXPECT_THROW(ops::rope_inv_freq(p, 10, &s), Error);
}

}  // namespace
}  // namespace khub
