// The CUDA variants of the khub-community kernels (kernels/*/cuda), loaded through the loader as
// khub loads them (hub::get_local_kernel on the built projects, the khub1-cu130 variant selected
// for the device) and called through the ABI on khub's current stream. Each function, in f32, bf16
// and f16, against float64 math written here, on fresh random inputs (the seed is printed on
// failure), with sizes that take every code path (warp per row, block per row, 16-byte and
// 1-element accesses). Outputs are NaN-poisoned by the allocator, so an unwritten element fails.
// Label "gpu": skipped without a CUDA device.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>

#include "../ops/cuda_test_util.h"
#include "core/error.h"
#include "core/stream.h"
#include "hub/get_kernel.h"

namespace khub {
namespace {

namespace fs = std::filesystem;
using testing::as_f64;
using testing::dtype_rtol;
using testing::expect_close;
using testing::randn_host;

const DType kDTypes[] = {DType::kF32, DType::kBF16, DType::kF16};
const Device kGpu = Device::cuda(0);

fs::path kernels_dir() {
  if (const char* e = std::getenv("KHUB_TEST_KERNELS_DIR")) return e;
  return KHUB_TEST_KERNELS;
}

class CudaKernels : public ::testing::Test {
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
  std::shared_ptr<const loader::Kernel> load(const std::string& name) {
    hub::KernelOptions options;
    options.device = kGpu;
    auto k = hub::get_local_kernel(kernels_dir() / name, options);
    EXPECT_EQ(k->manifest().backend, "cuda") << k->identity().label();
    EXPECT_NE(k->identity().variant.find("cu130"), std::string::npos) << k->identity().label();
    return k;
  }
  static loader::ExecOptions on_stream() { return {.stream = current_stream(kGpu)}; }

  uint64_t seed_ = 0;
  std::mt19937_64 rng_;
};

double round_like(double v, DType dt) {
  Tensor t = Tensor::empty({1}, DType::kF32);
  t.data_as<float>()[0] = static_cast<float>(v);
  return t.to(dt).item(0);
}

TEST_F(CudaKernels, RmsNormFamilyMatchesFloat64) {
  auto k = load("rmsnorm");
  const int64_t rows = 37;
  for (DType dt : kDTypes) {
    // 33: 1-element accesses; 128/1024: one warp per row; 3000/8192: one block per row.
    for (int64_t h : {33, 128, 1024, 3000, 8192}) {
      Tensor x = randn_host({rows, h}, rng_, dt, 2.0), w = randn_host({h}, rng_, dt);
      Tensor res = randn_host({rows, h}, rng_, dt, 2.0);
      auto xv = as_f64(x), wv = as_f64(w), rv = as_f64(res);
      for (const char* layer : {"RMSNorm", "GemmaRMSNorm", "FusedAddRMSNorm"}) {
        bool fused = std::string(layer) == "FusedAddRMSNorm";
        bool gemma = std::string(layer) == "GemmaRMSNorm";
        std::vector<double> in(xv.size()), want(xv.size());
        for (size_t i = 0; i < xv.size(); ++i)
          in[i] = fused ? round_like(xv[i] + rv[i], dt) : xv[i];
        for (int64_t r = 0; r < rows; ++r) {
          double ss = 0;
          for (int64_t i = 0; i < h; ++i) ss += in[r * h + i] * in[r * h + i];
          double inv = 1 / std::sqrt(ss / h + 1e-6);
          for (int64_t i = 0; i < h; ++i)
            want[r * h + i] = in[r * h + i] * inv * ((gemma ? 1.0 : 0.0) + wv[i]);
        }
        Tensor xd = x.to(kGpu), wd = w.to(kGpu), rd = res.to(kGpu);
        Tensor out = Tensor::empty(x.shape(), dt, kGpu);
        loader::KernelArgs args{{{"x", xd}, {"weight", wd}, {"out", out}}, {{"eps", 1e-6}}};
        if (fused) args.tensors.push_back({"residual", rd});
        k->layer(layer).forward(args, on_stream());
        std::string what = tag(dt, std::string(layer) + " h=" + std::to_string(h));
        expect_close(out, want, dtype_rtol(dt), what);
        if (fused) {
          auto got = as_f64(rd);
          size_t bad = 0;
          for (size_t i = 0; i < in.size(); ++i) bad += got[i] != in[i];
          EXPECT_EQ(bad, 0u) << what << ": residual is not round(x + residual)";
        }
      }
    }
  }
}

double act_ref(const std::string& layer, double v) {
  if (layer == "SiluAndMul") return v / (1 + std::exp(-v));
  if (layer == "GeluTanhAndMul")
    return 0.5 * v * (1 + std::tanh(std::sqrt(2 / M_PI) * (v + 0.044715 * v * v * v)));
  return 0.5 * v * (1 + std::erf(v / std::sqrt(2.0)));
}

TEST_F(CudaKernels, GatedActivationsMatchFloat64) {
  auto k = load("activation");
  for (DType dt : kDTypes) {
    for (int64_t d : {13, 64, 1000, 3072}) {  // 13: 1-element accesses
      Tensor x = randn_host({5, 7, 2 * d}, rng_, dt, 2.0);
      auto xv = as_f64(x);
      for (const char* layer : {"SiluAndMul", "GeluTanhAndMul", "GeluAndMul"}) {
        std::vector<double> want(35 * d);
        for (int64_t r = 0; r < 35; ++r)
          for (int64_t i = 0; i < d; ++i)
            want[r * d + i] = act_ref(layer, xv[r * 2 * d + i]) * xv[r * 2 * d + d + i];
        Tensor out = Tensor::empty({5, 7, d}, dt, kGpu);
        k->layer(layer).forward({{{"x", x.to(kGpu)}, {"out", out}}, {}}, on_stream());
        expect_close(out, want, dtype_rtol(dt),
                     tag(dt, std::string(layer) + " d=" + std::to_string(d)), 1.0);
      }
    }
  }
}

TEST_F(CudaKernels, RotaryMatchesFloat64) {
  auto k = load("rotary");
  struct Case {
    int64_t head_dim, rotary_dim;
  };
  const int64_t t = 9, hq = 4, hk = 2;
  std::uniform_real_distribution<double> angle(-8.0, 8.0);
  for (DType dt : kDTypes) {
    // full rotary, partial rotary (16-byte and 1-element paths), an odd head_dim
    for (Case c : {Case{64, 64}, Case{128, 64}, Case{64, 24}, Case{40, 20}, Case{33, 12}}) {
      for (bool interleaved : {false, true}) {
        const int64_t half = c.rotary_dim / 2;
        Tensor q = randn_host({t, hq, c.head_dim}, rng_, dt),
               kk = randn_host({t, hk, c.head_dim}, rng_, dt);
        Tensor cos = Tensor::empty({t, half}, DType::kF32),
               sin = Tensor::empty({t, half}, DType::kF32);
        for (int64_t i = 0; i < t * half; ++i) {
          double a = angle(rng_);
          cos.data_as<float>()[i] = static_cast<float>(std::cos(a));
          sin.data_as<float>()[i] = static_cast<float>(std::sin(a));
        }
        auto cv = as_f64(cos), sv = as_f64(sin);
        auto rotate = [&](const Tensor& x, int64_t heads) {
          std::vector<double> v = as_f64(x);
          for (int64_t tok = 0; tok < t; ++tok)
            for (int64_t h = 0; h < heads; ++h) {
              double* row = v.data() + (tok * heads + h) * c.head_dim;
              for (int64_t j = 0; j < half; ++j) {
                int64_t a = interleaved ? 2 * j : j, b = interleaved ? 2 * j + 1 : j + half;
                double co = cv[tok * half + j], si = sv[tok * half + j];
                double x1 = row[a], x2 = row[b];
                row[a] = x1 * co - x2 * si;
                row[b] = x2 * co + x1 * si;
              }
            }
          return v;
        };
        auto want_q = rotate(q, hq), want_k = rotate(kk, hk);
        Tensor qd = q.to(kGpu), kd = kk.to(kGpu);
        k->layer("rotary_pos_emb")
            .forward({{{"q", qd}, {"k", kd}, {"cos", cos.to(kGpu)}, {"sin", sin.to(kGpu)}},
                      {{"rotary_dim", c.rotary_dim}, {"interleaved", interleaved}}},
                     on_stream());
        std::string what =
            tag(dt, "rotary D=" + std::to_string(c.head_dim) +
                        " R=" + std::to_string(c.rotary_dim) + (interleaved ? " gptj" : " neox"));
        expect_close(qd, want_q, dtype_rtol(dt), what + " q", 1.0);
        expect_close(kd, want_k, dtype_rtol(dt), what + " k", 1.0);
        // Features past rotary_dim are untouched, bit for bit.
        auto got = as_f64(qd), orig = as_f64(q);
        size_t changed = 0;
        for (int64_t r = 0; r < t * hq; ++r)
          for (int64_t i = c.rotary_dim; i < c.head_dim; ++i)
            changed += got[r * c.head_dim + i] != orig[r * c.head_dim + i];
        EXPECT_EQ(changed, 0u) << what;
      }
    }
  }
}

TEST_F(CudaKernels, BadInputsAreErrorsNotCrashes) {
  auto k = load("rotary");
  Tensor q = randn_host({3, 2, 8}, rng_, DType::kBF16).to(kGpu);
  Tensor kk = randn_host({3, 1, 8}, rng_, DType::kBF16).to(kGpu);
  Tensor cos = randn_host({3, 4}, rng_, DType::kF32).to(kGpu);
  // rotary_dim 6 needs tables of 3 columns, these have 4: the kernel reports it.
  EXPECT_THROW(k->layer("rotary_pos_emb")
                   .forward({{{"q", q}, {"k", kk}, {"cos", cos}, {"sin", cos}},
                             {{"rotary_dim", int64_t{6}}}},
                            on_stream()),
               Error);
  auto n = load("rmsnorm");
  Tensor x = randn_host({4, 16}, rng_, DType::kF16).to(kGpu);
  Tensor w = randn_host({8}, rng_, DType::kF16).to(kGpu);
  Tensor out = Tensor::empty({4, 16}, DType::kF16, kGpu);
  EXPECT_THROW(n->layer("RMSNorm").forward(
                   {{{"x", x}, {"weight", w}, {"out", out}}, {{"eps", 1e-6}}}, on_stream()),
               Error);
  // A CPU tensor given to the CUDA variant is refused by the loader.
  Tensor xc = randn_host({4, 16}, rng_, DType::kF16);
  EXPECT_THROW(n->layer("RMSNorm").forward(
                   {{{"x", xc}, {"weight", w}, {"out", out}}, {{"eps", 1e-6}}}, on_stream()),
               Error);
}

}  // namespace
}  // namespace khub
