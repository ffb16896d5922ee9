// khub-community/rotary on the CPU: rotary_pos_emb forward and backward, NeoX and GPT-J layouts,
// full and partial rotary, every dtype and SIMD path, strided q/k/cos/sin, against a float64
// rotation on fresh random inputs; features past rotary_dim must come back bit-identical.
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <tuple>
#include <vector>

#include "kernel_test_util.h"

extern "C" {
const khub_manifest* khub_kernel_manifest(void);
khub_status khub_rotary_rotary_pos_emb_forward(const khub_call*, khub_error*);
khub_status khub_rotary_rotary_pos_emb_backward(const khub_call*, khub_error*);
}

namespace khub::kernel_test {
namespace {

struct Case {
  int64_t tokens, q_heads, k_heads, head_dim, rotary_dim;
  Layout qk_layout, table_layout;
  int threads;
};

std::vector<Case> cases() {
  return {
      {1, 1, 1, 2, 2, Layout::kContiguous, Layout::kContiguous, 1},
      {3, 4, 2, 64, 64, Layout::kTransposed, Layout::kContiguous, 1},  // [H, T, D] memory, like HF
      {5, 3, 1, 128, 32, Layout::kContiguous, Layout::kRowPadded, 2},  // partial rotary
      {2, 2, 2, 24, 24, Layout::kRowPadded, Layout::kContiguous, 1},   // R/2 = 12: SIMD tails
      {4, 2, 1, 10, 6, Layout::kInnerStrided, Layout::kInnerStrided, 1},  // odd pair count
      {7, 8, 2, 128, 128, Layout::kContiguous, Layout::kTransposed, 1},
      {9, 5, 5, 80, 64, Layout::kRowPadded, Layout::kContiguous, 1},
      {256, 16, 4, 128, 128, Layout::kContiguous, Layout::kContiguous, 3},  // several threads
      {0, 2, 2, 8, 8, Layout::kContiguous, Layout::kContiguous, 1},
  };
}

std::string describe(const Case& c, bool interleaved) {
  return std::string(interleaved ? "GPT-J" : "NeoX") + " T=" + std::to_string(c.tokens) +
         " Hq=" + std::to_string(c.q_heads) + " Hk=" + std::to_string(c.k_heads) +
         " Dh=" + std::to_string(c.head_dim) + " R=" + std::to_string(c.rotary_dim) + " qk " +
         layout_name(c.qk_layout) + " tables " + layout_name(c.table_layout) + " threads " +
         std::to_string(c.threads);
}

// cos/sin of positions 0..T-1 (shuffled by a random offset) at the usual frequencies.
void fill_tables(const Tensor& cos, const Tensor& sin, int64_t rotary_dim) {
  const int64_t tokens = cos.size(0), half = rotary_dim / 2;
  std::uniform_int_distribution<int> offset(0, 4000);
  const int start = offset(rng());
  std::vector<float> c(tokens * half), s(tokens * half);
  for (int64_t t = 0; t < tokens; ++t)
    for (int64_t i = 0; i < half; ++i) {
      double theta = (start + t) * std::pow(10000.0, -2.0 * i / rotary_dim);
      c[t * half + i] = static_cast<float>(std::cos(theta));
      s[t * half + i] = static_cast<float>(std::sin(theta));
    }
  Tensor dc = cos, ds = sin;
  dc.copy_from(Tensor::from_vector(c, cos.shape(), DType::kF32));
  ds.copy_from(Tensor::from_vector(s, sin.shape(), DType::kF32));
}

// The float64 rotation of x [T, H, Dh] (row-major values) by +theta or -theta; also the scale
// |x0 c| + |x1 s| of each rotated element. Features past R are copied.
void rotate_ref(const std::vector<double>& x, int64_t heads, int64_t head_dim, int64_t rotary_dim,
                const std::vector<double>& cos, const std::vector<double>& sin, bool interleaved,
                bool inverse, std::vector<double>* out, std::vector<double>* scale) {
  *out = x;
  scale->assign(x.size(), 0.0);
  const int64_t half = rotary_dim / 2;
  for (size_t r0 = 0; r0 < x.size(); r0 += head_dim) {
    const int64_t t = static_cast<int64_t>(r0 / head_dim) / heads;
    for (int64_t i = 0; i < half; ++i) {
      int64_t i0 = interleaved ? 2 * i : i, i1 = interleaved ? 2 * i + 1 : i + half;
      double c = cos[t * half + i], s = (inverse ? -1 : 1) * sin[t * half + i];
      double x0 = x[r0 + i0], x1 = x[r0 + i1];
      (*out)[r0 + i0] = x0 * c - x1 * s;
      (*out)[r0 + i1] = x1 * c + x0 * s;
      (*scale)[r0 + i0] = (*scale)[r0 + i1] = std::fabs(x0 * c) + std::fabs(x1 * s);
    }
    for (int64_t i = rotary_dim; i < head_dim; ++i) (*scale)[r0 + i] = 0;
  }
}

class RotaryTest : public ::testing::TestWithParam<std::tuple<std::string, DType>> {
 protected:
  void SetUp() override {
    if (!isa_available(isa())) GTEST_SKIP() << "this CPU cannot run the " << isa() << " path";
  }
  const std::string& isa() const { return std::get<0>(GetParam()); }
  DType dtype() const { return std::get<1>(GetParam()); }
  void check(const Case& c, bool interleaved, bool inverse);
};

void RotaryTest::check(const Case& c, bool interleaved, bool inverse) {
  ScopedIsa scoped(isa());
  TestTensor q = make_tensor({c.tokens, c.q_heads, c.head_dim}, dtype(), c.qk_layout);
  TestTensor k = make_tensor({c.tokens, c.k_heads, c.head_dim}, dtype(), c.qk_layout);
  TestTensor cos = make_tensor({c.tokens, c.rotary_dim / 2}, DType::kF32, c.table_layout);
  TestTensor sin = make_tensor({c.tokens, c.rotary_dim / 2}, DType::kF32, c.table_layout);
  fill_normal(q.view);
  fill_normal(k.view, 0.0, 4.0);
  fill_tables(cos.view, sin.view, c.rotary_dim);
  std::vector<double> qv = values(q.view), kv = values(k.view);
  std::vector<double> cv = values(cos.view), sv = values(sin.view);

  KernelCall call;
  call.tensor(q.view).tensor(k.view).tensor(cos.view).tensor(sin.view);
  call.attr_int("rotary_dim", c.rotary_dim).attr_bool("interleaved", interleaved);
  call.threads(c.threads);
  auto fn = inverse ? khub_rotary_rotary_pos_emb_backward : khub_rotary_rotary_pos_emb_forward;
  ASSERT_EQ(call.run(fn), KHUB_STATUS_OK) << call.message();

  Tolerance tol = tolerance_for(dtype(), 1.0);
  tol.stol = 1e-6;
  const std::string what = describe(c, interleaved) + (inverse ? " backward" : " forward");
  for (auto [t, x, heads, name] :
       {std::tuple{&q, &qv, c.q_heads, "q"}, std::tuple{&k, &kv, c.k_heads, "k"}}) {
    std::vector<double> ref, scale;
    rotate_ref(*x, heads, c.head_dim, c.rotary_dim, cv, sv, interleaved, inverse, &ref, &scale);
    EXPECT_TRUE(all_close((what + " " + name).c_str(), t->view, ref, scale, tol));
    // Features past rotary_dim are untouched: bit-identical (the tolerance above is 0 there,
    // since their scale and reference are the input itself, but say it plainly).
    std::vector<double> got = values(t->view);
    for (size_t r0 = 0; r0 < got.size(); r0 += c.head_dim)
      for (int64_t i = c.rotary_dim; i < c.head_dim; ++i)
        ASSERT_EQ(got[r0 + i], (*x)[r0 + i]) << name << " feature " << i << " changed";
    EXPECT_EQ(count_written(*t), t->view.numel()) << "writes outside " << name;
  }
}

TEST_P(RotaryTest, ForwardMatchesFloat64) {
  for (bool interleaved : {false, true})
    for (const Case& c : cases()) {
      SCOPED_TRACE(describe(c, interleaved));
      check(c, interleaved, false);
    }
}

TEST_P(RotaryTest, BackwardMatchesFloat64) {
  for (bool interleaved : {false, true})
    for (const Case& c : cases()) {
      SCOPED_TRACE(describe(c, interleaved));
      check(c, interleaved, true);
    }
}

// The backward undoes the forward (cos^2 + sin^2 = 1): f32 data comes back to within rounding.
TEST_P(RotaryTest, BackwardInvertsForward) {
  if (dtype() != DType::kF32) GTEST_SKIP() << "rounding to 16 bits twice is not invertible";
  ScopedIsa scoped(isa());
  for (bool interleaved : {false, true}) {
    TestTensor q = make_tensor({6, 4, 64}, dtype(), Layout::kContiguous);
    TestTensor k = make_tensor({6, 2, 64}, dtype(), Layout::kContiguous);
    TestTensor cos = make_tensor({6, 16}, DType::kF32, Layout::kContiguous);
    TestTensor sin = make_tensor({6, 16}, DType::kF32, Layout::kContiguous);
    fill_normal(q.view);
    fill_normal(k.view);
    fill_tables(cos.view, sin.view, 32);
    std::vector<double> q0 = values(q.view);
    for (auto fn : {khub_rotary_rotary_pos_emb_forward, khub_rotary_rotary_pos_emb_backward}) {
      KernelCall call;
      call.tensor(q.view).tensor(k.view).tensor(cos.view).tensor(sin.view);
      call.attr_int("rotary_dim", 32).attr_bool("interleaved", interleaved);
      ASSERT_EQ(call.run(fn), KHUB_STATUS_OK) << call.message();
    }
    std::vector<double> q1 = values(q.view);
    for (size_t i = 0; i < q0.size(); ++i) EXPECT_NEAR(q1[i], q0[i], 1e-6 * (1 + std::fabs(q0[i])));
  }
}

std::string param_name(const ::testing::TestParamInfo<std::tuple<std::string, DType>>& p) {
  return std::get<0>(p.param) + "_" + std::string(dtype_name(std::get<1>(p.param)));
}

INSTANTIATE_TEST_SUITE_P(AllPaths, RotaryTest,
                         ::testing::Combine(::testing::ValuesIn(all_isas()),
                                            ::testing::Values(DType::kF32, DType::kBF16,
                                                              DType::kF16)),
                         param_name);

TEST(RotaryManifest, DescribesTheLayer) {
  const khub_manifest* m = khub_kernel_manifest();
  EXPECT_STREQ(m->kernel_name, "rotary");
  ASSERT_EQ(m->num_layers, 1);
  EXPECT_STREQ(m->layers[0].name, "rotary_pos_emb");
  EXPECT_EQ(m->layers[0].flags, KHUB_LAYER_HAS_BACKWARD);
  const khub_function_desc* f = find_function(m, "rotary_pos_emb_forward");
  ASSERT_NE(f, nullptr);
  ASSERT_EQ(f->num_args, 4);
  const char* names[] = {"q", "k", "cos", "sin"};
  const int roles[] = {KHUB_ARG_INOUT, KHUB_ARG_INOUT, KHUB_ARG_INPUT, KHUB_ARG_INPUT};
  for (int i = 0; i < 4; ++i) {
    EXPECT_STREQ(f->args[i].name, names[i]);
    EXPECT_EQ(f->args[i].role, roles[i]);
  }
  ASSERT_EQ(f->num_attrs, 2);
  EXPECT_STREQ(f->attrs[0].name, "rotary_dim");
  EXPECT_STREQ(f->attrs[1].name, "interleaved");
  const khub_function_desc* b = find_function(m, "rotary_pos_emb_backward");
  ASSERT_NE(b, nullptr);
  EXPECT_STREQ(b->args[0].name, "grad_q");
  EXPECT_STREQ(b->args[1].name, "grad_k");
}

void expect_invalid(KernelCall& call, const std::string& needle) {
  EXPECT_EQ(call.run(khub_rotary_rotary_pos_emb_forward), KHUB_STATUS_INVALID_ARGUMENT);
  EXPECT_NE(call.message().find(needle), std::string::npos)
      << "message '" << call.message() << "' does not mention " << needle;
}

TEST(RotaryBadInput, ErrorsNameTheArgument) {
  auto t = [](Shape s, DType d = DType::kF32) { return Tensor::zeros(std::move(s), d); };
  struct Bad {
    Tensor q, k, cos, sin;
    int64_t rotary_dim;
    std::string needle;
  };
  const std::vector<Bad> bad = {
      {t({4, 2, 8, 1}), t({4, 1, 8}), t({4, 4}), t({4, 4}), 0, "q has 4 dims, expected 3"},
      {t({4, 2, 8}), t({3, 1, 8}), t({4, 4}), t({4, 4}), 0, "k has shape [3, 1, 8]"},
      {t({4, 2, 8}), t({4, 1, 6}), t({4, 4}), t({4, 4}), 0, "k has shape [4, 1, 6]"},
      {t({4, 2, 8}), t({4, 1, 8}, DType::kBF16), t({4, 4}), t({4, 4}), 0,
       "k has dtype bf16, expected f32"},
      {t({4, 2, 8}, DType::kBF16), t({4, 1, 8}, DType::kBF16), t({4, 4}, DType::kBF16),
       t({4, 4}, DType::kBF16), 0, "cos has dtype bf16, expected f32"},
      {t({4, 2, 8}), t({4, 1, 8}), t({5, 4}), t({5, 4}), 0, "cos has shape [5, 4]"},
      {t({4, 2, 8}), t({4, 1, 8}), t({4, 4}), t({4, 3}), 0,
       "sin has shape [4, 3], expected [4, 4]"},
      {t({4, 2, 8}), t({4, 1, 8}), t({4, 4}), t({4, 4}), 6, "cos has shape [4, 4]"},
      {t({4, 2, 8}), t({4, 1, 8}), t({4, 4}), t({4, 4}), 7, "attribute rotary_dim is 7"},
      {t({4, 2, 8}), t({4, 1, 8}), t({4, 8}), t({4, 8}), 0, "attribute rotary_dim is 16"},
      {t({4, 2, 8}, DType::kI32), t({4, 1, 8}), t({4, 4}), t({4, 4}), 0, "q has dtype i32"},
  };
  for (const Bad& b : bad) {
    SCOPED_TRACE(b.needle);
    KernelCall c;
    c.tensor(b.q).tensor(b.k).tensor(b.cos).tensor(b.sin);
    c.attr_int("rotary_dim", b.rotary_dim).attr_bool("interleaved", false);
    expect_invalid(c, b.needle);
  }
  KernelCall c;  // attribute of the wrong kind
  c.tensor(t({4, 2, 8})).tensor(t({4, 1, 8})).tensor(t({4, 4})).tensor(t({4, 4}));
  c.attr_float("rotary_dim", 8.0).attr_bool("interleaved", false);
  expect_invalid(c, "attribute rotary_dim has value kind 2, expected INT");
}

}  // namespace
}  // namespace khub::kernel_test
