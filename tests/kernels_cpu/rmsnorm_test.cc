// khub-community/rmsnorm on the CPU: every function, dtype and SIMD path against float64
// references on fresh random inputs (strided, odd sizes, several threads), backward against
// analytic float64 gradients (checked once by finite differences), and bad input.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <string>
#include <tuple>
#include <vector>

#include "core/dlpack.h"
#include "kernel_test_util.h"

extern "C" {
const khub_manifest* khub_kernel_manifest(void);
khub_status khub_rmsnorm_rms_norm_forward(const khub_call*, khub_error*);
khub_status khub_rmsnorm_rms_norm_backward(const khub_call*, khub_error*);
khub_status khub_rmsnorm_gemma_rms_norm_forward(const khub_call*, khub_error*);
khub_status khub_rmsnorm_gemma_rms_norm_backward(const khub_call*, khub_error*);
khub_status khub_rmsnorm_fused_add_rms_norm_forward(const khub_call*, khub_error*);
khub_status khub_rmsnorm_fused_add_rms_norm_backward(const khub_call*, khub_error*);
}

namespace khub::kernel_test {
namespace {

enum class Variant { kRms, kGemma, kFusedAdd };

struct VariantInfo {
  const char* name;
  khub_kernel_fn forward;
  khub_kernel_fn backward;
  const char* backward_name;
};

VariantInfo info(Variant v) {
  switch (v) {
    case Variant::kRms:
      return {"RMSNorm", khub_rmsnorm_rms_norm_forward, khub_rmsnorm_rms_norm_backward,
              "rms_norm_backward"};
    case Variant::kGemma:
      return {"GemmaRMSNorm", khub_rmsnorm_gemma_rms_norm_forward,
              khub_rmsnorm_gemma_rms_norm_backward, "gemma_rms_norm_backward"};
    case Variant::kFusedAdd:
      break;
  }
  return {"FusedAddRMSNorm", khub_rmsnorm_fused_add_rms_norm_forward,
          khub_rmsnorm_fused_add_rms_norm_backward, "fused_add_rms_norm_backward"};
}

khub_workspace_fn workspace_of(const char* name) {
  const khub_function_desc* f = find_function(khub_kernel_manifest(), name);
  return f ? f->workspace_size : nullptr;
}

// ---- float64 references ----------------------------------------------------------------------

// Forward of one row set, exact math. `h` is the normalized input (for the fused op: x + residual,
// rounded to the dtype as the kernel stores it). LlamaRMSNorm's intermediate cast of the
// normalized value to the input dtype is not modelled: it is one of the two roundings the
// tolerance allows (modelling it would make the bound three roundings, since f32 and f64 may
// round a value near a tie to different neighbours).
std::vector<double> norm_forward_ref(const std::vector<double>& h, const std::vector<double>& w,
                                     int64_t hidden, double eps, Variant v) {
  std::vector<double> out(h.size());
  for (size_t r0 = 0; r0 < h.size(); r0 += hidden) {
    double ss = 0;
    for (int64_t i = 0; i < hidden; ++i) ss += h[r0 + i] * h[r0 + i];
    double rstd = 1.0 / std::sqrt(ss / hidden + eps);
    for (int64_t i = 0; i < hidden; ++i) {
      double n = h[r0 + i] * rstd;
      out[r0 + i] = v == Variant::kGemma ? n * (1.0 + w[i]) : n * w[i];
    }
  }
  return out;
}

struct BackwardRef {
  std::vector<double> grad_x, grad_x_scale, grad_w, grad_w_scale;
};

// Analytic gradients of sum(out * g) w.r.t. h and w (plus grad_residual_in when given, fused).
BackwardRef norm_backward_ref(const std::vector<double>& h, const std::vector<double>& w,
                              const std::vector<double>& g, const std::vector<double>* gres,
                              int64_t hidden, double eps, Variant v) {
  BackwardRef ref;
  ref.grad_x.resize(h.size());
  ref.grad_x_scale.resize(h.size());
  ref.grad_w.assign(hidden, 0.0);
  ref.grad_w_scale.assign(hidden, 0.0);
  for (size_t r0 = 0; r0 < h.size(); r0 += hidden) {
    double ss = 0, dot = 0, dot_abs = 0;
    for (int64_t i = 0; i < hidden; ++i) {
      double weff = v == Variant::kGemma ? 1.0 + w[i] : w[i];
      ss += h[r0 + i] * h[r0 + i];
      dot += g[r0 + i] * weff * h[r0 + i];
      dot_abs += std::fabs(g[r0 + i] * weff * h[r0 + i]);
    }
    double r = 1.0 / std::sqrt(ss / hidden + eps);
    double c = dot * r * r * r / hidden, c_abs = dot_abs * r * r * r / hidden;
    for (int64_t i = 0; i < hidden; ++i) {
      double weff = v == Variant::kGemma ? 1.0 + w[i] : w[i];
      double a = r * g[r0 + i] * weff, b = c * h[r0 + i];
      ref.grad_x[r0 + i] = a - b;
      ref.grad_x_scale[r0 + i] = std::fabs(a) + c_abs * std::fabs(h[r0 + i]);
      if (gres != nullptr) {
        ref.grad_x[r0 + i] += (*gres)[r0 + i];
        ref.grad_x_scale[r0 + i] += std::fabs((*gres)[r0 + i]);
      }
      ref.grad_w[i] += g[r0 + i] * h[r0 + i] * r;
      ref.grad_w_scale[i] += std::fabs(g[r0 + i] * h[r0 + i] * r);
    }
  }
  return ref;
}

// ---- the cases ---------------------------------------------------------------------------------

struct Case {
  Shape shape;
  Layout in_layout, out_layout;
  int threads;
};

std::vector<Case> cases() {
  return {
      {{1, 1}, Layout::kContiguous, Layout::kContiguous, 1},
      {{3, 7}, Layout::kContiguous, Layout::kRowPadded, 1},
      {{2, 16}, Layout::kInnerStrided, Layout::kContiguous, 1},
      {{5, 33}, Layout::kRowPadded, Layout::kInnerStrided, 2},
      {{4, 1023}, Layout::kContiguous, Layout::kContiguous, 2},
      {{2, 3, 4097}, Layout::kTransposed, Layout::kContiguous, 1},
      {{3, 2, 1}, Layout::kTransposed, Layout::kTransposed, 1},
      {{37, 64}, Layout::kRowPadded, Layout::kRowPadded, 1},
      {{256, 4097}, Layout::kContiguous, Layout::kContiguous, 3},  // several threads
      {{0, 8}, Layout::kContiguous, Layout::kContiguous, 1},       // no rows
  };
}

std::string describe(const Case& c) {
  return shape_str(c.shape) + " in " + layout_name(c.in_layout) + " out " +
         layout_name(c.out_layout) + " threads " + std::to_string(c.threads);
}

class RmsNormTest : public ::testing::TestWithParam<std::tuple<std::string, DType>> {
 protected:
  void SetUp() override {
    if (!isa_available(isa())) GTEST_SKIP() << "this CPU cannot run the " << isa() << " path";
  }
  const std::string& isa() const { return std::get<0>(GetParam()); }
  DType dtype() const { return std::get<1>(GetParam()); }

  void check_forward(Variant v, const Case& c);
  void check_backward(Variant v, const Case& c);
};

void RmsNormTest::check_forward(Variant v, const Case& c) {
  ScopedIsa scoped(isa());
  const int64_t hidden = c.shape.back();
  const double eps = 1e-5;
  TestTensor x = make_tensor(c.shape, dtype(), c.in_layout);
  TestTensor w = make_tensor({hidden}, dtype(), c.in_layout);
  TestTensor out = make_tensor(c.shape, dtype(), c.out_layout);
  fill_rows_scaled(x.view, -2, 2);
  fill_normal(w.view, v == Variant::kGemma ? 0.0 : 1.0, 0.5);
  std::vector<double> xv = values(x.view), wv = values(w.view), h = xv;
  TestTensor res;
  KernelCall call;
  call.tensor(x.view);
  if (v == Variant::kFusedAdd) {
    res = make_tensor(c.shape, dtype(), c.out_layout);
    fill_rows_scaled(res.view, -2, 2);
    std::vector<double> rv = values(res.view);
    for (size_t i = 0; i < h.size(); ++i) h[i] = round_to_dtype(xv[i] + rv[i], dtype());
    call.tensor(res.view);
  }
  call.tensor(w.view).tensor(out.view).attr_float("eps", eps).threads(c.threads);
  ASSERT_EQ(call.run(info(v).forward), KHUB_STATUS_OK) << call.message();

  std::vector<double> ref = norm_forward_ref(h, wv, hidden, eps, v);
  double steps = v == Variant::kGemma ? 1.0 : 2.0;
  EXPECT_TRUE(all_close((std::string(info(v).name) + " out " + describe(c)).c_str(), out.view, ref,
                        {}, tolerance_for(dtype(), steps)));
  EXPECT_EQ(count_written(out), out.view.numel()) << "writes outside out, or unwritten elements";
  if (v == Variant::kFusedAdd) {
    EXPECT_TRUE(all_close("FusedAddRMSNorm residual", res.view, h, {}, tolerance_for(dtype(), 0)));
    EXPECT_EQ(count_written(res), res.view.numel()) << "writes outside residual";
  }
}

void RmsNormTest::check_backward(Variant v, const Case& c) {
  ScopedIsa scoped(isa());
  const int64_t hidden = c.shape.back();
  const double eps = 1e-5;
  TestTensor x = make_tensor(c.shape, dtype(), c.in_layout);
  TestTensor w = make_tensor({hidden}, dtype(), c.in_layout);
  TestTensor g = make_tensor(c.shape, dtype(), c.in_layout);
  TestTensor gx = make_tensor(c.shape, dtype(), c.out_layout);
  TestTensor gw = make_tensor({hidden}, dtype(), c.out_layout);
  fill_rows_scaled(x.view, -2, 2);
  fill_normal(w.view, v == Variant::kGemma ? 0.0 : 1.0, 0.5);
  fill_normal(g.view);
  std::vector<double> xv = values(x.view), wv = values(w.view), gv = values(g.view);

  TestTensor gres;
  std::vector<double> gres_in;
  KernelCall call;
  call.tensor(x.view).tensor(w.view).tensor(g.view);
  if (v == Variant::kFusedAdd) {
    gres = make_tensor(c.shape, dtype(), c.out_layout);
    fill_normal(gres.view);
    gres_in = values(gres.view);
    call.tensor(gres.view);
  }
  call.tensor(gx.view).tensor(gw.view).attr_float("eps", eps).threads(c.threads);
  ASSERT_EQ(call.run(info(v).backward, workspace_of(info(v).backward_name)), KHUB_STATUS_OK)
      << call.message();

  BackwardRef ref =
      norm_backward_ref(xv, wv, gv, v == Variant::kFusedAdd ? &gres_in : nullptr, hidden, eps, v);
  Tolerance tol = tolerance_for(dtype(), 1.0);
  std::string what = std::string(info(v).name) + " backward " + describe(c);
  EXPECT_TRUE(all_close((what + " grad_x").c_str(), gx.view, ref.grad_x, ref.grad_x_scale, tol));
  EXPECT_TRUE(
      all_close((what + " grad_weight").c_str(), gw.view, ref.grad_w, ref.grad_w_scale, tol));
  EXPECT_EQ(count_written(gx), gx.view.numel());
  EXPECT_EQ(count_written(gw), gw.view.numel());
  if (v == Variant::kFusedAdd) {
    // grad_residual leaves holding dL/d(residual in), which equals grad_x.
    EXPECT_TRUE(
        all_close((what + " grad_residual").c_str(), gres.view, ref.grad_x, ref.grad_x_scale, tol));
    EXPECT_EQ(values(gres.view), values(gx.view));
  }
}

TEST_P(RmsNormTest, ForwardMatchesFloat64) {
  for (Variant v : {Variant::kRms, Variant::kGemma, Variant::kFusedAdd})
    for (const Case& c : cases()) {
      SCOPED_TRACE(std::string(info(v).name) + " " + describe(c));
      check_forward(v, c);
    }
}

TEST_P(RmsNormTest, BackwardMatchesFloat64) {
  for (Variant v : {Variant::kRms, Variant::kGemma, Variant::kFusedAdd})
    for (const Case& c : cases()) {
      SCOPED_TRACE(std::string(info(v).name) + " " + describe(c));
      check_backward(v, c);
    }
}

// grad_weight does not depend on the thread count: rows are grouped by shape only.
TEST_P(RmsNormTest, BackwardIsBitwiseReproducibleAcrossThreadCounts) {
  ScopedIsa scoped(isa());
  const Shape shape = {320, 2048};
  TestTensor x = make_tensor(shape, dtype(), Layout::kContiguous);
  TestTensor w = make_tensor({2048}, dtype(), Layout::kContiguous);
  TestTensor g = make_tensor(shape, dtype(), Layout::kContiguous);
  fill_normal(x.view);
  fill_normal(w.view, 1.0, 0.5);
  fill_normal(g.view);
  std::vector<std::vector<double>> results;
  for (int threads : {1, 2, 5}) {
    TestTensor gx = make_tensor(shape, dtype(), Layout::kContiguous);
    TestTensor gw = make_tensor({2048}, dtype(), Layout::kContiguous);
    KernelCall call;
    call.tensor(x.view).tensor(w.view).tensor(g.view).tensor(gx.view).tensor(gw.view);
    call.attr_float("eps", 1e-6).threads(threads);
    ASSERT_EQ(call.run(khub_rmsnorm_rms_norm_backward, workspace_of("rms_norm_backward")),
              KHUB_STATUS_OK)
        << call.message();
    results.push_back(values(gw.view));
  }
  EXPECT_EQ(results[0], results[1]);
  EXPECT_EQ(results[0], results[2]);
}

// Large outputs are written with non-temporal stores; forced on, they give the same bits.
TEST_P(RmsNormTest, StreamingStoresMatchPlainStores) {
  ScopedIsa scoped(isa());
  for (Shape shape : {Shape{37, 64}, Shape{5, 4097}, Shape{160, 1024}}) {
    SCOPED_TRACE(shape_str(shape));
    const int64_t hidden = shape.back();
    TestTensor x = make_tensor(shape, dtype(), Layout::kContiguous);
    TestTensor w = make_tensor({hidden}, dtype(), Layout::kContiguous);
    TestTensor g = make_tensor(shape, dtype(), Layout::kContiguous);
    fill_normal(x.view);
    fill_normal(w.view, 1.0, 0.5);
    fill_normal(g.view);
    for (Variant v : {Variant::kRms, Variant::kGemma}) {
      expect_streaming_matches([&] {
        TestTensor out = make_tensor(shape, dtype(), Layout::kContiguous);
        KernelCall call;
        call.tensor(x.view).tensor(w.view).tensor(out.view).attr_float("eps", 1e-6).threads(2);
        EXPECT_EQ(call.run(info(v).forward), KHUB_STATUS_OK) << call.message();
        return values(out.view);
      });
    }
    expect_streaming_matches([&] {
      TestTensor gx = make_tensor(shape, dtype(), Layout::kContiguous);
      TestTensor gw = make_tensor({hidden}, dtype(), Layout::kContiguous);
      KernelCall call;
      call.tensor(x.view).tensor(w.view).tensor(g.view).tensor(gx.view).tensor(gw.view);
      call.attr_float("eps", 1e-6).threads(2);
      EXPECT_EQ(call.run(khub_rmsnorm_rms_norm_backward, workspace_of("rms_norm_backward")),
                KHUB_STATUS_OK)
          << call.message();
      std::vector<double> all = values(gx.view), gwv = values(gw.view);
      all.insert(all.end(), gwv.begin(), gwv.end());
      return all;
    });
  }
}

std::string param_name(const ::testing::TestParamInfo<std::tuple<std::string, DType>>& p) {
  return std::get<0>(p.param) + "_" + std::string(dtype_name(std::get<1>(p.param)));
}

INSTANTIATE_TEST_SUITE_P(AllPaths, RmsNormTest,
                         ::testing::Combine(::testing::ValuesIn(all_isas()),
                                            ::testing::Values(DType::kF32, DType::kBF16,
                                                              DType::kF16)),
                         param_name);

// The float64 analytic gradients above are themselves checked by central differences.
TEST(RmsNormReference, AnalyticGradientsMatchFiniteDifferences) {
  const int64_t hidden = 7, rows = 3;
  const double eps = 1e-3;
  std::normal_distribution<double> dist;
  std::vector<double> h(rows * hidden), w(hidden), g(rows * hidden);
  for (double& v : h) v = dist(rng());
  for (double& v : w) v = 1 + 0.5 * dist(rng());
  for (double& v : g) v = dist(rng());
  for (Variant v : {Variant::kRms, Variant::kGemma}) {
    auto loss = [&](const std::vector<double>& hh, const std::vector<double>& ww) {
      std::vector<double> out = norm_forward_ref(hh, ww, hidden, eps, v);
      double s = 0;
      for (size_t i = 0; i < out.size(); ++i) s += out[i] * g[i];
      return s;
    };
    BackwardRef ref = norm_backward_ref(h, w, g, nullptr, hidden, eps, v);
    const double step = 1e-6;
    for (size_t i = 0; i < h.size(); ++i) {
      std::vector<double> hp = h, hm = h;
      hp[i] += step;
      hm[i] -= step;
      EXPECT_NEAR((loss(hp, w) - loss(hm, w)) / (2 * step), ref.grad_x[i], 1e-7) << "h " << i;
    }
    for (int64_t j = 0; j < hidden; ++j) {
      std::vector<double> wp = w, wm = w;
      wp[j] += step;
      wm[j] -= step;
      EXPECT_NEAR((loss(h, wp) - loss(h, wm)) / (2 * step), ref.grad_w[j], 1e-7) << "w " << j;
    }
  }
}

// ---- manifest and bad input
// ----------------------------------------------------------------------

TEST(RmsNormManifest, DescribesEveryLayerAndFunction) {
  const khub_manifest* m = khub_kernel_manifest();
  ASSERT_NE(m, nullptr);
  EXPECT_EQ(m->abi_major, KHUB_KERNEL_ABI_VERSION_MAJOR);
  EXPECT_EQ(m->abi_minor, KHUB_KERNEL_ABI_VERSION_MINOR);
  EXPECT_EQ(m->struct_size, sizeof(khub_manifest));
  EXPECT_STREQ(m->kernel_name, "rmsnorm");
  EXPECT_STREQ(m->backend, "cpu");
  ASSERT_EQ(m->num_layers, 3);
  const char* names[] = {"RMSNorm", "GemmaRMSNorm", "FusedAddRMSNorm"};
  for (int i = 0; i < 3; ++i) {
    const khub_layer_desc& l = m->layers[i];
    EXPECT_STREQ(l.name, names[i]);
    EXPECT_EQ(l.flags, KHUB_LAYER_HAS_BACKWARD);  // never CAN_CAPTURE on the CPU
    ASSERT_NE(find_function(m, l.forward), nullptr);
    ASSERT_NE(find_function(m, l.backward), nullptr);
  }
  const khub_function_desc* f = find_function(m, "rms_norm_forward");
  ASSERT_EQ(f->num_args, 3);
  EXPECT_STREQ(f->args[0].name, "x");
  EXPECT_STREQ(f->args[1].name, "weight");
  EXPECT_EQ(f->args[1].role, KHUB_ARG_PARAM);
  EXPECT_STREQ(f->args[2].name, "out");
  EXPECT_EQ(f->args[2].role, KHUB_ARG_OUTPUT);
  ASSERT_EQ(f->num_attrs, 1);
  EXPECT_STREQ(f->attrs[0].name, "eps");
  const khub_function_desc* fused = find_function(m, "fused_add_rms_norm_forward");
  EXPECT_STREQ(fused->args[1].name, "residual");
  EXPECT_EQ(fused->args[1].role, KHUB_ARG_INOUT);
  for (int i = 0; i < m->num_functions; ++i) {
    EXPECT_EQ(m->functions[i].struct_size, sizeof(khub_function_desc));
    EXPECT_EQ(m->functions[i].flags & KHUB_FN_CAN_CAPTURE, 0u) << m->functions[i].name;
    EXPECT_EQ(std::string(m->functions[i].symbol),
              std::string("khub_rmsnorm_") + m->functions[i].name);
  }
}

// Runs rms_norm_forward with the given tensors and expects INVALID_ARGUMENT naming `needle`.
void expect_invalid(KernelCall& call, khub_kernel_fn fn, const std::string& needle,
                    khub_workspace_fn ws = nullptr) {
  EXPECT_EQ(call.run(fn, ws), KHUB_STATUS_INVALID_ARGUMENT);
  EXPECT_NE(call.message().find(needle), std::string::npos)
      << "message '" << call.message() << "' does not mention " << needle;
}

TEST(RmsNormBadInput, ErrorsNameTheArgument) {
  Tensor x = Tensor::zeros({4, 8}, DType::kF32), w = Tensor::zeros({8}, DType::kF32);
  Tensor out = Tensor::zeros({4, 8}, DType::kF32);
  {
    KernelCall c;  // weight of rank 2
    c.tensor(x).tensor(Tensor::zeros({1, 8}, DType::kF32)).tensor(out).attr_float("eps", 1e-6);
    expect_invalid(c, khub_rmsnorm_rms_norm_forward, "weight has 2 dims, expected 1");
  }
  {
    KernelCall c;  // x of rank 0
    c.tensor(Tensor::zeros({}, DType::kF32)).tensor(w).tensor(out).attr_float("eps", 1e-6);
    expect_invalid(c, khub_rmsnorm_rms_norm_forward, "x has 0 dims");
  }
  {
    KernelCall c;  // out of another shape
    c.tensor(x).tensor(w).tensor(Tensor::zeros({4, 9}, DType::kF32)).attr_float("eps", 1e-6);
    expect_invalid(c, khub_rmsnorm_rms_norm_forward, "out has shape [4, 9], expected [4, 8]");
  }
  {
    KernelCall c;  // weight of the wrong length
    c.tensor(x).tensor(Tensor::zeros({7}, DType::kF32)).tensor(out).attr_float("eps", 1e-6);
    expect_invalid(c, khub_rmsnorm_rms_norm_forward, "weight has shape [7]");
  }
  {
    KernelCall c;  // unsupported dtype
    c.tensor(Tensor::zeros({4, 8}, DType::kF64)).tensor(w).tensor(out).attr_float("eps", 1e-6);
    expect_invalid(c, khub_rmsnorm_rms_norm_forward, "x has dtype f64, expected one of f32");
  }
  {
    KernelCall c;  // mixed dtypes
    c.tensor(x).tensor(Tensor::zeros({8}, DType::kBF16)).tensor(out).attr_float("eps", 1e-6);
    expect_invalid(c, khub_rmsnorm_rms_norm_forward, "weight has dtype bf16, expected f32");
  }
  {
    KernelCall c;  // index dtype
    c.tensor(x).tensor(w).tensor(Tensor::zeros({4, 8}, DType::kI32)).attr_float("eps", 1e-6);
    expect_invalid(c, khub_rmsnorm_rms_norm_forward, "out has dtype i32");
  }
  {
    KernelCall c;  // missing eps
    c.tensor(x).tensor(w).tensor(out);
    expect_invalid(c, khub_rmsnorm_rms_norm_forward, "attributes");
  }
  {
    KernelCall c;  // eps of the wrong name
    c.tensor(x).tensor(w).tensor(out).attr_float("epsilon", 1e-6);
    expect_invalid(c, khub_rmsnorm_rms_norm_forward, "attribute eps is missing");
  }
  {
    KernelCall c;  // negative eps
    c.tensor(x).tensor(w).tensor(out).attr_float("eps", -1);
    expect_invalid(c, khub_rmsnorm_rms_norm_forward, "attribute eps is -1");
  }
  {
    KernelCall c;  // too few tensors
    c.tensor(x).tensor(w).attr_float("eps", 1e-6);
    expect_invalid(c, khub_rmsnorm_rms_norm_forward, "call has 2 tensors, expected 3");
  }
  {
    KernelCall c;  // a broadcast output
    Tensor bcast =
        Tensor::from_blob(out.data(), {4, 8}, DType::kF32, Device::cpu(), out.storage(), {0, 1});
    c.tensor(x).tensor(w).tensor(bcast).attr_float("eps", 1e-6);
    expect_invalid(c, khub_rmsnorm_rms_norm_forward, "out has stride 0 in dim 0");
  }
  {
    KernelCall c;  // a tensor on another device
    DLTensor dx = to_dltensor(x);
    dx.device = {kDLCUDA, 0};
    c.raw(dx).tensor(w).tensor(out).attr_float("eps", 1e-6);
    expect_invalid(c, khub_rmsnorm_rms_norm_forward, "x is on DLPack device type 2");
  }
  {
    KernelCall c;  // fused: residual of another shape
    c.tensor(x).tensor(Tensor::zeros({2, 8}, DType::kF32)).tensor(w).tensor(out);
    c.attr_float("eps", 1e-6);
    expect_invalid(c, khub_rmsnorm_fused_add_rms_norm_forward, "residual has shape [2, 8]");
  }
  {
    KernelCall c;  // backward: grad_weight of another length
    c.tensor(x).tensor(w).tensor(x).tensor(out).tensor(Tensor::zeros({9}, DType::kF32));
    c.attr_float("eps", 1e-6);
    expect_invalid(c, khub_rmsnorm_rms_norm_backward, "grad_weight has shape [9], expected [8]",
                   workspace_of("rms_norm_backward"));
  }
  {
    KernelCall c;  // backward: workspace smaller than the query
    c.tensor(x).tensor(w).tensor(x).tensor(out).tensor(Tensor::zeros({8}, DType::kF32));
    c.attr_float("eps", 1e-6).workspace_override(16);
    expect_invalid(c, khub_rmsnorm_rms_norm_backward, "workspace is 16 bytes, expected at least",
                   workspace_of("rms_norm_backward"));
    EXPECT_EQ(c.workspace_bytes(), 4u * 8 * 4);  // 4 rows -> 4 groups of 8 floats
  }
}

TEST(RmsNormBadInput, IsaOverride) {
  Tensor x = Tensor::zeros({4, 8}, DType::kF32), w = Tensor::zeros({8}, DType::kF32);
  Tensor out = Tensor::zeros({4, 8}, DType::kF32);
  {
    ScopedIsa bogus("sse9");
    KernelCall c;
    c.tensor(x).tensor(w).tensor(out).attr_float("eps", 1e-6);
    expect_invalid(c, khub_rmsnorm_rms_norm_forward, "KHUB_CPU_ISA is 'sse9'");
  }
  if (!isa_available("avx512")) {
    ScopedIsa missing("avx512");
    KernelCall c;
    c.tensor(x).tensor(w).tensor(out).attr_float("eps", 1e-6);
    EXPECT_EQ(c.run(khub_rmsnorm_rms_norm_forward), KHUB_STATUS_UNSUPPORTED);
    EXPECT_NE(c.message().find("KHUB_CPU_ISA=avx512"), std::string::npos) << c.message();
  }
}

TEST(RmsNormBadInput, NullCallAndNullError) {
  khub_error e{};
  e.struct_version = 1;
  EXPECT_EQ(khub_rmsnorm_rms_norm_forward(nullptr, &e), KHUB_STATUS_INVALID_ARGUMENT);
  EXPECT_NE(std::string(e.message).find("call is NULL"), std::string::npos);
  EXPECT_EQ(khub_rmsnorm_rms_norm_forward(nullptr, nullptr), KHUB_STATUS_INVALID_ARGUMENT);
}

}  // namespace
}  // namespace khub::kernel_test
