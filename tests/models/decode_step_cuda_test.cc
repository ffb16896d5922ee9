// The `DecodeStep` kernel (khub-community/decode-step, from the bundled hub) on CUDA (label
// "gpu"; skipped without a device, or below compute capability 9.0 which the kernel needs): a
// batch-1 decode step of the whole stack in one persistent launch must give the per-layer CUDA
// path's greedy tokens and its logits within bf16 tolerance — eager and replayed from CUDA graphs,
// on qwen3 (q/k norms) and llama shapes, on every SM and on a few blocks only (no deadlock when
// fewer SMs than the device has run it) — and stacks it does not serve must fall back visibly.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <filesystem>

#include "core/cuda.h"
#include "models/causal_lm.h"
#include "models/generation.h"
#include "models/init_weights.h"
#include "testutil/bundled_hub.h"

namespace khub {
namespace {

namespace fs = std::filesystem;

struct Case {
  std::string arch, preset;
  nlohmann::json overrides;
  int blocks;  // KHUB_DECODE_STEP_BLOCKS (0: one per SM)
};

std::string case_name(const ::testing::TestParamInfo<Case>& i) {
  return i.param.arch + "_" + i.param.preset + "_blocks" + std::to_string(i.param.blocks);
}

class DecodeStepCuda : public ::testing::TestWithParam<Case> {
 protected:
  void SetUp() override {
    if (!cuda_available()) GTEST_SKIP() << "no CUDA device: " << cuda_status();
    CudaDeviceProperties p = cuda_device_properties(0);
    if (p.major != 9) GTEST_SKIP() << "the decode-step kernel is built for sm_90a, not " << p.name;
    testing::use_bundled_hub(KHUB_TEST_HUB, "khub-community/decode-step");
    if (HasFatalFailure()) return;
    setenv("KHUB_DECODE_STEP", "1", 1);  // opt-in (kernel_bindings_decode_step.cc)
    setenv("KHUB_DECODE_STEP_BLOCKS", std::to_string(GetParam().blocks).c_str(), 1);
    dir_ = fs::temp_directory_path() /
           ("khub_decode_step_" + case_name({GetParam(), 0}) + "_" + std::to_string(getpid()));
    InitModelOptions o;
    o.arch = GetParam().arch;
    o.preset = GetParam().preset;
    o.dtype = "bf16";
    o.seed = 11;
    for (auto& [k, v] : GetParam().overrides.items()) o.overrides[k] = v;
    write_random_checkpoint(o, dir_.string());
  }
  void TearDown() override {
    unsetenv("KHUB_DECODE_STEP_BLOCKS");
    if (!dir_.empty()) fs::remove_all(dir_);
  }
  std::unique_ptr<CausalLM> load(bool fused, bool compile) const {
    LoadOptions o;
    o.device = "cuda";
    o.dtype = "bf16";
    o.use_kernels = true;
    o.mode = compile ? Mode::kInference | Mode::kCompile : Mode::kInference;
    if (!fused) o.kernel_config = KernelConfig{{{"DecodeStep", ""}}};
    return CausalLM::from_pretrained(dir_.string(), o);
  }
  fs::path dir_;
};

std::vector<float> host_floats(const Tensor& t) {
  Tensor h = t.to(Device::cpu());
  return std::vector<float>(h.data_as<float>(), h.data_as<float>() + h.numel());
}

int64_t argmax(const std::vector<float>& v) {
  return std::max_element(v.begin(), v.end()) - v.begin();
}

TEST_P(DecodeStepCuda, MatchesThePerLayerPath) {
  auto base = load(false, false);
  auto fused = load(true, false);
  auto graph = load(true, true);
  const KeyDecision* off = base->kernel_report().find("DecodeStep");
  ASSERT_NE(off, nullptr);
  EXPECT_FALSE(off->kernel.has_value());
  for (CausalLM* m : {fused.get(), graph.get()}) {
    const KeyDecision* d = m->kernel_report().find("DecodeStep");
    ASSERT_NE(d, nullptr);
    ASSERT_TRUE(d->kernel.has_value()) << "DecodeStep fell back: " << d->reason;
  }

  // A prefill (per-layer on all three), then decode steps fed the per-layer path's greedy picks:
  // logits within bf16 tolerance, the same argmax.
  std::vector<int32_t> prompt = {1, 7, 19, 42, 5, 77, 3, 11, 90};
  const int64_t cap = 96;
  KVCache cb = base->make_cache(1, cap), cf = fused->make_cache(1, cap),
          cg = graph->make_cache(1, cap);
  std::vector<float> lb = host_floats(base->forward({{0, prompt}}, cb));
  std::vector<float> lf = host_floats(fused->forward({{0, prompt}}, cf));
  std::vector<float> lg = host_floats(graph->forward({{0, prompt}}, cg));
  EXPECT_EQ(lb, lf) << "the prefill runs the per-layer path on both";
  EXPECT_EQ(fused->fused_decode_steps(), 0);
  int mismatched = 0;
  for (int step = 0; step < 40; ++step) {
    int32_t tok = static_cast<int32_t>(argmax(lb));
    lb = host_floats(base->forward({{0, {tok}}}, cb));
    lf = host_floats(fused->forward({{0, {tok}}}, cf));
    lg = host_floats(graph->forward({{0, {tok}}}, cg));
    double worst = 0, scale = 0;
    for (size_t i = 0; i < lb.size(); ++i) {
      worst = std::max(worst, std::fabs(double(lb[i]) - lf[i]));
      scale = std::max(scale, std::fabs(double(lb[i])));
    }
    EXPECT_LE(worst / scale, 3e-2) << "step " << step << ": fused vs per-layer logits";
    EXPECT_EQ(lf, lg) << "step " << step << ": graph replay differs from the eager kernel";
    // The same pick unless the per-layer path's top two are within bf16 noise of each other.
    std::vector<float> sorted = lb;
    std::nth_element(sorted.begin(), sorted.begin() + 1, sorted.end(), std::greater<float>());
    if (argmax(lf) != argmax(lb)) {
      ++mismatched;
      EXPECT_LE(sorted[0] - sorted[1], 1e-2 * scale) << "step " << step << ": a clear pick differs";
    }
  }
  EXPECT_LE(mismatched, 1);
  EXPECT_EQ(fused->fused_decode_steps(), 40);
  EXPECT_GE(graph->graph_replays(), 39);

  // generate(): the look-ahead greedy loop (graphs ending in the argmax) against the per-layer
  // path's plain loop.
  GenerationOptions g;
  g.max_new_tokens = 24;
  g.ignore_eos = true;
  g.lookahead = false;
  GenerationResult want = generate(*base, {prompt}, g);
  g.lookahead = true;
  EXPECT_EQ(generate(*graph, {prompt}, g).tokens, want.tokens);
  EXPECT_EQ(generate(*fused, {prompt}, g).tokens, want.tokens);
}

INSTANTIATE_TEST_SUITE_P(Stacks, DecodeStepCuda,
                         ::testing::Values(Case{"qwen3",
                                                "tiny",
                                                {{"head_dim", 64},
                                                 {"hidden_size", 128},
                                                 {"intermediate_size", 256},
                                                 {"num_hidden_layers", 3}},
                                                0},
                                           Case{"llama",
                                                "tiny",
                                                {{"head_dim", 128},
                                                 {"hidden_size", 256},
                                                 {"intermediate_size", 512},
                                                 {"num_hidden_layers", 3}},
                                                0},
                                           Case{"qwen3", "small", {{"num_hidden_layers", 4}}, 0},
                                           // Fewer blocks than SMs: every unit still runs, the
                                           // counters never wait on a block that is not there.
                                           Case{"qwen3", "small", {{"num_hidden_layers", 4}}, 5},
                                           Case{"llama",
                                                "tiny",
                                                {{"head_dim", 64},
                                                 {"hidden_size", 128},
                                                 {"intermediate_size", 256},
                                                 {"num_hidden_layers", 2}},
                                                1}),
                         case_name);

// A stack the kernel does not serve stays on the per-layer path, and the report says why.
TEST(DecodeStepCudaFallback, QkvBiasFallsBackVisibly) {
  if (!cuda_available()) GTEST_SKIP() << "no CUDA device: " << cuda_status();
  if (cuda_device_properties(0).major != 9) GTEST_SKIP() << "needs compute capability 9.0";
  const char* env = std::getenv("KHUB_HUB_PATH");
  setenv("KHUB_HUB_PATH", env != nullptr ? env : KHUB_TEST_HUB, 1);
  setenv("HF_HUB_OFFLINE", "1", 1);
  fs::path dir = fs::temp_directory_path() / ("khub_decode_step_qwen2_" + std::to_string(getpid()));
  InitModelOptions o;
  o.arch = "qwen2";  // q/k/v biases
  o.preset = "tiny";
  o.dtype = "bf16";
  o.overrides = {{"head_dim", 64}, {"hidden_size", 128}, {"intermediate_size", 256}};
  write_random_checkpoint(o, dir.string());
  LoadOptions l;
  l.device = "cuda";
  l.dtype = "bf16";
  l.use_kernels = true;
  l.mode = Mode::kInference;
  auto model = CausalLM::from_pretrained(dir.string(), l);
  const KeyDecision* d = model->kernel_report().find("DecodeStep");
  ASSERT_NE(d, nullptr);
  EXPECT_FALSE(d->kernel.has_value());
  EXPECT_NE(d->reason.find("does not declare support for bias"), std::string::npos) << d->reason;
  KVCache cache = model->make_cache(1, 16);
  model->forward({{0, {1, 2, 3}}}, cache);
  model->forward({{0, {4}}}, cache);
  EXPECT_EQ(model->fused_decode_steps(), 0);
  fs::remove_all(dir);
}

}  // namespace
}  // namespace khub
