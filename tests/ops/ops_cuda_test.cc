// Every reference CUDA op, in f32, bf16 and f16, against float64 math written here on fresh random
// inputs (the seed is printed on failure). The allocator poisons every new allocation with NaN,
// so an output element an op fails to write fails the comparison. Label "gpu": skipped without a
// CUDA device.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>

#include "core/cuda.h"
#include "core/host_readback.h"
#include "cuda_test_util.h"
#include "ops/activation.h"
#include "ops/attention.h"
#include "ops/elementwise.h"
#include "ops/indexing.h"
#include "ops/linear.h"
#include "ops/norm.h"
#include "ops/rotary.h"

namespace khub {
namespace {

using testing::as_f64;
using testing::dtype_rtol;
using testing::expect_close;
using testing::randn_host;

const DType kDTypes[] = {DType::kF32, DType::kBF16, DType::kF16};
const Device kGpu = Device::cuda(0);

class CudaOps : public ::testing::Test {
 protected:
  void SetUp() override {
    KHUB_SKIP_WITHOUT_CUDA();
    cuda_set_poison_allocations(true);
    seed_ = testing::fresh_seed();
    rng_.seed(seed_);
  }
  void TearDown() override { cuda_set_poison_allocations(false); }
  std::string tag(DType dt, const std::string& what) const {
    return what + " " + std::string(dtype_name(dt)) + " (seed " + std::to_string(seed_) + ")";
  }

  uint64_t seed_ = 0;
  std::mt19937_64 rng_;
};

TEST_F(CudaOps, LinearMatchesFloat64) {
  struct Case {
    int64_t m, in, out;
    bool bias;
  };
  for (DType dt : kDTypes) {
    for (Case c : {Case{1, 72, 300, true}, Case{37, 256, 200, false}, Case{5, 1024, 3072, true},
                   Case{64, 1000, 33, true}}) {
      Tensor x = randn_host({c.m, c.in}, rng_, dt), w = randn_host({c.out, c.in}, rng_, dt);
      Tensor b = c.bias ? randn_host({c.out}, rng_, dt) : Tensor();
      auto xv = as_f64(x), wv = as_f64(w), bv = c.bias ? as_f64(b) : std::vector<double>();
      std::vector<double> want(c.m * c.out);
      for (int64_t i = 0; i < c.m; ++i) {
        for (int64_t j = 0; j < c.out; ++j) {
          double s = c.bias ? bv[j] : 0.0;
          for (int64_t k = 0; k < c.in; ++k) s += xv[i * c.in + k] * wv[j * c.in + k];
          want[i * c.out + j] = s;
        }
      }
      Tensor y = ops::linear(x.to(kGpu), w.to(kGpu), c.bias ? b.to(kGpu) : Tensor());
      ASSERT_EQ(y.dtype(), dt);
      ASSERT_EQ(y.shape(), (Shape{c.m, c.out}));
      // f32 must be true f32 (no TF32: that would be ~1e-3 off).
      expect_close(y, want, dt == DType::kF32 ? 1e-5 : dtype_rtol(dt),
                   tag(dt, "linear m=" + std::to_string(c.m) + " in=" + std::to_string(c.in)));
    }
  }
}

// y = x · wᵀ + b in float64 on the host.
std::vector<double> linear_f64(const Tensor& x, const Tensor& w, const Tensor& b) {
  int64_t in = w.size(1), out = w.size(0), m = x.numel() / in;
  auto xv = as_f64(x), wv = as_f64(w), bv = b.defined() ? as_f64(b) : std::vector<double>();
  std::vector<double> y(m * out);
  for (int64_t i = 0; i < m; ++i) {
    for (int64_t j = 0; j < out; ++j) {
      double s = b.defined() ? bv[j] : 0.0;
      for (int64_t k = 0; k < in; ++k) s += xv[i * in + k] * wv[j * in + k];
      y[i * out + j] = s;
    }
  }
  return y;
}

// The decode GEMVs (bf16/f16, up to 8 rows, in % 8 == 0): the tensor-core one where in is a
// multiple of 256 up to 4096 (8 or 16 warps, 1 to 8 chunk pairs per warp, rows of x as B's
// columns), the CUDA-core one elsewhere over its pass boundaries (256 features per warp pass, up to
// 4096 held at once); output counts that leave the last block part-empty,
// and split outputs (a fused q/k/v projection), with and without early weight reads; m = 9 and
// in % 8 != 0 take cuBLAS and must give the same parts.
TEST_F(CudaOps, SmallRowLinearAndSplitMatchFloat64) {
  struct Case {
    int64_t m, in, out;
    bool bias;
  };
  for (DType dt : {DType::kBF16, DType::kF16}) {
    for (Case c : {Case{1, 8, 5, true}, Case{2, 256, 64, false}, Case{3, 520, 77, true},
                   Case{4, 1024, 4096, false}, Case{5, 2048, 33, true}, Case{8, 3072, 1030, false},
                   Case{1, 4104, 200, true}, Case{3, 8200, 40, true}, Case{9, 1024, 96, true},
                   Case{2, 1004, 96, true}, Case{1, 1024, 6144, false}, Case{1, 4096, 100, true},
                   Case{7, 512, 50, true}}) {
      Tensor x = randn_host({c.m, c.in}, rng_, dt), w = randn_host({c.out, c.in}, rng_, dt);
      Tensor b = c.bias ? randn_host({c.out}, rng_, dt) : Tensor();
      std::vector<double> want = linear_f64(x, w, b);
      Tensor xg = x.to(kGpu), wg = w.to(kGpu), bg = c.bias ? b.to(kGpu) : Tensor();
      std::string what = "linear m=" + std::to_string(c.m) + " in=" + std::to_string(c.in) +
                         " out=" + std::to_string(c.out);
      for (bool constant : {false, true}) {
        expect_close(ops::linear(xg, wg, bg, constant), want, dtype_rtol(dt), tag(dt, what));
      }
      // Parts of 1/2, 1/4 and the rest of the features.
      int64_t p0 = std::max<int64_t>(1, c.out / 2), p1 = std::max<int64_t>(1, c.out / 4);
      if (p0 + p1 >= c.out) continue;
      std::vector<Tensor> parts = ops::linear_split(xg, wg, bg, {p0, p1, c.out - p0 - p1}, true);
      ASSERT_EQ(parts.size(), 3u);
      int64_t start = 0;
      for (const Tensor& part : parts) {
        int64_t n = part.size(1);
        ASSERT_TRUE(part.is_contiguous());
        std::vector<double> sub;
        for (int64_t i = 0; i < c.m; ++i)
          for (int64_t j = start; j < start + n; ++j) sub.push_back(want[i * c.out + j]);
        expect_close(part, sub, dtype_rtol(dt),
                     tag(dt, what + " part at " + std::to_string(start)));
        start += n;
      }
    }
  }
  Tensor x = randn_host({1, 64}, rng_, DType::kBF16).to(kGpu);
  Tensor w = randn_host({10, 64}, rng_, DType::kBF16).to(kGpu);
  EXPECT_THROW(ops::linear_split(x, w, Tensor(), {4, 4}), Error);  // 8 of 10 features
  EXPECT_THROW(ops::linear_split(x, w, Tensor(), {10, 0}), Error);
}

// Chains of dependent GEMVs and elementwise kernels (programmatic dependents on 9.0+) see each
// other's results: 24 rounds of y = linear(y) + y, each round checked against float64 from the
// previous round's device output; a second chain that frees each round's tensors (so the
// allocator hands their memory to the next kernels) must give the same bits.
TEST_F(CudaOps, DependentSmallKernelsSeeEachOthersResults) {
  const int64_t n = 512;
  const int rounds = 24;
  Tensor wg = randn_host({n, n}, rng_, DType::kBF16, 1.0 / std::sqrt(double(n))).to(kGpu);
  Tensor y0 = randn_host({1, n}, rng_, DType::kBF16).to(kGpu);
  std::vector<Tensor> kept{y0};
  for (int r = 0; r < rounds; ++r) {
    Tensor t = ops::linear(kept.back(), wg, Tensor(), true);
    ops::add_inplace(t, kept.back());
    kept.push_back(t);
  }
  Tensor y = y0;
  for (int r = 0; r < rounds; ++r) {
    Tensor t = ops::linear(y, wg, Tensor(), true);
    ops::add_inplace(t, y);
    y = t;
  }
  std::vector<double> wv = as_f64(wg);
  for (int r = 0; r < rounds; ++r) {
    std::vector<double> prev = as_f64(kept[r]), want(n);
    for (int64_t j = 0; j < n; ++j) {
      double s = 0;
      for (int64_t k = 0; k < n; ++k) s += prev[k] * wv[j * n + k];
      want[j] = s + prev[j];
    }
    // Two bf16 roundings (the product, then the sum).
    expect_close(kept[r + 1], want, 2 * dtype_rtol(DType::kBF16),
                 "round " + std::to_string(r) + " (seed " + std::to_string(seed_) + ")");
  }
  std::vector<double> a = as_f64(kept.back()), b = as_f64(y);
  EXPECT_EQ(a, b) << "freeing intermediates changed the result (seed " << seed_ << ")";
}

TEST_F(CudaOps, LinearRejectsMixedDtypes) {
  Tensor x = randn_host({2, 8}, rng_, DType::kF32).to(kGpu);
  Tensor w = randn_host({4, 8}, rng_, DType::kBF16).to(kGpu);
  EXPECT_THROW(ops::linear(x, w), Error);
}

TEST_F(CudaOps, RmsNormAndGemmaNormMatchFloat64) {
  for (DType dt : kDTypes) {
    for (DType wdt : {dt, DType::kF32}) {
      for (int64_t h : {33, 128, 1024, 3000}) {
        Tensor x = randn_host({3, 5, h}, rng_, dt, 2.0), w = randn_host({h}, rng_, wdt);
        auto xv = as_f64(x), wv = as_f64(w);
        for (bool gemma : {false, true}) {
          std::vector<double> want(xv.size());
          for (int64_t r = 0; r < 15; ++r) {
            double ss = 0;
            for (int64_t i = 0; i < h; ++i) ss += xv[r * h + i] * xv[r * h + i];
            double inv = 1 / std::sqrt(ss / h + 1e-6);
            for (int64_t i = 0; i < h; ++i) {
              want[r * h + i] = xv[r * h + i] * inv * ((gemma ? 1.0 : 0.0) + wv[i]);
            }
          }
          Tensor xd = x.to(kGpu), wd = w.to(kGpu);
          Tensor y = gemma ? ops::gemma_rms_norm(xd, wd, 1e-6f) : ops::rms_norm(xd, wd, 1e-6f);
          ASSERT_EQ(y.dtype(), dt);
          expect_close(y, want, dtype_rtol(dt),
                       tag(dt, std::string(gemma ? "gemma_rms_norm" : "rms_norm") + " h=" +
                                   std::to_string(h) + " w=" + std::string(dtype_name(wdt))));
        }
      }
    }
  }
}

TEST_F(CudaOps, GatedActivationsMatchFloat64) {
  const double k = std::sqrt(2.0 / M_PI);
  for (DType dt : kDTypes) {
    for (auto act : {ops::GatedActivation::kSilu, ops::GatedActivation::kGeluTanh,
                     ops::GatedActivation::kGelu}) {
      int64_t rows = 7, d = 1000;
      Tensor x = randn_host({rows, 2 * d}, rng_, dt, 2.0);
      auto xv = as_f64(x);
      std::vector<double> want(rows * d);
      for (int64_t r = 0; r < rows; ++r) {
        for (int64_t i = 0; i < d; ++i) {
          double a = xv[r * 2 * d + i], u = xv[r * 2 * d + d + i], g;
          if (act == ops::GatedActivation::kSilu) {
            g = a / (1 + std::exp(-a));
          } else if (act == ops::GatedActivation::kGeluTanh) {
            g = 0.5 * a * (1 + std::tanh(k * (a + 0.044715 * a * a * a)));
          } else {
            g = 0.5 * a * (1 + std::erf(a / std::sqrt(2.0)));
          }
          want[r * d + i] = g * u;
        }
      }
      Tensor y = ops::act_and_mul(x.to(kGpu), act);
      ASSERT_EQ(y.shape(), (Shape{rows, d}));
      expect_close(y, want, dtype_rtol(dt), tag(dt, "act_and_mul " + std::to_string(int(act))));
    }
  }
}

TEST_F(CudaOps, RotaryMatchesFloat64) {
  ops::RopeParams rp;
  rp.theta = 10000.0;
  for (DType dt : kDTypes) {
    for (bool interleaved : {false, true}) {
      for (int64_t rot_div : {1, 2}) {  // full and partial rotary
        int64_t t = 9, hq = 4, hk = 2, d = 64, rot = d / rot_div;
        rp.rotary_dim = rot;
        std::vector<int64_t> positions;
        for (int64_t i = 0; i < t; ++i) positions.push_back(100 + 3 * i);
        Tensor cos, sin;
        ops::rope_tables(rp, positions, 200, &cos, &sin);
        Tensor q = randn_host({t, hq, d}, rng_, dt), k = randn_host({t, hk, d}, rng_, dt);
        auto cv = as_f64(cos), sv = as_f64(sin);
        auto rotate = [&](const Tensor& x, int64_t heads) {
          std::vector<double> v = as_f64(x);
          for (int64_t i = 0; i < t; ++i) {
            for (int64_t h = 0; h < heads; ++h) {
              double* r = v.data() + (i * heads + h) * d;
              for (int64_t j = 0; j < rot / 2; ++j) {
                int64_t a = interleaved ? 2 * j : j, b = interleaved ? 2 * j + 1 : j + rot / 2;
                double c = cv[i * rot / 2 + j], s = sv[i * rot / 2 + j], x1 = r[a], x2 = r[b];
                r[a] = x1 * c - x2 * s;
                r[b] = x2 * c + x1 * s;
              }
            }
          }
          return v;
        };
        std::vector<double> want_q = rotate(q, hq), want_k = rotate(k, hk);
        Tensor qd = q.to(kGpu), kd = k.to(kGpu);
        ops::apply_rotary(qd, kd, cos.to(kGpu), sin.to(kGpu), rot, interleaved);
        std::string what = std::string("rotary interleaved=") + (interleaved ? "1" : "0") +
                           " rot=" + std::to_string(rot);
        expect_close(qd, want_q, dtype_rtol(dt), tag(dt, what + " q"));
        expect_close(kd, want_k, dtype_rtol(dt), tag(dt, what + " k"));
      }
    }
  }
}

// float64 attention over host copies: the definition every device must meet.
std::vector<double> attention_f64(const Tensor& q, const Tensor& k, const Tensor& v,
                                  const ops::AttentionParams& p, const std::vector<double>& sinks) {
  int64_t sq = q.size(0), hq = q.size(1), d = q.size(2), skv = k.size(0), hk = k.size(1);
  auto qv = as_f64(q), kv = as_f64(k.contiguous()), vv = as_f64(v.contiguous());
  std::vector<double> out(sq * hq * d, 0.0);
  for (int64_t h = 0; h < hq; ++h) {
    int64_t kh = h / (hq / hk);
    for (int64_t i = 0; i < sq; ++i) {
      int64_t pos = p.q_offset + i;
      int64_t hi = p.causal ? std::min(pos, skv - 1) : skv - 1;
      int64_t lo = p.window > 0 ? std::max<int64_t>(0, pos - p.window + 1) : 0;
      std::vector<double> s;
      double mx = sinks.empty() ? -INFINITY : sinks[h];
      for (int64_t j = lo; j <= hi; ++j) {
        double dot = 0;
        for (int64_t c = 0; c < d; ++c) dot += qv[(i * hq + h) * d + c] * kv[(j * hk + kh) * d + c];
        dot *= p.scale;
        if (p.softcap > 0) dot = p.softcap * std::tanh(dot / p.softcap);
        s.push_back(dot);
        mx = std::max(mx, dot);
      }
      double den = sinks.empty() ? 0.0 : std::exp(sinks[h] - mx);
      for (double& x : s) den += (x = std::exp(x - mx));
      for (int64_t j = lo; j <= hi; ++j) {
        for (int64_t c = 0; c < d; ++c) {
          out[(i * hq + h) * d + c] += s[j - lo] / den * vv[(j * hk + kh) * d + c];
        }
      }
    }
  }
  return out;
}

TEST_F(CudaOps, AttentionMatchesFloat64) {
  struct Case {
    std::string name;
    int64_t sq, skv, hq, hk, d, q_offset, window;
    float softcap;
    bool causal, sinks, strided_kv;
  };
  const Case cases[] = {
      {"prefill gqa", 37, 37, 4, 2, 64, 0, 0, 0.0f, true, false, false},
      {"prefill d24 one kv head", 21, 21, 3, 1, 24, 0, 0, 0.0f, true, false, false},
      {"prefill d128 window softcap sinks", 100, 100, 4, 2, 128, 0, 5, 3.0f, true, true, false},
      {"prefill d256 window", 45, 45, 2, 1, 256, 0, 7, 0.0f, true, false, false},
      {"chunk after cache", 10, 40, 4, 4, 64, 30, 0, 0.0f, true, false, true},
      {"decode strided cache", 1, 41, 8, 2, 128, 40, 0, 0.0f, true, false, true},
      {"decode window sinks", 1, 70, 4, 2, 32, 69, 16, 5.0f, true, true, true},
      {"non-causal", 13, 29, 2, 2, 48, 0, 0, 0.0f, false, false, false},
      // Query blocks of 64 rows or more take the GEMM path.
      {"gemm prefill gqa", 80, 80, 8, 2, 64, 0, 0, 0.0f, true, false, false},
      {"gemm chunk after strided cache", 70, 100, 4, 2, 128, 30, 0, 0.0f, true, false, true},
      {"gemm d256 window", 64, 64, 2, 1, 256, 0, 7, 0.0f, true, false, false},
      {"gemm non-causal window sinks", 66, 90, 4, 1, 40, 10, 9, 4.0f, false, true, true},
      {"gemm two row chunks", 1100, 1100, 2, 1, 32, 0, 0, 0.0f, true, false, false},
      {"gemm chunk window past cache", 64, 300, 2, 2, 64, 236, 20, 0.0f, true, true, false},
  };
  for (DType dt : kDTypes) {
    for (const Case& c : cases) {
      Tensor q = randn_host({c.sq, c.hq, c.d}, rng_, dt);
      // A strided KV view: positions of a buffer with an extra head, as rows of a wider cache.
      int64_t buf_heads = c.strided_kv ? c.hk + 1 : c.hk;
      Tensor kbuf = randn_host({c.skv, buf_heads, c.d}, rng_, dt);
      Tensor vbuf = randn_host({c.skv, buf_heads, c.d}, rng_, dt);
      Tensor k_host = kbuf.slice(1, 0, c.hk), v_host = vbuf.slice(1, 0, c.hk);
      ops::AttentionParams p;
      p.scale = static_cast<float>(1.0 / std::sqrt(static_cast<double>(c.d)));
      p.causal = c.causal;
      p.window = c.window;
      p.softcap = c.softcap;
      p.q_offset = c.q_offset;
      Tensor sinks = c.sinks ? randn_host({c.hq}, rng_, DType::kF32) : Tensor();
      std::vector<double> want =
          attention_f64(q, k_host, v_host, p, c.sinks ? as_f64(sinks) : std::vector<double>());
      Tensor kd = kbuf.to(kGpu).slice(1, 0, c.hk), vd = vbuf.to(kGpu).slice(1, 0, c.hk);
      Tensor o = ops::attention(q.to(kGpu), kd, vd, p, c.sinks ? sinks.to(kGpu) : Tensor());
      ASSERT_EQ(o.shape(), q.shape());
      ASSERT_EQ(o.dtype(), dt);
      expect_close(o, want, dtype_rtol(dt), tag(dt, "attention " + c.name), /*input_scale=*/1.0);
    }
  }
}

TEST_F(CudaOps, EmbeddingGathersAndConverts) {
  for (DType table_dt : kDTypes) {
    for (DType out_dt : kDTypes) {
      Tensor table = randn_host({50, 33}, rng_, table_dt);
      std::vector<int32_t> ids = {0, 49, 7, 7, 23};
      auto tv = as_f64(table);
      std::vector<double> want;
      for (int32_t id : ids)
        want.insert(want.end(), tv.begin() + id * 33, tv.begin() + id * 33 + 33);
      Tensor y = ops::embedding(table.to(kGpu), ids, out_dt);
      ASSERT_EQ(y.dtype(), out_dt);
      expect_close(y, want, dtype_rtol(out_dt) / 4, tag(out_dt, "embedding"));
    }
  }
  Tensor table = randn_host({50, 8}, rng_, DType::kBF16).to(kGpu);
  EXPECT_THROW(ops::embedding(table, {3, 50}, DType::kBF16), Error);
  EXPECT_THROW(ops::embedding(table, {-1}, DType::kBF16), Error);
}

// The step-input ops on the device equal the CPU ops bit for bit (they only move bytes), with the
// 16-byte and the element-wise append paths (head_dim 8 bf16 rows are 16-byte multiples; 3 f32
// are not).
TEST_F(CudaOps, IndexRowsAndKvAppendMatchTheCpu) {
  for (DType dt : kDTypes) {
    Tensor table = randn_host({40, 2, 8}, rng_, dt);
    Tensor idx = Tensor::from_vector(std::vector<int32_t>{39, 0, 5, 5}, {4}, DType::kI32);
    Tensor want = ops::index_rows(table, idx, DType::kF32);
    Tensor got = ops::index_rows(table.to(kGpu), idx.to(kGpu), DType::kF32).to(Device::cpu());
    EXPECT_TRUE(std::memcmp(want.data(), got.data(), want.nbytes()) == 0) << tag(dt, "index_rows");
    for (int64_t d : {8, 3}) {
      const int64_t slots = 3, cap = 6, hk = 2, n = 4;
      Tensor fused = randn_host({n, 2 * hk, d}, rng_, dt);
      Tensor rows = Tensor::from_vector(std::vector<int32_t>{17, 0, 7, 8}, {n}, DType::kI32);
      Tensor kc = Tensor::zeros({slots, cap, hk, d}, dt),
             vc = Tensor::zeros({slots, cap, hk, d}, dt);
      Tensor kcd = kc.to(kGpu), vcd = vc.to(kGpu), fd = fused.to(kGpu);
      ops::kv_append(kc, vc, fused.slice(1, 0, hk), fused.slice(1, hk, 2 * hk), rows);
      ops::kv_append(kcd, vcd, fd.slice(1, 0, hk), fd.slice(1, hk, 2 * hk), rows.to(kGpu));
      Tensor kg = kcd.to(Device::cpu()), vg = vcd.to(Device::cpu());
      EXPECT_TRUE(std::memcmp(kc.data(), kg.data(), kc.nbytes()) == 0) << tag(dt, "kv_append k");
      EXPECT_TRUE(std::memcmp(vc.data(), vg.data(), vc.nbytes()) == 0) << tag(dt, "kv_append v");
    }
  }
}

// Greedy picks on the device equal the host's std::max_element (first maximum), on rows wider
// than a chunk (a vocabulary), with planted ties (within a chunk and across chunks), an all -inf
// row, NaN (skipped on both), and widths that end mid-chunk.
TEST_F(CudaOps, ArgmaxRowsMatchesTheHost) {
  for (int64_t cols : {1, 4095, 4097, 8192}) {
    Tensor x = randn_host({3, cols}, rng_, DType::kF32);
    Tensor want = ops::argmax_rows(x);
    Tensor got = ops::argmax_rows(x.to(kGpu)).to(Device::cpu());
    for (int64_t r = 0; r < 3; ++r)
      EXPECT_EQ(got.data_as<int32_t>()[r], want.data_as<int32_t>()[r])
          << "row " << r << " of " << cols << " seed " << seed_;
  }
  Tensor x = randn_host({5, 151936}, rng_, DType::kF32);
  float* p = x.data_as<float>();
  p[1 * 151936 + 7] = p[1 * 151936 + 150000] = 100.0f;  // tie across threads: index 7 wins
  p[2 * 151936 + 1024] = p[2 * 151936 + 1025] = 50.0f;  // tie within neighbours
  for (int64_t i = 0; i < 151936; ++i) p[3 * 151936 + i] = -INFINITY;
  p[4 * 151936] = p[4 * 151936 + 9000] = NAN;
  p[4 * 151936 + 140000] = 60.0f;
  Tensor want = ops::argmax_rows(x);
  Tensor got = ops::argmax_rows(x.to(kGpu)).to(Device::cpu());
  for (int64_t r = 0; r < 5; ++r)
    EXPECT_EQ(got.data_as<int32_t>()[r], want.data_as<int32_t>()[r])
        << "row " << r << " seed " << seed_;
  EXPECT_EQ(got.data_as<int32_t>()[1], 7);
  EXPECT_EQ(got.data_as<int32_t>()[2], 1024);
  EXPECT_EQ(got.data_as<int32_t>()[3], 0);
  EXPECT_EQ(got.data_as<int32_t>()[4], 140000);
  // bf16/f16 logits (a decode graph's LM head output) pick what their f32 widening picks, into a
  // given tensor when asked.
  for (DType dt : {DType::kBF16, DType::kF16}) {
    Tensor h = x.to(dt);
    Tensor want_h = ops::argmax_rows(h.to(DType::kF32));
    Tensor into = Tensor::empty({5}, DType::kI32, kGpu);
    Tensor got_h = ops::argmax_rows(h.to(kGpu), into);
    EXPECT_EQ(got_h.data(), into.data());
    got_h = got_h.to(Device::cpu());
    for (int64_t r = 0; r < 5; ++r)
      EXPECT_EQ(got_h.data_as<int32_t>()[r], want_h.data_as<int32_t>()[r])
          << tag(dt, "argmax row " + std::to_string(r));
  }
  // The picks mirrored into mapped host memory, in the half the device-side selector's parity
  // names (the other half untouched), visible once the stream has passed the kernel.
  MappedHostBuffer ring(kGpu, 10 * sizeof(int32_t));
  auto* h = static_cast<int32_t*>(ring.host());
  std::fill(h, h + 10, -1);
  Tensor sel = Tensor::from_vector(std::vector<int32_t>{3}, {1}, DType::kI32).to(kGpu);
  ops::argmax_rows(x.to(kGpu), Tensor(), {static_cast<int32_t*>(ring.device_view()), sel});
  cuda_synchronize(kGpu);
  for (int64_t r = 0; r < 5; ++r) {
    EXPECT_EQ(h[r], -1) << "row " << r;
    EXPECT_EQ(h[5 + r], want.data_as<int32_t>()[r]) << "row " << r;
  }
}

TEST_F(CudaOps, AddScaleSoftcapAndCast) {
  for (DType dt : kDTypes) {
    Tensor a = randn_host({17, 301}, rng_, dt, 3.0), b = randn_host({17, 301}, rng_, dt, 3.0);
    auto av = as_f64(a), bv = as_f64(b);
    std::vector<double> sum(av.size()), scaled(av.size()), capped(av.size());
    for (size_t i = 0; i < av.size(); ++i) {
      sum[i] = av[i] + bv[i];
      scaled[i] = av[i] * 0.37;
      capped[i] = 2.5 * std::tanh(av[i] / 2.5);
    }
    Tensor x = a.to(kGpu);
    ops::add_inplace(x, b.to(kGpu));
    expect_close(x, sum, dtype_rtol(dt), tag(dt, "add_inplace"));
    x = a.to(kGpu);
    ops::scale_inplace(x, 0.37f);
    expect_close(x, scaled, dtype_rtol(dt), tag(dt, "scale_inplace"));
    x = a.to(kGpu);
    ops::softcap_inplace(x, 2.5f);
    expect_close(x, capped, dtype_rtol(dt), tag(dt, "softcap_inplace"));
    for (DType to : kDTypes) {
      Tensor y = ops::cast(a.to(kGpu), to);
      ASSERT_EQ(y.dtype(), to);
      // Widening is exact; narrowing rounds once.
      bool exact = to == dt || to == DType::kF32;
      expect_close(y, av, exact ? 1e-12 : dtype_rtol(to) / 4,
                   tag(dt, "cast to " + std::string(dtype_name(to))));
    }
  }
}

}  // namespace
}  // namespace khub
