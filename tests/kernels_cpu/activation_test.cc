// khub-community/activation on the CPU: SiluAndMul, GeluTanhAndMul, GeluAndMul, forward and
// backward, every dtype and SIMD path, against float64 references (libm tanh / erfc) on fresh
// random inputs including the tails (|a| up to 100) where exp underflows or overflows.
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <tuple>
#include <vector>

#include "core/dlpack.h"
#include "kernel_test_util.h"

extern "C" {
const khub_manifest* khub_kernel_manifest(void);
khub_status khub_activation_silu_and_mul_forward(const khub_call*, khub_error*);
khub_status khub_activation_silu_and_mul_backward(const khub_call*, khub_error*);
khub_status khub_activation_gelu_tanh_and_mul_forward(const khub_call*, khub_error*);
khub_status khub_activation_gelu_tanh_and_mul_backward(const khub_call*, khub_error*);
khub_status khub_activation_gelu_and_mul_forward(const khub_call*, khub_error*);
khub_status khub_activation_gelu_and_mul_backward(const khub_call*, khub_error*);
}

namespace khub::kernel_test {
namespace {

enum class Act { kSilu, kGeluTanh, kGelu };

struct ActInfo {
  const char* layer;
  khub_kernel_fn forward, backward;
};

ActInfo info(Act a) {
  switch (a) {
    case Act::kSilu:
      return {"SiluAndMul", khub_activation_silu_and_mul_forward,
              khub_activation_silu_and_mul_backward};
    case Act::kGeluTanh:
      return {"GeluTanhAndMul", khub_activation_gelu_tanh_and_mul_forward,
              khub_activation_gelu_tanh_and_mul_backward};
    case Act::kGelu:
      break;
  }
  return {"GeluAndMul", khub_activation_gelu_and_mul_forward,
          khub_activation_gelu_and_mul_backward};
}

// ---- float64 references --------------------------------------------------------------------

const double kSqrt2OverPi = std::sqrt(2.0 / M_PI);

struct ActValue {
  double f, df;
  double df_terms;  // sum of the magnitudes of the terms of f' (its conditioning)
  double exp_arg;   // magnitude of the exponent the f32 evaluation goes through
};

ActValue act_ref(Act act, double a) {
  switch (act) {
    case Act::kSilu: {
      double s = 1.0 / (1.0 + std::exp(-a));
      return {a * s, s + a * s * (1 - s), s + std::fabs(a * s * (1 - s)), std::fabs(a)};
    }
    case Act::kGeluTanh: {
      // 1 + tanh(u) and 1 - tanh(u)^2 cancel for u << 0; both are written with e = exp(-2|u|):
      // 1 + tanh(u) = 2e / (1 + e) for u < 0, and sech(u)^2 = 4e / (1 + e)^2.
      double u = kSqrt2OverPi * (a + 0.044715 * a * a * a);
      double e = std::exp(-2 * std::fabs(u));
      double one_plus_t = u >= 0 ? 1 + std::tanh(u) : 2 * e / (1 + e);
      double sech2 = 4 * e / ((1 + e) * (1 + e));
      double du = kSqrt2OverPi * (1 + 3 * 0.044715 * a * a);
      double left = 0.5 * one_plus_t, right = 0.5 * a * sech2 * du;
      return {0.5 * a * one_plus_t, left + right, left + std::fabs(right), 2 * std::fabs(u)};
    }
    case Act::kGelu:
      break;
  }
  double cdf = 0.5 * std::erfc(-a / std::sqrt(2.0));
  double pdf = std::exp(-0.5 * a * a) / std::sqrt(2 * M_PI);
  return {a * cdf, cdf + a * pdf, cdf + std::fabs(a * pdf), 0.5 * a * a};
}

// The tolerance of an activation: one rounding to the dtype, plus f32 error proportional to the
// magnitude times (1 + the exponent's magnitude), which is how much any f32 evaluation of exp at
// that argument loses (an exp argument of 50 carries 50 ulp of input error).
Tolerance act_tolerance(DType dtype) {
  Tolerance t = tolerance_for(dtype, 1.0);
  t.stol = 1e-6;
  return t;
}

struct Case {
  Shape shape;  // of x: [..., 2D]
  Layout in_layout, out_layout;
  int threads;
};

std::vector<Case> cases() {
  return {
      {{1, 2}, Layout::kContiguous, Layout::kContiguous, 1},
      {{3, 14}, Layout::kContiguous, Layout::kRowPadded, 1},
      {{2, 32}, Layout::kInnerStrided, Layout::kContiguous, 1},
      {{5, 66}, Layout::kRowPadded, Layout::kInnerStrided, 2},
      {{4, 2046}, Layout::kContiguous, Layout::kContiguous, 2},
      {{2, 3, 8194}, Layout::kTransposed, Layout::kContiguous, 1},
      {{37, 128}, Layout::kRowPadded, Layout::kRowPadded, 1},
      {{128, 8194}, Layout::kContiguous, Layout::kContiguous, 3},  // several threads
      {{0, 8}, Layout::kContiguous, Layout::kContiguous, 1},
  };
}

std::string describe(const Case& c) {
  return shape_str(c.shape) + " in " + layout_name(c.in_layout) + " out " +
         layout_name(c.out_layout) + " threads " + std::to_string(c.threads);
}

// x = [a | b] with a ~ N(0, 3) and b ~ N(0, 1); the first gate values of row 0 are the tails.
void fill_gate_up(const Tensor& x) {
  fill_normal(x, 0.0, 3.0);
  const int64_t d = x.size(-1) / 2;
  if (x.numel() == 0) return;
  const double tails[] = {0.0, -100, 100, -88.9, 88.9, -30, 30, -12, 12, -6, 6, 1e-3, -1e-3};
  std::vector<float> row = x.select(0, 0).to_float_vector();
  if (x.dim() == 3) return;  // rank-3 cases already mix rows; keep the helper simple
  for (int64_t i = 0; i < d && i < 13; ++i) row[i] = static_cast<float>(tails[i]);
  Tensor src = Tensor::from_vector(row, {x.size(-1)}, DType::kF32);
  Tensor dst = x.select(0, 0);
  dst.copy_from(src);
}

class ActivationTest : public ::testing::TestWithParam<std::tuple<std::string, DType>> {
 protected:
  void SetUp() override {
    if (!isa_available(isa())) GTEST_SKIP() << "this CPU cannot run the " << isa() << " path";
  }
  const std::string& isa() const { return std::get<0>(GetParam()); }
  DType dtype() const { return std::get<1>(GetParam()); }
};

Shape with_last(Shape s, int64_t last) {
  s.back() = last;
  return s;
}

TEST_P(ActivationTest, ForwardMatchesFloat64) {
  ScopedIsa scoped(isa());
  for (Act act : {Act::kSilu, Act::kGeluTanh, Act::kGelu}) {
    for (const Case& c : cases()) {
      SCOPED_TRACE(std::string(info(act).layer) + " " + describe(c));
      const int64_t d = c.shape.back() / 2;
      TestTensor x = make_tensor(c.shape, dtype(), c.in_layout);
      TestTensor out = make_tensor(with_last(c.shape, d), dtype(), c.out_layout);
      fill_gate_up(x.view);
      KernelCall call;
      call.tensor(x.view).tensor(out.view).threads(c.threads);
      ASSERT_EQ(call.run(info(act).forward), KHUB_STATUS_OK) << call.message();

      std::vector<double> xv = values(x.view), ref, scale;
      for (size_t r0 = 0; r0 < xv.size(); r0 += 2 * d)
        for (int64_t i = 0; i < d; ++i) {
          ActValue v = act_ref(act, xv[r0 + i]);
          double b = xv[r0 + d + i];
          ref.push_back(v.f * b);
          scale.push_back(std::fabs(v.f * b) * (1 + v.exp_arg));
        }
      EXPECT_TRUE(all_close((std::string(info(act).layer) + " " + describe(c)).c_str(), out.view,
                            ref, scale, act_tolerance(dtype())));
      EXPECT_EQ(count_written(out), out.view.numel());
    }
  }
}

TEST_P(ActivationTest, BackwardMatchesFloat64) {
  ScopedIsa scoped(isa());
  for (Act act : {Act::kSilu, Act::kGeluTanh, Act::kGelu}) {
    for (const Case& c : cases()) {
      SCOPED_TRACE(std::string(info(act).layer) + " backward " + describe(c));
      const int64_t d = c.shape.back() / 2;
      TestTensor x = make_tensor(c.shape, dtype(), c.in_layout);
      TestTensor g = make_tensor(with_last(c.shape, d), dtype(), c.in_layout);
      TestTensor gx = make_tensor(c.shape, dtype(), c.out_layout);
      fill_gate_up(x.view);
      fill_normal(g.view);
      KernelCall call;
      call.tensor(x.view).tensor(g.view).tensor(gx.view).threads(c.threads);
      ASSERT_EQ(call.run(info(act).backward), KHUB_STATUS_OK) << call.message();

      std::vector<double> xv = values(x.view), gv = values(g.view);
      std::vector<double> ref(xv.size()), scale(xv.size());
      for (size_t r = 0; r * 2 * d < xv.size(); ++r)
        for (int64_t i = 0; i < d; ++i) {
          size_t ia = r * 2 * d + i, ib = ia + d;
          ActValue v = act_ref(act, xv[ia]);
          double go = gv[r * d + i], b = xv[ib];
          ref[ia] = go * b * v.df;
          scale[ia] = std::fabs(go * b) * v.df_terms * (1 + v.exp_arg);
          ref[ib] = go * v.f;
          scale[ib] = std::fabs(go * v.f) * (1 + v.exp_arg);
        }
      EXPECT_TRUE(all_close((std::string(info(act).layer) + " backward " + describe(c)).c_str(),
                            gx.view, ref, scale, act_tolerance(dtype())));
      EXPECT_EQ(count_written(gx), gx.view.numel());
    }
  }
}

// Large outputs are written with non-temporal stores; forced on, they give the same bits.
TEST_P(ActivationTest, StreamingStoresMatchPlainStores) {
  ScopedIsa scoped(isa());
  for (Shape shape : {Shape{37, 128}, Shape{5, 8194}, Shape{96, 2048}}) {
    SCOPED_TRACE(shape_str(shape));
    const int64_t d = shape.back() / 2;
    TestTensor x = make_tensor(shape, dtype(), Layout::kContiguous);
    TestTensor g = make_tensor(with_last(shape, d), dtype(), Layout::kContiguous);
    fill_gate_up(x.view);
    fill_normal(g.view);
    for (Act act : {Act::kSilu, Act::kGeluTanh, Act::kGelu}) {
      expect_streaming_matches([&] {
        TestTensor out = make_tensor(with_last(shape, d), dtype(), Layout::kContiguous);
        KernelCall call;
        call.tensor(x.view).tensor(out.view).threads(2);
        EXPECT_EQ(call.run(info(act).forward), KHUB_STATUS_OK) << call.message();
        return values(out.view);
      });
      expect_streaming_matches([&] {
        TestTensor gx = make_tensor(shape, dtype(), Layout::kContiguous);
        KernelCall call;
        call.tensor(x.view).tensor(g.view).tensor(gx.view).threads(2);
        EXPECT_EQ(call.run(info(act).backward), KHUB_STATUS_OK) << call.message();
        return values(gx.view);
      });
    }
  }
}

std::string param_name(const ::testing::TestParamInfo<std::tuple<std::string, DType>>& p) {
  return std::get<0>(p.param) + "_" + std::string(dtype_name(std::get<1>(p.param)));
}

INSTANTIATE_TEST_SUITE_P(AllPaths, ActivationTest,
                         ::testing::Combine(::testing::ValuesIn(all_isas()),
                                            ::testing::Values(DType::kF32, DType::kBF16,
                                                              DType::kF16)),
                         param_name);

TEST(ActivationReference, DerivativesMatchFiniteDifferences) {
  for (Act act : {Act::kSilu, Act::kGeluTanh, Act::kGelu})
    for (double a : {-7.5, -3.0, -1.28, -0.3, 0.0, 0.2, 1.0, 2.5, 6.0}) {
      const double h = 1e-6;
      double fd = (act_ref(act, a + h).f - act_ref(act, a - h).f) / (2 * h);
      EXPECT_NEAR(fd, act_ref(act, a).df, 1e-8) << info(act).layer << " at " << a;
    }
}

TEST(ActivationManifest, DescribesEveryLayer) {
  const khub_manifest* m = khub_kernel_manifest();
  EXPECT_EQ(m->abi_major, KHUB_KERNEL_ABI_VERSION_MAJOR);
  EXPECT_STREQ(m->kernel_name, "activation");
  EXPECT_STREQ(m->backend, "cpu");
  ASSERT_EQ(m->num_layers, 3);
  const char* layers[] = {"SiluAndMul", "GeluTanhAndMul", "GeluAndMul"};
  for (int i = 0; i < 3; ++i) {
    EXPECT_STREQ(m->layers[i].name, layers[i]);
    EXPECT_EQ(m->layers[i].flags, KHUB_LAYER_HAS_BACKWARD);
    const khub_function_desc* f = find_function(m, m->layers[i].forward);
    ASSERT_NE(f, nullptr);
    ASSERT_EQ(f->num_args, 2);
    EXPECT_STREQ(f->args[0].name, "x");
    EXPECT_STREQ(f->args[1].name, "out");
    EXPECT_EQ(f->num_attrs, 0);
    const khub_function_desc* b = find_function(m, m->layers[i].backward);
    ASSERT_NE(b, nullptr);
    ASSERT_EQ(b->num_args, 3);
    EXPECT_STREQ(b->args[1].name, "grad_out");
    EXPECT_STREQ(b->args[2].name, "grad_x");
    EXPECT_EQ(f->flags & KHUB_FN_CAN_CAPTURE, 0u);
  }
}

void expect_invalid(KernelCall& call, khub_kernel_fn fn, const std::string& needle) {
  EXPECT_EQ(call.run(fn), KHUB_STATUS_INVALID_ARGUMENT);
  EXPECT_NE(call.message().find(needle), std::string::npos)
      << "message '" << call.message() << "' does not mention " << needle;
}

TEST(ActivationBadInput, ErrorsNameTheArgument) {
  auto f32 = [](Shape s) { return Tensor::zeros(std::move(s), DType::kF32); };
  {
    KernelCall c;  // odd last dim
    c.tensor(f32({4, 7})).tensor(f32({4, 3}));
    expect_invalid(c, khub_activation_silu_and_mul_forward, "x has last dim 7, expected an even");
  }
  {
    KernelCall c;  // out of the wrong width
    c.tensor(f32({4, 8})).tensor(f32({4, 8}));
    expect_invalid(c, khub_activation_silu_and_mul_forward,
                   "out has shape [4, 8], expected [4, 4]");
  }
  {
    KernelCall c;  // out of the wrong rank
    c.tensor(f32({2, 2, 8})).tensor(f32({4, 4}));
    expect_invalid(c, khub_activation_gelu_and_mul_forward,
                   "out has shape [4, 4], expected [2, 2, 4]");
  }
  {
    KernelCall c;  // rank 0
    c.tensor(f32({})).tensor(f32({}));
    expect_invalid(c, khub_activation_silu_and_mul_forward, "x has 0 dims");
  }
  {
    KernelCall c;  // unsupported dtype
    c.tensor(Tensor::zeros({4, 8}, DType::kI64)).tensor(f32({4, 4}));
    expect_invalid(c, khub_activation_silu_and_mul_forward, "x has dtype i64");
  }
  {
    KernelCall c;  // mixed dtypes
    c.tensor(f32({4, 8})).tensor(Tensor::zeros({4, 4}, DType::kBF16));
    expect_invalid(c, khub_activation_gelu_tanh_and_mul_forward,
                   "out has dtype bf16, expected f32");
  }
  {
    KernelCall c;  // backward: grad_out of the wrong shape
    c.tensor(f32({4, 8})).tensor(f32({4, 8})).tensor(f32({4, 8}));
    expect_invalid(c, khub_activation_silu_and_mul_backward, "grad_out has shape [4, 8]");
  }
  {
    KernelCall c;  // backward: grad_x of the wrong shape
    c.tensor(f32({4, 8})).tensor(f32({4, 4})).tensor(f32({4, 4}));
    expect_invalid(c, khub_activation_silu_and_mul_backward, "grad_x has shape [4, 4]");
  }
  {
    KernelCall c;  // an attribute the function does not take
    c.tensor(f32({4, 8})).tensor(f32({4, 4})).attr_float("eps", 1);
    expect_invalid(c, khub_activation_silu_and_mul_forward, "call has 1 attributes, expected 0");
  }
}

}  // namespace
}  // namespace khub::kernel_test
