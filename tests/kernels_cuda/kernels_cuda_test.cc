// The CUDA variants of the khub-community kernels (kernels/*/cuda), loaded through the loader as
// khub loads them (hub::get_local_kernel on the built projects, the khub1-cu130 variant selected
// for the device) and called through the ABI on khub's current stream. Each function, forward and
// backward, in f32, bf16 and f16, against float64 math written here (the gradients derived
// analytically, not taken from the CPU kernels), on fresh random inputs (the seed is printed on
// failure), with sizes that take every code path (warp per row, block per row, 16-byte and
// 1-element accesses, the backward's grad_weight sums in registers or in the workspace, one or
// several rows per group). Outputs and the workspace are NaN-poisoned by the allocator, so an
// unwritten element fails. Label "gpu": skipped without a CUDA device.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>

#include "../ops/cuda_test_util.h"
#include "core/error.h"
#include "core/stream.h"
#include "hub/get_kernel.h"
#include "kernels_dir.h"

namespace khub {
namespace {

using testing::as_f64;
using testing::dtype_rtol;
using testing::expect_close;
using testing::kernels_dir;
using testing::randn_host;

const DType kDTypes[] = {DType::kF32, DType::kBF16, DType::kF16};
const Device kGpu = Device::cuda(0);

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
  // 37 rows: a few (one block per row, a vector per thread, where hidden <= 256 vectors); 300: one
  // warp per row. 33: 1-element accesses; 3000/8192: one block per row, two passes.
  for (int64_t rows : {37, 300})
    for (DType dt : kDTypes) {
      for (int64_t h : {33, 128, 1024, 2048, 3000, 8192}) {
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
          std::string what = tag(
              dt, std::string(layer) + " rows=" + std::to_string(rows) + " h=" + std::to_string(h));
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

// Gradients of sum(out * g) for out = x * rstd * w' (w' = w, or 1 + w for GemmaRMSNorm), rstd =
// 1 / sqrt(mean(x^2) + eps), per row of h elements:
//   d/dx_i = rstd * g_i * w'_i - x_i * rstd^3 / h * sum_j g_j * w'_j * x_j
//   d/dw_i = sum over rows of g_i * x_i * rstd
// (LlamaRMSNorm's rounding of x * rstd before the weight counts as the identity, as in autograd).
// FusedAddRMSNorm: x is the residual the forward left, and grad_x = grad_residual (out) = the
// above + grad_residual (in). grad_x_scale is the rms of |rstd g w'| + |x rstd^3 / h sum(...)|:
// the two terms cancel (entirely when h = 1), and f32 arithmetic is only accurate to their size.
struct NormGrads {
  std::vector<double> grad_x, grad_w;
  double grad_x_scale = 0;
};
NormGrads norm_grads(const std::vector<double>& x, const std::vector<double>& w,
                     const std::vector<double>& g, const std::vector<double>* gres, int64_t rows,
                     int64_t h, bool gemma, double eps) {
  NormGrads r{std::vector<double>(x.size()), std::vector<double>(h, 0.0)};
  double scale_ss = 0;
  for (int64_t row = 0; row < rows; ++row) {
    const double* xr = x.data() + row * h;
    const double* gr = g.data() + row * h;
    double ss = 0, dot = 0;
    for (int64_t i = 0; i < h; ++i) {
      ss += xr[i] * xr[i];
      dot += gr[i] * (gemma ? 1.0 + w[i] : w[i]) * xr[i];
    }
    const double rstd = 1 / std::sqrt(ss / h + eps);
    for (int64_t i = 0; i < h; ++i) {
      const double a = rstd * gr[i] * (gemma ? 1.0 + w[i] : w[i]);
      const double b = xr[i] * rstd * rstd * rstd / h * dot;
      scale_ss += (std::fabs(a) + std::fabs(b)) * (std::fabs(a) + std::fabs(b));
      double v = a - b;
      if (gres != nullptr) v += (*gres)[row * h + i];
      r.grad_x[row * h + i] = v;
      r.grad_w[i] += gr[i] * xr[i] * rstd;
    }
  }
  r.grad_x_scale = x.empty() ? 0 : std::sqrt(scale_ss / x.size());
  return r;
}

TEST_F(CudaKernels, RmsNormFamilyBackwardMatchesFloat64) {
  auto k = load("rmsnorm");
  struct Case {
    int64_t rows, hidden;
  };
  // At most 512 row groups: 1100 rows are 367 groups of 3 (the last of 2), 523 rows 262 groups of
  // 2 (the last of 1). hidden 1 (grad_x cancels to ~eps), 33, 4097: 1-element accesses (4097: sums
  // in the workspace); 128 (bf16 16 vectors, f32 32), 3000, 8192, 16384: 16-byte accesses with 1,
  // 2, 4 or 8 vectors per thread in registers (f32 16384: in the workspace); 20000: in the
  // workspace.
  const Case cases[] = {{1, 4097},   {37, 1},     {37, 33},    {1100, 128}, {523, 4097},
                        {600, 3000}, {300, 8192}, {40, 16384}, {70, 20000}};
  const double eps = 1e-6;
  for (DType dt : kDTypes) {
    for (Case c : cases) {
      const int64_t rows = c.rows, h = c.hidden;
      Tensor x = randn_host({rows, h}, rng_, dt, 2.0), w = randn_host({h}, rng_, dt);
      Tensor g = randn_host({rows, h}, rng_, dt), gres = randn_host({rows, h}, rng_, dt);
      auto xv = as_f64(x), wv = as_f64(w), gv = as_f64(g), grv = as_f64(gres);
      for (const char* layer : {"RMSNorm", "GemmaRMSNorm", "FusedAddRMSNorm"}) {
        const bool fused = std::string(layer) == "FusedAddRMSNorm";
        const bool gemma = std::string(layer) == "GemmaRMSNorm";
        NormGrads want = norm_grads(xv, wv, gv, fused ? &grv : nullptr, rows, h, gemma, eps);
        auto kl = k->layer(layer);
        ASSERT_TRUE(kl.backward.has_value()) << layer;
        Tensor gx = Tensor::empty({rows, h}, dt, kGpu), gw = Tensor::empty({h}, dt, kGpu);
        Tensor grd = gres.to(kGpu);
        loader::KernelArgs args{{{fused ? "residual" : "x", x.to(kGpu)},
                                 {"weight", w.to(kGpu)},
                                 {"grad_out", g.to(kGpu)},
                                 {"grad_x", gx},
                                 {"grad_weight", gw}},
                                {{"eps", eps}}};
        if (fused) args.tensors.push_back({"grad_residual", grd});
        (*kl.backward)(args, on_stream());
        std::string what = tag(dt, std::string(layer) + " backward rows=" + std::to_string(rows) +
                                       " h=" + std::to_string(h));
        expect_close(gx, want.grad_x, dtype_rtol(dt), what + " grad_x", want.grad_x_scale);
        expect_close(gw, want.grad_w, dtype_rtol(dt), what + " grad_weight");
        auto bitwise_differ = [](const Tensor& a, const Tensor& b) {
          auto av = as_f64(a), bv = as_f64(b);
          size_t differ = 0;
          for (size_t i = 0; i < av.size(); ++i) differ += !(av[i] == bv[i]);
          return differ;
        };
        if (fused) {
          EXPECT_EQ(bitwise_differ(grd, gx), 0u) << what << ": grad_residual (out) is not grad_x";
        } else {
          // Deterministic (KHUB_FN_DETERMINISTIC): a second call gives the same bits.
          Tensor gx2 = Tensor::empty({rows, h}, dt, kGpu), gw2 = Tensor::empty({h}, dt, kGpu);
          args.tensors[3].second = gx2;
          args.tensors[4].second = gw2;
          (*kl.backward)(args, on_stream());
          EXPECT_EQ(bitwise_differ(gx, gx2), 0u) << what << ": grad_x differs between two calls";
          EXPECT_EQ(bitwise_differ(gw, gw2), 0u) << what << ": grad_weight differs between calls";
        }
        if (dt != DType::kF32) {
          // grad_weight in f32 (what khub allocates for this kernel): the same sums unrounded, so
          // rounded to dt they are the dt result bit for bit, and within f32's tolerance of
          // float64.
          Tensor gw32 = Tensor::empty({h}, DType::kF32, kGpu);
          args.tensors[4].second = gw32;
          (*kl.backward)(args, on_stream());
          EXPECT_EQ(bitwise_differ(gw32.to(Device::cpu()).to(dt), gw), 0u)
              << what << ": the f32 grad_weight rounded to " << dtype_name(dt);
          expect_close(gw32, want.grad_w, dtype_rtol(DType::kF32), what + " grad_weight (f32)");
        }
      }
    }
  }
}

TEST_F(CudaKernels, RmsNormBackwardWithoutRowsZeroesGradWeight) {
  auto k = load("rmsnorm");
  for (DType dt : kDTypes) {
    Tensor x = Tensor::empty({0, 64}, dt, kGpu), g = Tensor::empty({0, 64}, dt, kGpu);
    Tensor gx = Tensor::empty({0, 64}, dt, kGpu), gw = Tensor::empty({64}, dt, kGpu);
    (*k->layer("RMSNorm").backward)({{{"x", x},
                                      {"weight", randn_host({64}, rng_, dt).to(kGpu)},
                                      {"grad_out", g},
                                      {"grad_x", gx},
                                      {"grad_weight", gw}},
                                     {{"eps", 1e-6}}},
                                    on_stream());
    expect_close(gw, std::vector<double>(64, 0.0), dtype_rtol(dt), tag(dt, "grad_weight"), 1.0);
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

// f'(v) of each activation, differentiated by hand from act_ref.
double act_grad_ref(const std::string& layer, double v) {
  if (layer == "SiluAndMul") {
    const double s = 1 / (1 + std::exp(-v));
    return s + v * s * (1 - s);
  }
  if (layer == "GeluTanhAndMul") {
    const double c = std::sqrt(2 / M_PI), u = c * (v + 0.044715 * v * v * v);
    const double t = std::tanh(u);
    return 0.5 * (1 + t) + 0.5 * v * (1 - t * t) * c * (1 + 3 * 0.044715 * v * v);
  }
  return 0.5 * std::erfc(-v / std::sqrt(2.0)) + v * std::exp(-0.5 * v * v) / std::sqrt(2 * M_PI);
}

TEST_F(CudaKernels, GatedActivationsBackwardMatchFloat64) {
  auto k = load("activation");
  for (DType dt : kDTypes) {
    for (int64_t d : {1, 13, 64, 1000, 3072}) {  // 1, 13: 1-element accesses
      Tensor x = randn_host({5, 7, 2 * d}, rng_, dt, 2.0), g = randn_host({5, 7, d}, rng_, dt);
      auto xv = as_f64(x), gv = as_f64(g);
      for (const char* layer : {"SiluAndMul", "GeluTanhAndMul", "GeluAndMul"}) {
        // out = f(a) * b: grad_a = g * b * f'(a), grad_b = g * f(a).
        std::vector<double> want(35 * 2 * d);
        for (int64_t r = 0; r < 35; ++r)
          for (int64_t i = 0; i < d; ++i) {
            const double a = xv[r * 2 * d + i], b = xv[r * 2 * d + d + i], gi = gv[r * d + i];
            want[r * 2 * d + i] = gi * b * act_grad_ref(layer, a);
            want[r * 2 * d + d + i] = gi * act_ref(layer, a);
          }
        auto kl = k->layer(layer);
        ASSERT_TRUE(kl.backward.has_value()) << layer;
        Tensor gx = Tensor::empty({5, 7, 2 * d}, dt, kGpu);
        (*kl.backward)({{{"x", x.to(kGpu)}, {"grad_out", g.to(kGpu)}, {"grad_x", gx}}, {}},
                       on_stream());
        expect_close(gx, want, dtype_rtol(dt),
                     tag(dt, std::string(layer) + " backward d=" + std::to_string(d)), 1.0);
      }
    }
  }
}

// Forward: each pair (x1, x2) -> (x1 c - x2 s, x2 c + x1 s), y = R x. Backward: grad_x = R^T g,
// i.e. (g1, g2) -> (g1 c + g2 s, g2 c - g1 s), applied in place to grad_q and grad_k.
TEST_F(CudaKernels, RotaryMatchesFloat64) {
  auto k = load("rotary");
  ASSERT_TRUE(k->layer("rotary_pos_emb").backward.has_value());
  struct Case {
    int64_t head_dim, rotary_dim;
  };
  const int64_t t = 9, hq = 4, hk = 2;
  std::uniform_real_distribution<double> angle(-8.0, 8.0);
  for (DType dt : kDTypes) {
    // full rotary, partial rotary (16-byte and 1-element paths), an odd head_dim
    for (Case c : {Case{64, 64}, Case{128, 64}, Case{64, 24}, Case{40, 20}, Case{33, 12}}) {
      for (bool interleaved : {false, true}) {
        for (bool backward : {false, true}) {
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
                  if (backward) {
                    row[a] = x1 * co + x2 * si;
                    row[b] = x2 * co - x1 * si;
                  } else {
                    row[a] = x1 * co - x2 * si;
                    row[b] = x2 * co + x1 * si;
                  }
                }
              }
            return v;
          };
          auto want_q = rotate(q, hq), want_k = rotate(kk, hk);
          Tensor qd = q.to(kGpu), kd = kk.to(kGpu);
          loader::KernelArgs args{{{backward ? "grad_q" : "q", qd},
                                   {backward ? "grad_k" : "k", kd},
                                   {"cos", cos.to(kGpu)},
                                   {"sin", sin.to(kGpu)}},
                                  {{"rotary_dim", c.rotary_dim}, {"interleaved", interleaved}}};
          auto kl = k->layer("rotary_pos_emb");
          if (backward)
            (*kl.backward)(args, on_stream());
          else
            kl.forward(args, on_stream());
          std::string what =
              tag(dt, std::string(backward ? "rotary backward" : "rotary") +
                          " D=" + std::to_string(c.head_dim) +
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
  Tensor g = randn_host({4, 16}, rng_, DType::kF16).to(kGpu);
  Tensor w16 = randn_host({16}, rng_, DType::kF16).to(kGpu);
  Tensor gw = Tensor::empty({8}, DType::kF16, kGpu);  // grad_weight must have 16 elements
  EXPECT_THROW(
      (*n->layer("RMSNorm").backward)(
          {{{"x", x}, {"weight", w16}, {"grad_out", g}, {"grad_x", out}, {"grad_weight", gw}},
           {{"eps", 1e-6}}},
          on_stream()),
      Error);
  // A CPU tensor given to the CUDA variant is refused by the loader.
  Tensor xc = randn_host({4, 16}, rng_, DType::kF16);
  EXPECT_THROW(n->layer("RMSNorm").forward(
                   {{{"x", xc}, {"weight", w}, {"out", out}}, {{"eps", 1e-6}}}, on_stream()),
               Error);
}

}  // namespace
}  // namespace khub
