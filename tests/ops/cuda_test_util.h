// Helpers for the GPU op tests: fresh random inputs rounded to the tested dtype on the host, a
// float64 view of them for the reference, and a comparison with per-dtype tolerances that also
// rejects NaN (outputs are poisoned with NaN by the allocator, so unwritten elements fail).
#pragma once

#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "core/cuda.h"
#include "core/tensor.h"

namespace khub::testing {

inline uint64_t fresh_seed() {
  return static_cast<uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count());
}

// N(0, scale²) values rounded to dtype, on the host.
inline Tensor randn_host(const Shape& shape, std::mt19937_64& rng, DType dtype,
                         double scale = 1.0) {
  std::normal_distribution<float> n(0.0f, static_cast<float>(scale));
  Tensor t = Tensor::empty(shape, DType::kF32);
  for (int64_t i = 0; i < t.numel(); ++i) t.data_as<float>()[i] = n(rng);
  return t.to(dtype);
}

inline std::vector<double> as_f64(const Tensor& t) {
  Tensor h = t.device().is_cpu() ? t : t.to(Device::cpu());
  std::vector<double> v(h.numel());
  for (int64_t i = 0; i < h.numel(); ++i) v[i] = h.item(i);
  return v;
}

// Each value rounded to dtype (through f32, as the kernels round), as float64.
inline std::vector<double> rounded_to(const std::vector<double>& v, DType dtype) {
  Tensor t = Tensor::empty({static_cast<int64_t>(v.size())}, DType::kF32);
  for (size_t i = 0; i < v.size(); ++i) t.data_as<float>()[i] = static_cast<float>(v[i]);
  return as_f64(t.to(dtype));
}

// Relative tolerance for one rounding of an f32-computed result into dtype, with headroom.
inline double dtype_rtol(DType dtype) {
  switch (dtype) {
    case DType::kBF16:
      return 1.6e-2;  // 2 ulp of an 8-bit mantissa
    case DType::kF16:
      return 2e-3;  // 2 ulp of an 11-bit mantissa
    default:
      return 2e-5;  // f32 arithmetic over reductions of a few thousand terms
  }
}

// Every element finite and |got - want| <= rtol·(|want| + scale), scale = max(rms(want),
// input_scale); the L2 error relative to max(‖want‖, input_scale·√n) must stay under rtol / 2.
// input_scale is for results that cancel: attention outputs are averages of values of rms 1 and
// can be much smaller, while rounding the probabilities costs rtol relative to the values.
inline void expect_close(const Tensor& got_t, const std::vector<double>& want, double rtol,
                         const std::string& what, double input_scale = 0.0) {
  std::vector<double> got = as_f64(got_t);
  ASSERT_EQ(got.size(), want.size()) << what;
  double ss = 0, num = 0;
  for (double w : want) ss += w * w;
  double rms = want.empty() ? 0 : std::sqrt(ss / want.size());
  rms = std::max(rms, input_scale);
  ss = std::max(ss, input_scale * input_scale * want.size());
  size_t bad = 0, first_bad = 0;
  for (size_t i = 0; i < want.size(); ++i) {
    double e = std::fabs(got[i] - want[i]);
    num += (got[i] - want[i]) * (got[i] - want[i]);
    if (!std::isfinite(got[i]) || e > rtol * (std::fabs(want[i]) + rms)) {
      if (bad++ == 0) first_bad = i;
    }
  }
  double rel_l2 = ss > 0 ? std::sqrt(num / ss) : std::sqrt(num);
  EXPECT_EQ(bad, 0u) << what << ": " << bad << " of " << want.size() << " elements off; first at "
                     << first_bad << ": got " << got[first_bad] << ", want " << want[first_bad]
                     << " (rtol " << rtol << ", rms " << rms << ")";
  EXPECT_LE(rel_l2, rtol / 2) << what << ": relative L2 error";
}

}  // namespace khub::testing

#define KHUB_SKIP_WITHOUT_CUDA()                                                                \
  do {                                                                                          \
    if (!::khub::cuda_available()) GTEST_SKIP() << "no CUDA device: " << ::khub::cuda_status(); \
  } while (0)
