// Shared by the LinearCrossEntropy CPU and GPU tests: random problems and the float64 math they
// are checked against (the loss, the hidden states' and the weight's gradients).
#pragma once

#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "layers/linear_cross_entropy.h"

namespace khub::lce_test {

struct Case {
  int64_t t, h, v;
  float softcap;
};

struct Problem {
  Tensor hidden, weight;
  CrossEntropyTargets targets;
};

inline Problem make_problem(const Case& c, uint32_t seed) {
  std::mt19937 gen(seed);
  std::normal_distribution<float> n(0.0f, 1.0f);
  std::vector<float> h(c.t * c.h), w(c.v * c.h);
  for (float& x : h) x = n(gen);
  for (float& x : w) x = 0.5f * n(gen);
  std::vector<int32_t> tg(c.t);
  std::uniform_int_distribution<int32_t> pick(0, static_cast<int32_t>(c.v - 1));
  for (int64_t r = 0; r < c.t; ++r) tg[r] = r % 5 == 3 ? -100 : pick(gen);
  Problem p;
  p.hidden = Tensor::from_vector(h, {c.t, c.h}, DType::kF32);
  p.weight = Tensor::from_vector(w, {c.v, c.h}, DType::kF32);
  p.targets.host = tg;
  p.targets.ids = Tensor::from_vector(tg, {c.t}, DType::kI32);
  return p;
}

// float64: the summed loss, d(scale · sum)/d hidden and /d weight.
struct Expected {
  double loss = 0.0;
  std::vector<double> dh, dw;
};

inline Expected float64(const Problem& p, float softcap, double scale) {
  const int64_t t = p.hidden.size(0), h = p.hidden.size(1), v = p.weight.size(0);
  std::vector<float> hs = p.hidden.to_float_vector(), ws = p.weight.to_float_vector();
  Expected e;
  e.dh.assign(t * h, 0.0);
  e.dw.assign(v * h, 0.0);
  std::vector<double> y(v);
  for (int64_t r = 0; r < t; ++r) {
    int32_t target = p.targets.host[r];
    if (target == -100) continue;
    double mx = -INFINITY;
    for (int64_t j = 0; j < v; ++j) {
      double z = 0.0;
      for (int64_t k = 0; k < h; ++k) z += double(hs[r * h + k]) * ws[j * h + k];
      y[j] = softcap > 0 ? softcap * std::tanh(z / softcap) : z;
      mx = std::max(mx, y[j]);
    }
    double s = 0.0;
    for (int64_t j = 0; j < v; ++j) s += std::exp(y[j] - mx);
    double lse = mx + std::log(s);
    e.loss += lse - y[target];
    for (int64_t j = 0; j < v; ++j) {
      double g = std::exp(y[j] - lse) - (j == target ? 1.0 : 0.0);
      if (softcap > 0) g *= 1.0 - (y[j] / softcap) * (y[j] / softcap);
      g *= scale;
      for (int64_t k = 0; k < h; ++k) {
        e.dh[r * h + k] += g * ws[j * h + k];
        e.dw[j * h + k] += g * hs[r * h + k];
      }
    }
  }
  return e;
}

// max |a − b| ≤ rel · max |b| (≤ 1e-6 when b is all zero).
inline void expect_close(const std::vector<float>& a, const std::vector<double>& b, double rel,
                         const std::string& what) {
  ASSERT_EQ(a.size(), b.size()) << what;
  double worst = 0.0, scale = 0.0;
  for (size_t i = 0; i < a.size(); ++i) {
    worst = std::max(worst, std::fabs(a[i] - b[i]));
    scale = std::max(scale, std::fabs(b[i]));
  }
  // A one-word vocabulary has zero gradients (softmax = onehot): then they must be ~0.
  EXPECT_LE(worst, scale > 0.0 ? rel * scale : 1e-6)
      << what << ": max |Δ| " << worst << ", max |ref| " << scale;
}

}  // namespace khub::lce_test
