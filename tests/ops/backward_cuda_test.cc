// The CUDA backward of every reference op (ops/backward.h, backward_cuda.cu,
// backward_attention_cuda.cu) against the CPU backward, which backward_test.cc checks against
// float64 finite differences: f32 within 1e-4 of each output's largest magnitude (f32 arithmetic
// in another order), bf16 inputs within 3e-2 (8 mantissa bits). Odd shapes throughout (sizes not
// multiples of 32, one KV head, GQA, windows, soft-capping, sinks, varlen rows with cached
// prefixes). Label "gpu"; skipped without a device. Device memory is poisoned with NaN, so a
// read of memory nothing wrote shows.
#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <random>

#include "core/cuda.h"
#include "ops/backward.h"
#include "ops/elementwise.h"
#include "ops/optim.h"

namespace khub {
namespace {

using ops::GatedActivation;
const Device kCuda = Device::parse("cuda");

class CudaBackward : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!cuda_available()) GTEST_SKIP() << "no CUDA device: " << cuda_status();
    cuda_set_poison_allocations(true);
    seed_ = static_cast<uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count());
    rng_.seed(seed_);
  }
  void TearDown() override { cuda_set_poison_allocations(false); }

  Tensor randn(Shape shape, float stddev = 1.0f) {
    std::normal_distribution<float> n(0.0f, stddev);
    Tensor t = Tensor::empty(shape, DType::kF32);
    for (int64_t i = 0; i < t.numel(); ++i) t.data_as<float>()[i] = n(rng_);
    return t;
  }
  Tensor zeros(Shape shape) { return Tensor::zeros(shape, DType::kF32); }
  static Tensor gpu(const Tensor& t, DType dtype = DType::kF32) {
    return t.to(dtype).to(kCuda);  // converted on the host, then copied
  }
  // got (any device and dtype) against the CPU f32 want: max |Δ| <= tol · max |want|.
  void expect_close(const Tensor& got, const Tensor& want, double tol, const std::string& what) {
    std::vector<float> g = got.to_float_vector(), w = want.to_float_vector();
    ASSERT_EQ(g.size(), w.size()) << what;
    double peak = 0, err = 0;
    for (size_t i = 0; i < w.size(); ++i) {
      ASSERT_TRUE(std::isfinite(g[i])) << what << "[" << i << "] = " << g[i] << " seed " << seed_;
      peak = std::max(peak, std::fabs(double{w[i]}));
      err = std::max(err, std::fabs(double{g[i]} - w[i]));
    }
    EXPECT_LE(err, tol * peak + 1e-12)
        << what << ": max error " << err << " of " << peak << " seed " << seed_;
  }

  uint64_t seed_ = 0;
  std::mt19937_64 rng_;
};

constexpr double kF32 = 1e-4, kBF16 = 3e-2;

TEST_F(CudaBackward, RmsNormBothOffsetsAndDtypes) {
  for (float offset : {0.0f, 1.0f}) {
    for (int64_t h : {37, 200, 1000}) {
      Tensor x = randn({3, 5, h}), w = randn({h}, 0.5f), dy = randn({3, 5, h});
      Tensor dw = zeros({h});
      Tensor dx = ops::rms_norm_backward(x, w, 1e-6f, offset, dy, &dw);
      for (DType dt : {DType::kF32, DType::kBF16}) {
        Tensor gdw = gpu(zeros({h}));
        Tensor gdx =
            ops::rms_norm_backward(gpu(x, dt), gpu(w, dt), 1e-6f, offset, gpu(dy, dt), &gdw);
        double tol = dt == DType::kF32 ? kF32 : kBF16;
        std::string what = "rms_norm h=" + std::to_string(h) + " offset " + std::to_string(offset);
        expect_close(gdx, dx, tol, what + " dx");
        expect_close(gdw, dw, tol, what + " dweight");
      }
    }
  }
}

TEST_F(CudaBackward, GatedActivationsAllThree) {
  for (GatedActivation act :
       {GatedActivation::kSilu, GatedActivation::kGeluTanh, GatedActivation::kGelu}) {
    Tensor x = randn({7, 2 * 53}, 2.0f), dy = randn({7, 53});
    Tensor dx = ops::act_and_mul_backward(x, dy, act);
    expect_close(ops::act_and_mul_backward(gpu(x), gpu(dy), act), dx, kF32, "act f32");
    expect_close(ops::act_and_mul_backward(gpu(x, DType::kBF16), gpu(dy, DType::kBF16), act), dx,
                 kBF16, "act bf16");
  }
}

TEST_F(CudaBackward, RotaryPartialBothLayouts) {
  for (bool interleaved : {false, true}) {
    const int64_t t = 9, hq = 3, hk = 1, d = 24, rot = 16;
    Tensor dq = randn({t, hq, d}), dk = randn({t, hk, d});
    Tensor cos = randn({t, rot / 2}), sin = randn({t, rot / 2});
    Tensor gq = gpu(dq), gk = gpu(dk);
    ops::apply_rotary_backward(dq, dk, cos, sin, rot, interleaved);
    ops::apply_rotary_backward(gq, gk, gpu(cos), gpu(sin), rot, interleaved);
    expect_close(gq, dq, kF32, "rotary dq");
    expect_close(gk, dk, kF32, "rotary dk");
  }
}

TEST_F(CudaBackward, SoftcapInPlace) {
  Tensor y = randn({5, 77}), dy = randn({5, 77});
  ops::softcap_inplace(y, 3.0f);
  Tensor g = gpu(dy);
  ops::softcap_backward_inplace(dy, y, 3.0f);
  ops::softcap_backward_inplace(g, gpu(y), 3.0f);
  expect_close(g, dy, kF32, "softcap");
}

TEST_F(CudaBackward, LinearWithAndWithoutBias) {
  const int64_t m = 19, in = 45, out = 67;
  Tensor x = randn({m, in}), w = randn({out, in}, 0.3f), dy = randn({m, out});
  Tensor dw = randn({out, in}), db = randn({out});  // accumulated into, not overwritten
  Tensor gdw = gpu(dw), gdb = gpu(db);
  Tensor dx = ops::linear_backward(x, w, dy, &dw, &db);
  Tensor gdx = ops::linear_backward(gpu(x), gpu(w), gpu(dy), &gdw, &gdb);
  expect_close(gdx, dx, kF32, "linear dx");
  expect_close(gdw, dw, kF32, "linear dw");
  expect_close(gdb, db, kF32, "linear db");
  Tensor bdw = gpu(zeros({out, in}));
  Tensor dw0 = zeros({out, in});
  ops::linear_backward(x, w, dy, &dw0, nullptr, false);
  Tensor none = ops::linear_backward(gpu(x, DType::kBF16), gpu(w, DType::kBF16),
                                     gpu(dy, DType::kBF16), &bdw, nullptr, false);
  EXPECT_FALSE(none.defined());
  expect_close(bdw, dw0, kBF16, "linear dw bf16");
}

TEST_F(CudaBackward, EmbeddingRepeatedIds) {
  std::vector<int32_t> ids = {3, 0, 3, 10, 3, 7};
  Tensor dy = randn({6, 29});
  Tensor table = zeros({11, 29}), gtable = gpu(table);
  ops::embedding_backward(dy, ids, 1.7f, table);
  ops::embedding_backward(gpu(dy), ids, 1.7f, gtable);
  expect_close(gtable, table, kF32, "embedding");
}

TEST_F(CudaBackward, CrossEntropyIgnoredLabelsAndInPlace) {
  const int64_t v = 1001;
  Tensor logits = randn({5, v}, 3.0f);
  std::vector<int32_t> labels = {4, -100, 1000, 0, 517};
  Tensor d;
  double want = ops::cross_entropy(logits, labels, 0.25f, &d);
  Tensor g;
  double got = ops::cross_entropy(gpu(logits), labels, 0.25f, &g);
  EXPECT_NEAR(got, want, 1e-5 * std::fabs(want));
  expect_close(g, d, kF32, "cross-entropy dlogits");
  Tensor inplace = gpu(logits);
  EXPECT_NEAR(ops::cross_entropy(inplace, labels, 0.25f, &inplace), want, 1e-5 * std::fabs(want));
  expect_close(inplace, d, kF32, "cross-entropy in place");
  EXPECT_NEAR(ops::cross_entropy(gpu(logits), labels, 0.0f, nullptr), want, 1e-5 * std::fabs(want));
}

struct AttnCase {
  int64_t sq, skv, hq, hk, d;
  ops::AttentionParams p;
  bool sinks;
};

TEST_F(CudaBackward, AttentionMasksGqaSoftcapSinks) {
  std::vector<AttnCase> cases;
  auto params = [](float scale, int64_t window, float softcap, int64_t offset) {
    ops::AttentionParams p;
    p.scale = scale;
    p.window = window;
    p.softcap = softcap;
    p.q_offset = offset;
    return p;
  };
  cases.push_back({13, 13, 4, 1, 24, params(0.2f, 0, 0.0f, 0), false});   // MQA
  cases.push_back({11, 17, 6, 2, 40, params(0.15f, 5, 0.0f, 6), false});  // GQA, window, prefix
  cases.push_back({9, 9, 2, 2, 64, params(0.125f, 0, 4.0f, 0), false});   // soft-capping
  cases.push_back({10, 10, 4, 2, 32, params(0.18f, 3, 0.0f, 0), true});   // sinks + window
  cases.push_back({300, 300, 2, 1, 128, params(0.09f, 0, 0.0f, 0), true});
  for (const AttnCase& c : cases) {
    std::string what = "attention sq=" + std::to_string(c.sq) + " hq=" + std::to_string(c.hq) +
                       " d=" + std::to_string(c.d);
    Tensor q = randn({c.sq, c.hq, c.d}), k = randn({c.skv, c.hk, c.d}),
           v = randn({c.skv, c.hk, c.d}), dout = randn({c.sq, c.hq, c.d});
    Tensor sinks = c.sinks ? randn({c.hq}) : Tensor();
    Tensor dq, dk, dv, ds;
    ops::attention_backward(q, k, v, dout, c.p, &dq, &dk, &dv, sinks, c.sinks ? &ds : nullptr);
    Tensor gdq, gdk, gdv, gds;
    ops::attention_backward(gpu(q), gpu(k), gpu(v), gpu(dout), c.p, &gdq, &gdk, &gdv,
                            c.sinks ? gpu(sinks) : Tensor(), c.sinks ? &gds : nullptr);
    expect_close(gdq, dq, kF32, what + " dq");
    expect_close(gdk, dk, kF32, what + " dk");
    expect_close(gdv, dv, kF32, what + " dv");
    if (c.sinks) expect_close(gds, ds, kF32, what + " dsinks");
    Tensor bdq, bdk, bdv, bds;
    ops::attention_backward(gpu(q, DType::kBF16), gpu(k, DType::kBF16), gpu(v, DType::kBF16),
                            gpu(dout, DType::kBF16), c.p, &bdq, &bdk, &bdv,
                            c.sinks ? gpu(sinks) : Tensor(), c.sinks ? &bds : nullptr);
    expect_close(bdq, dq, kBF16, what + " dq bf16");
    expect_close(bdv, dv, kBF16, what + " dv bf16");
  }
}

TEST_F(CudaBackward, AttentionVarlenCachedPrefixesAndSlots) {
  const int64_t hq = 4, hk = 2, d = 16, slots = 3, cap = 12;
  // Rows: slot 2 with 5 new queries over 9 keys, slot 0 with 3 over 3; slot 1 unused.
  std::vector<ops::AttentionSeq> seqs = {{2, 0, 5, 9}, {0, 5, 3, 3}};
  const int64_t t = 8;
  Tensor q = randn({t, hq, d}), dout = randn({t, hq, d});
  Tensor kc = randn({slots, cap, hk, d}), vc = randn({slots, cap, hk, d});
  ops::AttentionParams p;
  p.scale = 0.25f;
  p.window = 6;
  Tensor dq, dk, dv;
  ops::attention_varlen_backward(q, kc, vc, dout, seqs, p, &dq, &dk, &dv);
  Tensor gdq, gdk, gdv;
  ops::attention_varlen_backward(gpu(q), gpu(kc), gpu(vc), gpu(dout), seqs, p, &gdq, &gdk, &gdv);
  expect_close(gdq, dq, kF32, "varlen dq");
  expect_close(gdk, dk, kF32, "varlen dk_cache");
  expect_close(gdv, dv, kF32, "varlen dv_cache");
}

// The fused multi-tensor steps follow the CPU loop's per-element rule (ops/optim.h) exactly; the
// on-device norm and clipping match the CPU's double sum.
TEST_F(CudaBackward, FusedOptimizerStepsAndGlobalNorm) {
  std::vector<Tensor> p, g, m, v, gp, gg, gm, gv;
  for (int64_t n : {1, 70000, 131073, 5}) {  // chunk boundaries of the kernel (65536)
    p.push_back(randn({n}));
    g.push_back(randn({n}));
    m.push_back(randn({n}, 0.1f));
    v.push_back(randn({n}, 0.1f));
    for (int64_t i = 0; i < n; ++i)
      v.back().data_as<float>()[i] = std::fabs(v.back().data_as<float>()[i]);
    gp.push_back(gpu(p.back()));
    gg.push_back(gpu(g.back()));
    gm.push_back(gpu(m.back()));
    gv.push_back(gpu(v.back()));
  }
  ops::AdamWScalars s{0.999f, true, 0.1f, true, 0.95f, 0.05f, 0.3f, 1e-8f, -0.002f};
  ops::adamw_step_multi(gp, gg, gm, gv, s);
  for (size_t i = 0; i < p.size(); ++i) {
    float* pp = p[i].data_as<float>();
    for (int64_t j = 0; j < p[i].numel(); ++j) {
      ops::adamw_update(pp[j], g[i].data_as<float>()[j], m[i].data_as<float>()[j],
                        v[i].data_as<float>()[j], s);
    }
    expect_close(gp[i], p[i], 1e-6, "adamw param");
    expect_close(gm[i], m[i], 1e-6, "adamw exp_avg");
    expect_close(gv[i], v[i], 1e-6, "adamw exp_avg_sq");
  }
  double want = 0;
  for (const Tensor& t : g)
    for (float x : t.to_float_vector()) want += double{x} * x;
  want = std::sqrt(want);
  EXPECT_NEAR(ops::global_norm_and_clip(gg, 0.0), want, 1e-9 * want);
  EXPECT_NEAR(ops::global_norm_and_clip(gg, 2.0), want, 1e-9 * want);  // returns the norm before
  EXPECT_NEAR(ops::global_norm_and_clip(gg, 1e9), 2.0, 1e-5);          // clipped to 2 (+1e-6)
}

}  // namespace
}  // namespace khub
