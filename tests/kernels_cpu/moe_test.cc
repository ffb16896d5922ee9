// khub-community/moe on the CPU against khub's reference path (ops::route_* and ops::moe_experts,
// themselves checked against float64 and transformers in tests/models): routings where most
// experts get no token and one gets them all, top-k 1 and 2, an expert count that is no power of
// two, decode (one token), bf16 weights, gpt-oss's router bias, expert biases and clamped SwiGLU
// with pre-activations past the limit, and clear errors for bad shapes and a short workspace.
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "kernel_test_util.h"
#include "ops/elementwise.h"
#include "ops/linear.h"
#include "ops/moe.h"

extern "C" {
const khub_manifest* khub_kernel_manifest(void);
khub_status khub_moe_moe_forward(const khub_call*, khub_error*);
}

namespace khub::kernel_test {
namespace {

Tensor randn(Shape shape, std::mt19937& rng, double scale) {
  std::normal_distribution<float> d(0.0f, static_cast<float>(scale));
  std::vector<float> v(shape_numel(shape));
  for (float& x : v) x = d(rng);
  return Tensor::from_vector(v, shape, DType::kF32);
}

struct Case {
  int64_t t, h, inter, e, k;
  bool topk_softmax = false, renormalize = false, biases = false;
  float swiglu_limit = 0.0f;
  DType weight_dtype = DType::kF32;
  int64_t winner = -1;  // >= 0: every token's first choice is this expert
  double weight_scale = 0.3;
};

struct Weights {
  Tensor x, router, router_bias, gate_up, gate_up_bias, down, down_bias;
};

Weights make(const Case& c, uint32_t seed) {
  std::mt19937 rng(seed);
  Weights w;
  w.x = randn({c.t, c.h}, rng, 1.0);
  w.router = randn({c.e, c.h}, rng, 0.2);
  if (c.winner >= 0) {
    // x[:, 0] is large and positive and only the winner's router row weighs it: its logit leads
    // every token's by a wide margin.
    for (int64_t i = 0; i < c.t; ++i) w.x.data_as<float>()[i * c.h] = 3.0f + 0.01f * i;
    for (int64_t x = 0; x < c.e; ++x) w.router.data_as<float>()[x * c.h] = x == c.winner ? 4.0f : 0;
  }
  w.gate_up = randn({c.e, 2 * c.inter, c.h}, rng, c.weight_scale);
  w.down = randn({c.e, c.h, c.inter}, rng, c.weight_scale);
  if (c.biases) {
    w.router_bias = randn({c.e}, rng, 0.5);
    w.gate_up_bias = randn({c.e, 2 * c.inter}, rng, 1.0);
    w.down_bias = randn({c.e, c.h}, rng, 0.5);
  }
  if (c.weight_dtype != DType::kF32) {
    for (Tensor* t :
         {&w.router, &w.router_bias, &w.gate_up, &w.gate_up_bias, &w.down, &w.down_bias}) {
      if (t->defined()) *t = ops::cast(*t, c.weight_dtype);
    }
  }
  return w;
}

ops::ExpertActivation activation(const Case& c) {
  ops::ExpertActivation a;
  a.swiglu_limit = c.swiglu_limit;
  return a;
}

ops::ExpertRoutes reference_routes(const Case& c, const Weights& w) {
  Tensor logits = ops::linear(w.x, w.router, w.router_bias);
  return c.topk_softmax ? ops::route_topk_softmax(logits, c.k)
                        : ops::route_softmax_topk(logits, c.k, c.renormalize);
}

Tensor reference(const Case& c, const Weights& w) {
  return ops::moe_experts(w.x, reference_routes(c, w), w.gate_up, w.down, activation(c),
                          w.gate_up_bias, w.down_bias);
}

DLTensor absent() { return DLTensor{}; }

khub_status run(const Case& c, const Weights& w, const Tensor& out, std::string* message,
                const Tensor& down_override = Tensor(), int64_t workspace_bytes = -1) {
  KernelCall call;
  call.tensor(w.x).tensor(w.router).tensor(w.gate_up);
  call.tensor(down_override.defined() ? down_override : w.down).tensor(out);
  for (const Tensor* b : {&w.router_bias, &w.gate_up_bias, &w.down_bias}) {
    if (b->defined()) {
      call.tensor(*b);
    } else {
      call.raw(absent());
    }
  }
  call.attr_int("top_k", c.k)
      .attr_bool("topk_softmax", c.topk_softmax)
      .attr_bool("renormalize", c.renormalize)
      .attr_float("swiglu_limit", c.swiglu_limit)
      .attr_float("swiglu_alpha", 1.702);
  if (workspace_bytes >= 0) call.workspace_override(static_cast<uint64_t>(workspace_bytes));
  const khub_function_desc* f = find_function(khub_kernel_manifest(), "moe_forward");
  khub_status st = call.run(khub_moe_moe_forward, f ? f->workspace_size : nullptr);
  *message = call.message();
  return st;
}

void expect_matches_reference(const Case& c, uint32_t seed, const char* what) {
  Weights w = make(c, seed);
  if (c.winner >= 0) {
    ops::ExpertRoutes r = reference_routes(c, w);
    for (int64_t i = 0; i < c.t; ++i) ASSERT_EQ(r.expert[i * c.k], c.winner) << what;
  }
  Tensor want = reference(c, w);
  Tensor got = Tensor::full({c.t, c.h}, std::nan(""), DType::kF32);
  std::string message;
  ASSERT_EQ(run(c, w, got, &message), KHUB_STATUS_OK) << what << ": " << message;
  std::vector<float> g = got.to_float_vector(), r = want.to_float_vector();
  double max_ref = 0;
  for (float v : r) max_ref = std::max(max_ref, double{std::fabs(v)});
  ASSERT_GT(max_ref, 0.0) << what << ": the reference is all zeros";
  for (size_t i = 0; i < r.size(); ++i) {
    // Dot products summed in another order than OpenBLAS: f32 rounding of the terms.
    ASSERT_NEAR(g[i], r[i], 2e-5 * (1.0 + max_ref)) << what << " at " << i;
  }
}

TEST(MoeKernelCpu, OneExpertGetsEveryTokenAndTheRestNone) {
  for (int64_t k : {1, 2}) {
    for (bool renorm : {false, true}) {
      Case c{.t = 9, .h = 24, .inter = 10, .e = 7, .k = k, .renormalize = renorm, .winner = 5};
      std::string what = "top-" + std::to_string(k) + (renorm ? " renormalized" : "");
      expect_matches_reference(c, 11 + static_cast<uint32_t>(k), what.c_str());
    }
  }
}

TEST(MoeKernelCpu, RandomRoutingWithBf16Weights) {
  Case c{.t = 33,
         .h = 40,
         .inter = 24,
         .e = 5,
         .k = 2,
         .renormalize = true,
         .weight_dtype = DType::kBF16};
  expect_matches_reference(c, 21, "bf16 weights");
  c.weight_dtype = DType::kF16;
  expect_matches_reference(c, 22, "f16 weights");
}

TEST(MoeKernelCpu, DecodeOneToken) {
  Case c{.t = 1, .h = 64, .inter = 48, .e = 9, .k = 2, .renormalize = true};
  expect_matches_reference(c, 31, "one token");
}

TEST(MoeKernelCpu, GptOssRouterBiasesAndClampedSwiglu) {
  // Weights large enough that many gate and up pre-activations pass ±7 (clamped).
  Case c{.t = 17,
         .h = 32,
         .inter = 16,
         .e = 6,
         .k = 2,
         .topk_softmax = true,
         .biases = true,
         .swiglu_limit = 7.0f,
         .weight_scale = 1.5};
  Weights w = make(c, 41);
  Tensor gu = ops::linear(w.x, w.gate_up.select(0, 0), w.gate_up_bias.select(0, 0));
  int clamped = 0;
  for (float v : gu.to_float_vector()) clamped += std::fabs(v) > 7.0f;
  EXPECT_GT(clamped, 10) << "the case does not exercise the clamp";
  expect_matches_reference(c, 41, "gpt-oss");
  c.winner = 2;
  expect_matches_reference(c, 42, "gpt-oss, one expert takes all");
}

TEST(MoeKernelCpu, BadShapesAndShortWorkspaceAreClearErrors) {
  Case c{.t = 4, .h = 16, .inter = 8, .e = 3, .k = 1};
  Weights w = make(c, 51);
  Tensor out = Tensor::empty({c.t, c.h}, DType::kF32);
  std::string message;
  Tensor bad_down = Tensor::zeros({c.e, c.h, c.inter + 1}, DType::kF32);
  EXPECT_EQ(run(c, w, out, &message, bad_down), KHUB_STATUS_INVALID_ARGUMENT);
  EXPECT_NE(message.find("down has the wrong shape"), std::string::npos) << message;
  EXPECT_EQ(run(c, w, out, &message, Tensor(), 64), KHUB_STATUS_INVALID_ARGUMENT);
  EXPECT_NE(message.find("workspace has 64 bytes"), std::string::npos) << message;
  c.k = 4;  // more than the 3 experts
  EXPECT_EQ(run(c, w, out, &message), KHUB_STATUS_INVALID_ARGUMENT);
  EXPECT_NE(message.find("top_k 4 with 3 experts"), std::string::npos) << message;
}

TEST(MoeKernelCpu, ManifestDeclaresTheMoELayer) {
  const khub_manifest* m = khub_kernel_manifest();
  ASSERT_EQ(m->num_layers, 1);
  EXPECT_STREQ(m->layers[0].name, "MoE");
  EXPECT_STREQ(m->layers[0].forward, "moe_forward");
  EXPECT_EQ(m->layers[0].backward, nullptr);
}

}  // namespace
}  // namespace khub::kernel_test
