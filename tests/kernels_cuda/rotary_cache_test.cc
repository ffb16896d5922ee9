// khub-community/flash-attn's `RotaryKVCache` layer (kernels/flash-attn/cuda/rotary_cache.cu),
// loaded and called as khub does, against float64 math written here on fresh random inputs (the
// seed is printed on failure): the q/k norms (LlamaRMSNorm and Gemma rounding), NeoX and GPT-J
// rotation, full and partial rotary, D 64/128/256, bf16/f16, then the cache append. The caches
// start with random contents: the rows the call writes must hold the rotated k (bit for bit the
// k it returns) and v, and every other row, including the one a row index outside the cache
// names, must come back unchanged. Label "gpu": skipped without a CUDA device.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <numeric>

#include "../ops/cuda_test_util.h"
#include "core/error.h"
#include "core/stream.h"
#include "kernels_dir.h"

namespace khub {
namespace {

using testing::as_f64;
using testing::dtype_rtol;
using testing::expect_close;
using testing::randn_host;

const Device kGpu = Device::cuda(0);

struct Case {
  std::string name;
  DType dtype;
  int64_t t, hq, hk, d, rotary_dim;
  bool interleaved;
  enum Norm { kNone, kLlama, kGemma } norm;
};

class RotaryKVCache : public testing::KernelProjectTest {
 protected:
  RotaryKVCache() : KernelProjectTest("flash-attn") {}
  void run(const Case& c);
};

void RotaryKVCache::run(const Case& c) {
  const std::string what =
      c.name + " " + std::string(dtype_name(c.dtype)) + " (seed " + std::to_string(seed_) + ")";
  const int64_t slots = 3, cap = 8, total = slots * cap, half = c.rotary_dim / 2, d = c.d;
  Tensor q = randn_host({c.t, c.hq, d}, rng_, c.dtype),
         k = randn_host({c.t, c.hk, d}, rng_, c.dtype);
  Tensor v = randn_host({c.t, c.hk, d}, rng_, c.dtype);
  Tensor kc = randn_host({slots, cap, c.hk, d}, rng_, c.dtype);
  Tensor vc = randn_host({slots, cap, c.hk, d}, rng_, c.dtype);
  Tensor qw = randn_host({d}, rng_, c.dtype, 0.5), kw = randn_host({d}, rng_, c.dtype, 0.5);
  Tensor cos = Tensor::empty({c.t, half}, DType::kF32),
         sin = Tensor::empty({c.t, half}, DType::kF32);
  std::uniform_real_distribution<double> angle(-8.0, 8.0);
  for (int64_t i = 0; i < c.t * half; ++i) {
    double a = angle(rng_);
    cos.data_as<float>()[i] = static_cast<float>(std::cos(a));
    sin.data_as<float>()[i] = static_cast<float>(std::sin(a));
  }
  // Distinct cache rows; the last token's row is outside the cache when there are several.
  std::vector<int32_t> order(total);
  std::iota(order.begin(), order.end(), 0);
  std::shuffle(order.begin(), order.end(), rng_);
  Tensor rows = Tensor::empty({c.t}, DType::kI32);
  for (int64_t i = 0; i < c.t; ++i) rows.data_as<int32_t>()[i] = order[i];
  if (c.t > 1) rows.data_as<int32_t>()[c.t - 1] = static_cast<int32_t>(total + 3);

  // float64: the norm rounded to the dtype as the contract says, then the rotation.
  auto cv = as_f64(cos), sv = as_f64(sin);
  auto expect_rows = [&](const Tensor& x, const Tensor& w, int64_t heads) {
    std::vector<double> v = as_f64(x), wv = as_f64(w);
    for (int64_t r = 0; r < c.t * heads; ++r) {
      double* row = v.data() + r * d;
      if (c.norm != Case::kNone) {
        double ss = 0;
        for (int64_t i = 0; i < d; ++i) ss += row[i] * row[i];
        double rstd = 1.0 / std::sqrt(ss / d + 1e-6);
        std::vector<double> y(row, row + d);
        for (int64_t i = 0; i < d; ++i) y[i] *= rstd;
        if (c.norm == Case::kLlama) {
          y = testing::rounded_to(y, c.dtype);
          for (int64_t i = 0; i < d; ++i) y[i] *= wv[i];
        } else {
          for (int64_t i = 0; i < d; ++i) y[i] *= 1.0 + wv[i];
        }
        y = testing::rounded_to(y, c.dtype);
        std::copy(y.begin(), y.end(), row);
      }
      const int64_t tok = r / heads;
      for (int64_t j = 0; j < half; ++j) {
        int64_t a = c.interleaved ? 2 * j : j, b = c.interleaved ? 2 * j + 1 : j + half;
        double co = cv[tok * half + j], si = sv[tok * half + j], x1 = row[a], x2 = row[b];
        row[a] = x1 * co - x2 * si;
        row[b] = x2 * co + x1 * si;
      }
    }
    return v;
  };
  const auto want_q = expect_rows(q, qw, c.hq), want_k = expect_rows(k, kw, c.hk);

  Tensor qd = q.to(kGpu), kd = k.to(kGpu), kcd = kc.to(kGpu), vcd = vc.to(kGpu);
  loader::KernelArgs args{{{"q", qd},
                           {"k", kd},
                           {"v", v.to(kGpu)},
                           {"cos", cos.to(kGpu)},
                           {"sin", sin.to(kGpu)},
                           {"rows", rows.to(kGpu)},
                           {"k_cache", kcd},
                           {"v_cache", vcd}},
                          {{"rotary_dim", c.rotary_dim},
                           {"interleaved", c.interleaved},
                           {"eps", 1e-6},
                           {"gemma_norm", c.norm == Case::kGemma}}};
  if (c.norm != Case::kNone) {
    args.tensors.push_back({"q_weight", qw.to(kGpu)});
    args.tensors.push_back({"k_weight", kw.to(kGpu)});
  }
  kernel_->layer("RotaryKVCache").forward(args, on_stream());
  expect_close(qd, want_q, dtype_rtol(c.dtype), what + " q");
  expect_close(kd, want_k, dtype_rtol(c.dtype), what + " k");

  // The cache: written rows hold k (as returned) and v bit for bit; the rest is as it was.
  const auto got_k = as_f64(kd), vals = as_f64(v), kc0 = as_f64(kc), vc0 = as_f64(vc);
  const auto kc1 = as_f64(kcd), vc1 = as_f64(vcd);
  const int64_t row_elems = c.hk * d;
  std::vector<int64_t> owner(total, -1);
  for (int64_t i = 0; i < c.t; ++i) {
    int32_t r = rows.data_as<int32_t>()[i];
    if (r >= 0 && r < total) owner[r] = i;
  }
  size_t wrong = 0;
  for (int64_t r = 0; r < total; ++r)
    for (int64_t e = 0; e < row_elems; ++e) {
      const int64_t at = r * row_elems + e, tok = owner[r];
      const double want_kc = tok < 0 ? kc0[at] : got_k[tok * row_elems + e];
      const double want_vc = tok < 0 ? vc0[at] : vals[tok * row_elems + e];
      wrong += kc1[at] != want_kc || vc1[at] != want_vc;
    }
  EXPECT_EQ(wrong, 0u) << what << ": cache elements not as expected";
}

TEST_F(RotaryKVCache, MatchesFloat64) {
  for (DType dt : {DType::kBF16, DType::kF16}) {
    // Qwen3-0.6B decode (b1 and b5), Llama-style (no norms, GPT-J layout), Gemma norms with
    // partial rotary, D 64 and 256.
    run({"qwen3 b1", dt, 1, 16, 8, 128, 128, false, Case::kLlama});
    run({"qwen3 b5", dt, 5, 16, 8, 128, 128, false, Case::kLlama});
    run({"no norm gptj", dt, 6, 8, 2, 64, 64, true, Case::kNone});
    run({"no norm partial", dt, 4, 4, 4, 128, 64, false, Case::kNone});
    run({"gemma partial", dt, 3, 8, 4, 256, 128, false, Case::kGemma});
    run({"gemma gptj partial", dt, 7, 4, 1, 64, 32, true, Case::kGemma});
  }
}

TEST_F(RotaryKVCache, BadInputsAreClearErrors) {
  auto call = [&](int64_t d, int64_t cos_w, bool one_weight) {
    Tensor q = randn_host({2, 4, d}, rng_, DType::kBF16).to(kGpu);
    Tensor k = randn_host({2, 2, d}, rng_, DType::kBF16).to(kGpu);
    Tensor kc = randn_host({1, 8, 2, d}, rng_, DType::kBF16).to(kGpu);
    Tensor vc = randn_host({1, 8, 2, d}, rng_, DType::kBF16).to(kGpu);
    Tensor cs = Tensor::zeros({2, cos_w}, DType::kF32).to(kGpu);
    Tensor rows = Tensor::zeros({2}, DType::kI32).to(kGpu);
    loader::KernelArgs args{{{"q", q},
                             {"k", k},
                             {"v", k},
                             {"cos", cs},
                             {"sin", cs},
                             {"rows", rows},
                             {"k_cache", kc},
                             {"v_cache", vc}},
                            {}};
    if (one_weight)
      args.tensors.push_back({"q_weight", randn_host({d}, rng_, DType::kBF16).to(kGpu)});
    try {
      kernel_->layer("RotaryKVCache").forward(args, on_stream());
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string();
  };
  EXPECT_EQ(call(64, 32, false), "");
  EXPECT_NE(call(96, 48, false).find("head_dim 96, expected 64, 128 or 256"), std::string::npos);
  EXPECT_NE(call(64, 33, false).find("rotary_dim is 66"), std::string::npos);
  EXPECT_NE(call(64, 32, true).find("q_weight and k_weight must be given together"),
            std::string::npos);
}

}  // namespace
}  // namespace khub
