// Mixture of experts on CUDA against the CPU path (khub's reference, itself checked against
// float64 and transformers): the CUDA reference ops (routing on the device, per-expert cuBLAS
// GEMMs) and khub-community/moe's CUDA variant (sort by expert, grouped GEMMs, weighted
// unpermute), in f32 and bf16, on routings where most experts get no token and one gets all,
// random ones, gpt-oss's biases and clamped SwiGLU, decode and a long prefill; then whole models
// (qwen3_moe, mixtral, gpt_oss tiny) loaded with --device cuda, with and without the kernels and
// captured into CUDA graphs, against the CPU's greedy tokens. Label "gpu".
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>

#include "kernels_dir.h"
#include "models/causal_lm.h"
#include "models/generation.h"
#include "models/init_weights.h"
#include "ops/elementwise.h"
#include "ops/linear.h"
#include "ops/moe.h"

namespace khub {
namespace {

namespace fs = std::filesystem;
using testing::as_f64;
using testing::expect_close;
using testing::randn_host;

struct Case {
  const char* name;
  int64_t t, h, inter, e, k;
  bool gpt_oss = false;  // router and expert biases, top-k then softmax, clamped SwiGLU
  int64_t winner = -1;   // >= 0: every token's first choice
};

struct Weights {
  Tensor x, router, router_bias, gate_up, gate_up_bias, down, down_bias;
  Weights to(Device d, DType dt) const {
    Weights w;
    auto mv = [&](const Tensor& t) { return t.defined() ? ops::cast(t.to(d), dt) : t; };
    w = {mv(x),    mv(router),   mv(router_bias), mv(gate_up), mv(gate_up_bias),
         mv(down), mv(down_bias)};
    return w;
  }
};

class MoeCuda : public testing::KernelProjectTest {
 protected:
  MoeCuda() : KernelProjectTest("moe") {}

  Weights make(const Case& c, DType dt) {
    Weights w;
    w.x = randn_host({c.t, c.h}, rng_, dt);
    w.router = randn_host({c.e, c.h}, rng_, dt, 0.2);
    if (c.winner >= 0) {
      Tensor x = w.x.to(DType::kF32), r = w.router.to(DType::kF32);
      for (int64_t i = 0; i < c.t; ++i) x.data_as<float>()[i * c.h] = 3.0f;
      for (int64_t e = 0; e < c.e; ++e) r.data_as<float>()[e * c.h] = e == c.winner ? 4.0f : 0;
      w.x = x.to(dt);
      w.router = r.to(dt);
    }
    double s = c.gpt_oss ? 1.0 : 1.0 / std::sqrt(static_cast<double>(c.h));
    w.gate_up = randn_host({c.e, 2 * c.inter, c.h}, rng_, dt, s);
    w.down = randn_host({c.e, c.h, c.inter}, rng_, dt, 1.0 / std::sqrt(double(c.inter)));
    if (c.gpt_oss) {
      w.router_bias = randn_host({c.e}, rng_, dt, 0.5);
      w.gate_up_bias = randn_host({c.e, 2 * c.inter}, rng_, dt);
      w.down_bias = randn_host({c.e, c.h}, rng_, dt, 0.5);
    }
    return w;
  }
  static ops::ExpertActivation act(const Case& c) {
    ops::ExpertActivation a;
    if (c.gpt_oss) a.swiglu_limit = 7.0f;
    return a;
  }
  // The reference path on w's device: router linear, f32 routing, experts.
  static Tensor reference(const Case& c, const Weights& w, ops::ExpertRoutes* routes = nullptr) {
    Tensor logits = ops::cast(ops::linear(w.x, w.router, w.router_bias), DType::kF32);
    ops::ExpertRoutes r = c.gpt_oss ? ops::route_topk_softmax(logits, c.k)
                                    : ops::route_softmax_topk(logits, c.k, true);
    if (routes) *routes = r;
    return ops::moe_experts(w.x, r, w.gate_up, w.down, act(c), w.gate_up_bias, w.down_bias);
  }
  Tensor kernel(const Case& c, const Weights& w) {
    Tensor out = Tensor::empty(w.x.shape(), w.x.dtype(), w.x.device());
    loader::KernelArgs args{{{"x", w.x},
                             {"router_weight", w.router},
                             {"gate_up", w.gate_up},
                             {"down", w.down},
                             {"out", out}},
                            {{"top_k", c.k},
                             {"topk_softmax", c.gpt_oss},
                             {"renormalize", !c.gpt_oss},
                             {"swiglu_limit", c.gpt_oss ? 7.0 : 0.0}}};
    if (c.gpt_oss) {
      args.tensors.push_back({"router_bias", w.router_bias});
      args.tensors.push_back({"gate_up_bias", w.gate_up_bias});
      args.tensors.push_back({"down_bias", w.down_bias});
    }
    kernel_->layer("MoE").forward(args, on_stream());
    return out;
  }
};

const Case kCases[] = {
    {"one expert takes all, top-1", 40, 96, 64, 7, 1, false, 3},
    {"one expert takes all, top-2", 40, 96, 64, 7, 2, false, 3},
    {"random top-4 of 32", 300, 128, 96, 32, 4},
    {"decode", 1, 256, 192, 32, 4},
    {"gpt-oss", 65, 96, 80, 12, 4, true},
    {"gpt-oss one expert", 33, 96, 80, 12, 2, true, 5},
    {"prefill", 2048, 256, 128, 16, 2},
};

TEST_F(MoeCuda, CudaReferenceAndKernelMatchTheCpuPath) {
  for (const Case& c : kCases) {
    for (DType dt : {DType::kF32, DType::kBF16}) {
      std::string what = std::string(c.name) + " " + std::string(dtype_name(dt)) + " (seed " +
                         std::to_string(seed_) + ")";
      Weights host = make(c, dt);
      // The CPU path in f32 on the same (rounded) values.
      ops::ExpertRoutes cpu_routes;
      Tensor want_t = reference(c, host.to(Device::cpu(), DType::kF32), &cpu_routes);
      if (c.winner >= 0) {
        for (int64_t i = 0; i < c.t; ++i) ASSERT_EQ(cpu_routes.expert[i * c.k], c.winner) << what;
      }
      Weights dev = host.to(Device::cuda(0), dt);
      ops::ExpertRoutes gpu_routes;
      Tensor ref = reference(c, dev, &gpu_routes);
      if (dt == DType::kF32) {
        EXPECT_EQ(gpu_routes.expert, cpu_routes.expert) << what;
      } else {
        // bf16 router logits tie and reorder close experts: the CPU experts on the device's
        // routes (the kernel rounds its logits to bf16 as the reference does).
        Weights f32 = host.to(Device::cpu(), DType::kF32);
        want_t = ops::moe_experts(f32.x, gpu_routes, f32.gate_up, f32.down, act(c),
                                  f32.gate_up_bias, f32.down_bias);
      }
      std::vector<double> want = as_f64(want_t);
      // bf16: the reference rounds each product; three roundings per path.
      const double rtol = dt == DType::kF32 ? 1e-4 : 6e-2;
      expect_close(ref, want, rtol, "CUDA reference, " + what);
      expect_close(kernel(c, dev), want, rtol, "CUDA kernel, " + what);
    }
  }
}

TEST_F(MoeCuda, KernelIsDeterministic) {
  const Case c{"random", 257, 128, 96, 9, 2};
  Weights dev = make(c, DType::kBF16).to(Device::cuda(0), DType::kBF16);
  std::vector<double> a = as_f64(kernel(c, dev)), b = as_f64(kernel(c, dev));
  EXPECT_EQ(a, b);
}

// Whole models on CUDA: greedy tokens of the CPU model (f32), with and without the kernels and
// in compile mode (graphs replayed); bf16 runs and keeps its first token.
class MoeModelsCuda : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    KHUB_SKIP_WITHOUT_CUDA();
    dir_ = fs::temp_directory_path() / ("khub_moe_cuda_" + GetParam() + std::to_string(getpid()));
    // head_dim 64: flash-attn serves Attention, so compile mode can capture the decode steps.
    InitModelOptions o{.arch = GetParam(), .preset = "tiny", .seed = 3};
    o.overrides = {{"head_dim", 64}};
    if (GetParam() == "gpt_oss") o.overrides["quantization_config"] = {{"quant_method", "mxfp4"}};
    write_random_checkpoint(o, dir_.string());
    // The build's bundled hub, unless the GPU machine's package names its own (moe_checks.sh).
    setenv("KHUB_HUB_PATH", KHUB_TEST_HUB, 0);
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::vector<int32_t> greedy(CausalLM& m) {
    GenerationOptions g;
    g.max_new_tokens = 16;
    g.ignore_eos = true;
    return generate(m, {{3, 1, 4, 1, 5, 9, 2, 6}}, g).tokens[0];
  }
  // The prefill's logits, as float64 on the host.
  static std::vector<double> logits(CausalLM& m) {
    KVCache cache = m.make_cache(1, 8);
    return as_f64(m.forward({{0, {3, 1, 4, 1, 5, 9, 2, 6}}}, cache, true));
  }
  fs::path dir_;
};

void expect_close_logits(const std::vector<double>& got, const std::vector<double>& want,
                         const std::string& what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  double mx = 0, diff = 0;
  for (size_t i = 0; i < want.size(); ++i) {
    mx = std::max(mx, std::fabs(want[i]));
    diff = std::max(diff, std::fabs(got[i] - want[i]));
  }
  EXPECT_LE(diff, 5e-2 * mx) << what;
}

TEST_P(MoeModelsCuda, GreedyTokensMatchTheCpu) {
  auto cpu = CausalLM::from_pretrained(dir_.string());
  std::vector<int32_t> want = greedy(*cpu);
  LoadOptions f32{.device = "cuda", .dtype = "f32"};
  EXPECT_EQ(greedy(*CausalLM::from_pretrained(dir_.string(), f32)), want) << "CUDA reference";
  LoadOptions kernels = f32;
  kernels.use_kernels = true;
  auto ker = CausalLM::from_pretrained(dir_.string(), kernels);
  const KeyDecision* d = ker->kernel_report().find("MoE");
  ASSERT_NE(d, nullptr);
  ASSERT_TRUE(d->kernel.has_value()) << d->reason;
  EXPECT_NE(d->kernel->variant.find("cu130"), std::string::npos);
  EXPECT_EQ(greedy(*ker), want) << "CUDA kernels";
  // bf16, the kernels captured into graphs, against the bf16 CUDA reference (the same roundings
  // of the router logits, so the same routes) within bf16 rounding; the bf16 reference against
  // the CPU's f32 logits by their argmax (bf16 may reorder close experts, so no elementwise bound).
  LoadOptions bf16{.device = "cuda", .dtype = "bf16", .use_kernels = true};
  bf16.mode = Mode::kInference | Mode::kCompile;
  auto graph = CausalLM::from_pretrained(dir_.string(), bf16);
  EXPECT_TRUE(graph->kernel_report().find("MoE")->kernel.has_value());
  LoadOptions bf16_ref{.device = "cuda", .dtype = "bf16"};
  auto ref = CausalLM::from_pretrained(dir_.string(), bf16_ref);
  std::vector<double> ref_logits = logits(*ref);
  expect_close_logits(logits(*graph), ref_logits, "bf16 kernels against the bf16 reference");
  EXPECT_EQ(greedy(*graph).size(), want.size());
  EXPECT_GT(graph->graph_replays(), 0) << "decode steps were not captured";
  std::vector<double> cpu_logits = logits(*cpu);
  const int64_t vocab = cpu->config().vocab_size, rows = cpu_logits.size() / vocab;
  int64_t same = 0;
  for (int64_t r = 0; r < rows; ++r) {
    auto argmax = [&](const std::vector<double>& v) {
      return std::max_element(v.begin() + r * vocab, v.begin() + (r + 1) * vocab) - v.begin();
    };
    same += argmax(cpu_logits) == argmax(ref_logits);
  }
  EXPECT_GE(same * 8, rows * 5) << same << " of " << rows << " bf16 argmaxes match the CPU's";
}

INSTANTIATE_TEST_SUITE_P(Archs, MoeModelsCuda,
                         ::testing::Values("qwen3_moe", "mixtral", "gpt_oss"));

}  // namespace
}  // namespace khub
