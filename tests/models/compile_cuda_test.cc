// Mode Compile on CUDA (label "gpu"; skipped without a device): decode steps captured into CUDA
// graphs and replayed must produce exactly what the same kernels produce eagerly — the same
// logits bit for bit and the same greedy tokens — over a batch of prompts of different lengths,
// with the attention kernel (khub-community/flash-attn from the bundled hub) reading the growing
// lengths from device memory. The eager kernel path is also held to the reference path (bf16
// tolerance), so a graph that replays a wrong kernel faithfully still fails.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <cstring>
#include <filesystem>

#include "core/cuda.h"
#include "models/causal_lm.h"
#include "models/generation.h"
#include "models/init_weights.h"
#include "testutil/bundled_hub.h"

namespace khub {
namespace {

namespace fs = std::filesystem;

class CudaCompile : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    if (!cuda_available()) GTEST_SKIP() << "no CUDA device: " << cuda_status();
    testing::use_bundled_hub(KHUB_TEST_HUB, "khub-community/flash-attn");
    if (HasFatalFailure()) return;
    dir_ =
        fs::temp_directory_path() / ("khub_compile_" + GetParam() + "_" + std::to_string(getpid()));
    InitModelOptions o;
    o.arch = GetParam();
    o.preset = "tiny";
    o.dtype = "bf16";
    o.seed = 7;
    // flash-attn serves head_dim 64, 128 and 256.
    o.overrides = {{"head_dim", 64}, {"hidden_size", 128}};
    write_random_checkpoint(o, dir_.string());
  }
  void TearDown() override {
    if (!dir_.empty()) fs::remove_all(dir_);
  }
  LoadOptions options(bool kernels, bool compile) const {
    LoadOptions o;
    o.device = "cuda";
    o.dtype = "bf16";
    o.use_kernels = kernels;
    if (kernels) o.mode = compile ? Mode::kInference | Mode::kCompile : Mode::kInference;
    return o;
  }
  fs::path dir_;
};

std::vector<float> host_floats(const Tensor& t) {
  Tensor h = t.to(Device::cpu());
  return std::vector<float>(h.data_as<float>(), h.data_as<float>() + h.numel());
}

TEST_P(CudaCompile, GraphReplaysEqualEagerKernelsBitForBit) {
  auto ref = CausalLM::from_pretrained(dir_.string(), options(false, false));
  auto eager = CausalLM::from_pretrained(dir_.string(), options(true, false));
  auto graph = CausalLM::from_pretrained(dir_.string(), options(true, true));
  bool flash = false;
  for (const KeyDecision& d : graph->kernel_report().keys) {
    if (d.key == "Attention") {
      flash = d.kernel.has_value();
      EXPECT_TRUE(flash) << "Attention fell back: " << d.reason;
    }
    // The decode step runs the fused q/k-norm + rotary + cache-append kernel.
    if (d.key == "RotaryKVCache") EXPECT_TRUE(d.kernel.has_value()) << d.reason;
  }
  ASSERT_TRUE(flash);

  // Step by step on three caches: a prefill of three prompts, then decode steps of all three and,
  // later, of two (another batch size: a second graph).
  std::vector<std::vector<int32_t>> prompts = {{1, 5, 9, 13, 17, 21, 25}, {3, 4}, {30, 31, 32}};
  KVCache cr = ref->make_cache(3, 40), ce = eager->make_cache(3, 40), cg = graph->make_cache(3, 40);
  std::vector<SequenceChunk> chunks;
  for (int64_t s = 0; s < 3; ++s) chunks.push_back({s, prompts[s]});
  std::vector<float> lr = host_floats(ref->forward(chunks, cr));
  std::vector<float> le = host_floats(eager->forward(chunks, ce));
  std::vector<float> lg = host_floats(graph->forward(chunks, cg));
  EXPECT_EQ(le, lg) << "prefill (not captured) differs between two loads of the same kernels";
  int64_t vocab = graph->config().vocab_size;
  for (int step = 0; step < 12; ++step) {
    std::vector<SequenceChunk> next;
    for (int64_t s = 0; s < (step < 6 ? 3 : 2); ++s) {
      const float* row = le.data() + s * vocab;
      int32_t tok = static_cast<int32_t>(std::max_element(row, row + vocab) - row);
      next.push_back({s == 1 && step >= 6 ? 2 : s, {tok}});
    }
    // Eager kernels against the reference path: bf16 tolerance on the logits.
    double worst = 0, scale = 0;
    for (size_t i = 0; i < lr.size(); ++i) {
      worst = std::max(worst, std::fabs(double(lr[i]) - le[i]));
      scale = std::max(scale, std::fabs(double(lr[i])));
    }
    EXPECT_LE(worst / scale, 5e-2) << "step " << step << ": kernels vs reference";
    lr = host_floats(ref->forward(next, cr));
    le = host_floats(eager->forward(next, ce));
    lg = host_floats(graph->forward(next, cg));
    ASSERT_EQ(le.size(), lg.size());
    EXPECT_TRUE(std::memcmp(le.data(), lg.data(), le.size() * sizeof(float)) == 0)
        << "step " << step << ": graph replay differs from the eager kernels";
  }
  EXPECT_EQ(eager->graph_replays(), 0);
  EXPECT_EQ(graph->graph_replays(), 12);
  EXPECT_EQ(graph->graphs_captured(), 2);  // batch sizes 3 and 2

  // generate() end to end: the same greedy tokens from the plain loop on the eager kernels and
  // from the look-ahead loop (each step queued before the previous picks are read) on both: on the
  // graph model its greedy graphs, each ending in the argmax and fed the previous picks from
  // device memory. Then a stop token that ends one sequence mid-way.
  GenerationOptions g;
  g.max_new_tokens = 10;
  g.ignore_eos = true;
  for (bool stop : {false, true}) {
    g.lookahead = false;
    GenerationResult plain = generate(*eager, prompts, g);
    g.lookahead = true;
    int64_t replays = graph->graph_replays();
    EXPECT_EQ(generate(*eager, prompts, g).tokens, plain.tokens) << "stop " << stop;
    EXPECT_EQ(generate(*graph, prompts, g).tokens, plain.tokens) << "stop " << stop;
    EXPECT_GE(graph->graph_replays() - replays, 9) << "the look-ahead steps were not replays";
    g.stop_token_ids = {plain.tokens[1][3]};
  }
}

// With Attention on the reference path (it reads the lengths on the host), compile mode must not
// capture: decode runs eagerly, visibly (a warning), with the tokens of the eager model.
TEST_P(CudaCompile, ReferenceAttentionRunsEagerly) {
  LoadOptions o = options(true, true), e = options(true, false);
  o.kernel_config = e.kernel_config = KernelConfig{{{"Attention", ""}}};
  auto graph = CausalLM::from_pretrained(dir_.string(), o);
  ASSERT_FALSE(graph->kernel_report().find("Attention")->kernel.has_value());
  auto eager = CausalLM::from_pretrained(dir_.string(), e);
  GenerationOptions g;
  g.max_new_tokens = 6;
  g.ignore_eos = true;
  std::vector<std::vector<int32_t>> prompts = {{1, 2, 3}, {4, 5}};
  EXPECT_EQ(generate(*graph, prompts, g).tokens, generate(*eager, prompts, g).tokens);
  EXPECT_EQ(graph->graph_replays(), 0);
  EXPECT_EQ(graph->graphs_captured(), 0);
}

INSTANTIATE_TEST_SUITE_P(Archs, CudaCompile, ::testing::Values("qwen3", "gemma3", "llama"));

}  // namespace
}  // namespace khub
