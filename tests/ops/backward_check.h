// The finite-difference machinery of the reference ops' backward tests (backward_test.cc,
// backward_attention_test.cc): random f32 inputs, float64 copies, and the checks. expect_grad
// compares an op's gradient of L = Σ r ⊙ y with central differences (L(x + ε) - L(x - ε)) / 2ε,
// ε = 1e-4, to a relative 1e-3 of the largest difference; the seed is printed on failure.
#pragma once

#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "core/error.h"
#include "core/tensor.h"

namespace khub::backward_test {

using Vec = std::vector<double>;
using LossFn = std::function<double()>;

inline uint64_t fresh_seed() {
  return static_cast<uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count());
}

inline Tensor randn(Shape shape, std::mt19937_64& rng, float stddev = 1.0f) {
  std::normal_distribution<float> n(0.0f, stddev);
  Tensor t = Tensor::empty(shape, DType::kF32);
  for (int64_t i = 0; i < t.numel(); ++i) t.data_as<float>()[i] = n(rng);
  return t;
}

inline Vec f64(const Tensor& t) {
  Vec v(t.numel());
  for (int64_t i = 0; i < t.numel(); ++i) v[i] = t.item(i);
  return v;
}

inline double dot(const Vec& a, const Vec& b) {
  double s = 0;
  for (size_t i = 0; i < a.size(); ++i) s += a[i] * b[i];
  return s;
}

inline void expect_forward(const Tensor& got, const Vec& want, double tol, uint64_t seed) {
  ASSERT_EQ(got.numel(), static_cast<int64_t>(want.size()));
  for (size_t i = 0; i < want.size(); ++i) {
    ASSERT_NEAR(got.item(i), want[i], tol * (1 + std::fabs(want[i])))
        << "forward index " << i << " seed " << seed;
  }
}

// got (the op's gradient of L with respect to x) against central differences of loss() in x,
// at every index or at the given ones. x is perturbed in place and restored.
inline void expect_grad(const std::string& what, const Vec& got, Vec& x, const LossFn& loss,
                        uint64_t seed, std::vector<int64_t> idx = {}) {
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

inline void expect_grad(const std::string& what, const Tensor& got, Vec& x, const LossFn& loss,
                        uint64_t seed, std::vector<int64_t> idx = {}) {
  expect_grad(what, f64(got), x, loss, seed, std::move(idx));
}

inline Vec minus(const Vec& a, const Vec& b) {
  Vec d(a.size());
  for (size_t i = 0; i < a.size(); ++i) d[i] = a[i] - b[i];
  return d;
}

// acc == init + times * delta: the accumulator semantics of a second call.
inline void expect_accumulated(const Tensor& acc, const Vec& init, const Vec& delta, int times,
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

}  // namespace khub::backward_test
