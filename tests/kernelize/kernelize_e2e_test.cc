// kernelize end to end on the bundled hub (build/hub, published by `make build` from kernels/):
// the five architectures with --use-kernels produce the same greedy tokens and logits within
// tolerance; the report names the kernels; every switch and fallback of the user's document
// behaves as documented.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>

#include "hub/source/revision_id.h"
#include "kernelize/kernelize.h"
#include "layers/decode_step.h"
#include "models/causal_lm.h"
#include "models/generation.h"
#include "models/init_weights.h"

namespace khub {
namespace {

namespace fs = std::filesystem;

class KernelizeE2E : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    hub_ = KHUB_TEST_HUB;
    ASSERT_TRUE(fs::exists(hub_ + "/khub-community/rmsnorm"))
        << hub_ << " has no kernels: run `make build` (scripts/publish_bundled_hub.sh) first";
    root_ = fs::temp_directory_path() / ("khub_kz_" + std::to_string(getpid()));
    for (const char* arch : {"llama", "mistral", "qwen2", "qwen3", "gemma3"}) {
      write_random_checkpoint({.arch = arch, .preset = "tiny", .seed = 5}, (root_ / arch).string());
    }
  }
  static void TearDownTestSuite() { fs::remove_all(root_); }
  void SetUp() override {
    setenv("KHUB_HUB_PATH", hub_.c_str(), 1);
    unsetenv("USE_HUB_KERNELS");
    unsetenv("DISABLE_KERNEL_MAPPING");
    unsetenv("LOCAL_KERNELS");
  }
  static std::string model(const char* arch) { return (root_ / arch).string(); }

  static inline std::string hub_;
  static inline fs::path root_;
};

std::vector<int32_t> greedy(CausalLM& m) {
  GenerationOptions g;
  g.max_new_tokens = 12;
  g.ignore_eos = true;
  return generate(m, {{3, 1, 4, 1, 5, 9, 2, 6}}, g).tokens[0];
}

std::vector<float> logits(CausalLM& m) {
  KVCache cache = m.make_cache(1, 8);
  return m.forward({{0, {3, 1, 4, 1, 5, 9, 2, 6}}}, cache, true).to_float_vector();
}

// The documented tolerance: f32 kernels reorder f32 sums; |Δlogit| ≤ 1e-4 · max|logit|.
::testing::AssertionResult logits_close(CausalLM& ref, CausalLM& ker) {
  std::vector<float> a = logits(ref), b = logits(ker);
  float mx = 0, diff = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    mx = std::max(mx, std::fabs(a[i]));
    diff = std::max(diff, std::fabs(a[i] - b[i]));
  }
  if (diff <= 1e-4f * mx) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "max |Δlogit| " << diff << " > 1e-4 · " << mx;
}

TEST_F(KernelizeE2E, FiveArchitecturesSameTokensWithKernels) {
  for (const char* arch : {"llama", "mistral", "qwen2", "qwen3", "gemma3"}) {
    auto ref = CausalLM::from_pretrained(model(arch));
    auto ker = CausalLM::from_pretrained(model(arch), {.use_kernels = true});
    const KernelReport& r = ker->kernel_report();
    std::string norm = std::string(arch) == "gemma3" ? "GemmaRMSNorm" : "RMSNorm";
    std::string act = std::string(arch) == "gemma3" ? "GeluTanhAndMul" : "SiluAndMul";
    for (const std::string& key : {norm, act, std::string("rotary_pos_emb")}) {
      const KeyDecision* d = r.find(key);
      ASSERT_NE(d, nullptr) << arch << " " << key;
      ASSERT_TRUE(d->kernel.has_value()) << arch << " " << key << ": " << d->reason;
      EXPECT_EQ(d->kernel->variant, "khub1-cpu-x86_64-linux");
      EXPECT_EQ(d->kernel->revision.size(), 40u);  // an immutable revision, not a ref name
    }
    EXPECT_EQ(greedy(*ref), greedy(*ker)) << arch;
    EXPECT_TRUE(logits_close(*ref, *ker)) << arch;
  }
}

// Mixture-of-experts models: `MoE` goes to khub-community/moe's CPU variant (routing, the sort by
// expert, the grouped expert GEMMs and the weighted unpermute in one call) next to the other
// kernels; the same greedy tokens and logits within the documented tolerance. gpt_oss covers the
// router bias, the expert biases, the clamped SwiGLU and MXFP4 experts dequantized at load (f32
// experts next to the checkpoint's f32 router here).
TEST_F(KernelizeE2E, MoEModelsRunTheMoeKernel) {
  for (const char* arch : {"qwen3_moe", "mixtral", "gpt_oss"}) {
    std::string dir = (root_ / (std::string("moe_") + arch)).string();
    InitModelOptions o{.arch = arch, .preset = "tiny", .seed = 7};
    if (std::string(arch) == "gpt_oss")
      o.overrides = {{"quantization_config", {{"quant_method", "mxfp4"}}}};
    write_random_checkpoint(o, dir);
    auto ref = CausalLM::from_pretrained(dir);
    auto ker = CausalLM::from_pretrained(dir, {.use_kernels = true});
    const KeyDecision* d = ker->kernel_report().find("MoE");
    ASSERT_NE(d, nullptr) << arch;
    ASSERT_TRUE(d->kernel.has_value()) << arch << ": " << d->reason;
    EXPECT_EQ(d->kernel->repo, "khub-community/moe") << arch;
    EXPECT_EQ(d->kernel->variant, "khub1-cpu-x86_64-linux");
    EXPECT_EQ(d->kernel_layer, "MoE");
    EXPECT_GT(d->layers, 0);
    EXPECT_EQ(greedy(*ref), greedy(*ker)) << arch;
    EXPECT_TRUE(logits_close(*ref, *ker)) << arch;
    // bf16 weights on the CPU (f32 activations): the kernel reads them as they are.
    LoadOptions bf16{.dtype = "bf16"};
    auto ref16 = CausalLM::from_pretrained(dir, bf16);
    bf16.use_kernels = true;
    auto ker16 = CausalLM::from_pretrained(dir, bf16);
    ASSERT_TRUE(ker16->kernel_report().find("MoE")->kernel.has_value()) << arch;
    EXPECT_TRUE(logits_close(*ref16, *ker16)) << arch << " bf16 weights";
    // Training keeps the reference MoE (the kernel has no backward; the mapping has no training
    // entry) and says why.
    if (std::string(arch) != "gpt_oss") {
      auto train = CausalLM::from_pretrained(dir, {.use_kernels = true, .mode = Mode::kTraining});
      const KeyDecision* t = train->kernel_report().find("MoE");
      ASSERT_NE(t, nullptr);
      EXPECT_FALSE(t->kernel.has_value());
      EXPECT_FALSE(t->reason.empty());
    }
  }
}

TEST_F(KernelizeE2E, GemmaNormIsNeverRoutedToPlainRmsNorm) {
  auto m = CausalLM::from_pretrained(model("gemma3"), {.use_kernels = true});
  EXPECT_EQ(m->kernel_report().find("RMSNorm"), nullptr);
  EXPECT_EQ(m->kernel_report().find("GemmaRMSNorm")->kernel_layer, "GemmaRMSNorm");
}

TEST_F(KernelizeE2E, UseHubKernelsZeroShowsNoKernels) {
  for (const char* v : {"0", "OFF", "no", "false"}) {
    setenv("USE_HUB_KERNELS", v, 1);
    auto m = CausalLM::from_pretrained(model("qwen3"), {.use_kernels = true});
    for (const KeyDecision& d : m->kernel_report().keys) {
      EXPECT_FALSE(d.kernel.has_value()) << v << " " << d.key;
      EXPECT_NE(d.reason.find("USE_HUB_KERNELS"), std::string::npos);
    }
  }
}

TEST_F(KernelizeE2E, DisableKernelMapping) {
  setenv("DISABLE_KERNEL_MAPPING", "1", 1);
  auto m = CausalLM::from_pretrained(model("llama"), {.use_kernels = true});
  for (const KeyDecision& d : m->kernel_report().keys) EXPECT_FALSE(d.kernel.has_value());
}

TEST_F(KernelizeE2E, EmptyStringTurnsOffOnlyThatKey) {
  auto m = CausalLM::from_pretrained(
      model("qwen3"), {.use_kernels = true, .kernel_config = KernelConfig{{{"RMSNorm", ""}}}});
  const KernelReport& r = m->kernel_report();
  EXPECT_FALSE(r.find("RMSNorm")->kernel.has_value());
  EXPECT_NE(r.find("RMSNorm")->reason.find("disabled by kernel_config"), std::string::npos);
  EXPECT_TRUE(r.find("SiluAndMul")->kernel.has_value());
  EXPECT_TRUE(r.find("rotary_pos_emb")->kernel.has_value());
}

TEST_F(KernelizeE2E, PinnedVersionsResolveToTheirRevisions) {
  auto v10 = CausalLM::from_pretrained(
      model("llama"),
      {.kernel_config = KernelConfig{{{"RMSNorm", "khub-community/rmsnorm@v1.0.0:RMSNorm"}}}});
  auto v11 = CausalLM::from_pretrained(
      model("llama"),
      {.kernel_config = KernelConfig{{{"RMSNorm", "khub-community/rmsnorm@>=1.1,<2:RMSNorm"}}}});
  auto r10 = v10->kernel_report().find("RMSNorm")->kernel;
  auto r11 = v11->kernel_report().find("RMSNorm")->kernel;
  ASSERT_TRUE(r10 && r11);
  EXPECT_NE(r10->revision, r11->revision);  // two versions, loaded side by side
  EXPECT_EQ(greedy(*v10), greedy(*v11));
  // A version that does not exist falls back for that key, naming what exists.
  auto none = CausalLM::from_pretrained(
      model("llama"),
      {.kernel_config = KernelConfig{{{"RMSNorm", "khub-community/rmsnorm@v9.0.0:RMSNorm"}}}});
  const KeyDecision* d = none->kernel_report().find("RMSNorm");
  EXPECT_FALSE(d->kernel.has_value());
  EXPECT_NE(d->reason.find("v1.1.0"), std::string::npos) << d->reason;
  EXPECT_TRUE(none->kernel_report().find("SiluAndMul")->kernel.has_value());
}

TEST_F(KernelizeE2E, RemovedKernelFallsBackForThatKeyOnly) {
  fs::path hub = root_ / "hub-without-rotary";
  fs::remove_all(hub);
  fs::copy(hub_, hub, fs::copy_options::recursive);
  fs::remove_all(hub / "khub-community" / "rotary");
  setenv("KHUB_HUB_PATH", hub.c_str(), 1);
  auto m = CausalLM::from_pretrained(model("mistral"), {.use_kernels = true});
  const KeyDecision* d = m->kernel_report().find("rotary_pos_emb");
  EXPECT_FALSE(d->kernel.has_value());
  EXPECT_NE(d->reason.find("khub-community/rotary"), std::string::npos) << d->reason;
  EXPECT_TRUE(m->kernel_report().find("RMSNorm")->kernel.has_value());
  // strict turns the same fallback into an error.
  EXPECT_THROW(CausalLM::from_pretrained(model("mistral"), {.use_kernels = true, .strict = true}),
               Error);
}

TEST_F(KernelizeE2E, ModesFollowTrainAndEvalAndExplicitModeWins) {
  auto m = CausalLM::from_pretrained(model("qwen3"), {.use_kernels = true});
  EXPECT_EQ(m->kernel_report().mode, Mode::kInference);
  m->train();
  EXPECT_EQ(m->kernel_report().mode, Mode::kTraining);
  // The CPU kernels declare backward, so they serve training too.
  EXPECT_TRUE(m->kernel_report().find("RMSNorm")->kernel.has_value());
  m->eval();
  EXPECT_EQ(m->kernel_report().mode, Mode::kInference);
  // Compile: CPU kernels cannot be captured; the reference runs, visibly.
  auto c = CausalLM::from_pretrained(
      model("qwen3"), {.use_kernels = true, .mode = Mode::kInference | Mode::kCompile});
  EXPECT_EQ(c->kernel_report().mode, Mode::kInference | Mode::kCompile);
  EXPECT_FALSE(c->kernel_report().find("RMSNorm")->kernel.has_value());
  c->train();  // an explicit mode is kept
  EXPECT_EQ(c->kernel_report().mode, Mode::kInference | Mode::kCompile);
}

TEST_F(KernelizeE2E, LoadingIsLazyAndMemoized) {
  std::vector<std::string> loads;
  KernelLoadFn base = default_kernel_loader();
  Kernelizer k([&](const KernelLayerRef& ref, Device d) {
    loads.push_back(ref.repo);
    return base(ref, d);
  });
  auto m = CausalLM::from_pretrained(model("gemma3"));
  KernelizeOptions o;
  k.kernelize(m->kernelizable_layers(), o);
  k.kernelize(m->kernelizable_layers(), o);
  // gemma3 has no plain RMSNorm and no SiLU: each kernel repo it needs loads once.
  std::sort(loads.begin(), loads.end());
  EXPECT_EQ(loads,
            (std::vector<std::string>{"khub-community/activation@v1", "khub-community/rmsnorm@v1",
                                      "khub-community/rotary@v1"}));
}

// A layer that declines kernels (DecodeStep while KHUB_DECODE_STEP is off) falls back with its
// reason and its kernel is never loaded; once it accepts, the mapped kernel is loaded.
TEST_F(KernelizeE2E, ALayerThatDeclinesKernelsLoadsNone) {
  std::vector<std::string> loads;
  Kernelizer k([&](const KernelLayerRef& ref, Device) -> std::shared_ptr<const loader::Kernel> {
    loads.push_back(ref.repo);
    fail(ErrorKind::kNotFound, "no GPU in this test");
  });
  DecodeStepLayer step("model.layers");
  KernelizeOptions o{.device = Device::cuda(0), .capability = 90, .activation_dtype = DType::kBF16};
  unsetenv("KHUB_DECODE_STEP");
  KernelReport r = k.kernelize({&step}, o);
  ASSERT_NE(r.find("DecodeStep"), nullptr);
  EXPECT_NE(r.find("DecodeStep")
                ->reason.find("khub-community/decode-step@v1:DecodeStep is opt-in "
                              "(KHUB_DECODE_STEP=1)"),
            std::string::npos)
      << r.find("DecodeStep")->reason;
  EXPECT_TRUE(loads.empty());
  setenv("KHUB_DECODE_STEP", "1", 1);
  r = k.kernelize({&step}, o);
  unsetenv("KHUB_DECODE_STEP");
  EXPECT_EQ(loads, std::vector<std::string>{"khub-community/decode-step@v1"});
  EXPECT_NE(r.find("DecodeStep")->reason.find("no GPU in this test"), std::string::npos)
      << r.find("DecodeStep")->reason;
}

TEST_F(KernelizeE2E, LocalKernelsOverride) {
  // LOCAL_KERNELS points a repo at a kernel project folder; its revision is the folder's content
  // address.
  setenv("LOCAL_KERNELS",
         ("khub-community/activation=" + std::string(KHUB_TEST_KERNELS) + "/activation").c_str(),
         1);
  auto m = CausalLM::from_pretrained(model("qwen3"), {.use_kernels = true});
  const KeyDecision* d = m->kernel_report().find("SiluAndMul");
  ASSERT_TRUE(d->kernel.has_value()) << d->reason;
  EXPECT_EQ(d->kernel->revision,
            hub::local_folder_revision(std::string(KHUB_TEST_KERNELS) + "/activation"));
}

TEST_F(KernelizeE2E, ConstraintsKeepKernelsOffInputsTheyCannotHonour) {
  std::string k = KHUB_TEST_CONSTRAINED;
  // Head size: the tiny models have head_dim 16; Attention64 declares 64 and 128.
  auto a = CausalLM::from_pretrained(model("qwen3"), {.attn_implementation = k + ":Attention64"});
  const KeyDecision* d = a->kernel_report().find("Attention");
  EXPECT_FALSE(d->kernel.has_value());
  EXPECT_NE(d->reason.find("head_dim [64,128], not 16"), std::string::npos) << d->reason;
  // Sliding window: mistral's tiny preset slides (window 8); Attention declares no window.
  auto w = CausalLM::from_pretrained(model("mistral"), {.attn_implementation = k + ":Attention"});
  d = w->kernel_report().find("Attention");
  EXPECT_FALSE(d->kernel.has_value());
  EXPECT_NE(d->reason.find("sliding_window"), std::string::npos) << d->reason;
  // dtype: the CPU path runs f32 activations; this RMSNorm takes bf16 only.
  auto n = CausalLM::from_pretrained(
      model("llama"), {.kernel_config = KernelConfig{{{"RMSNorm", k + ":RMSNorm"}}}});
  d = n->kernel_report().find("RMSNorm");
  EXPECT_FALSE(d->kernel.has_value());
  EXPECT_NE(d->reason.find("not f32"), std::string::npos) << d->reason;
  // None of the refusing functions ran: generation works through the reference forwards.
  EXPECT_EQ(greedy(*a), greedy(*CausalLM::from_pretrained(model("qwen3"))));
  EXPECT_EQ(greedy(*w).size(), 12u);
  EXPECT_EQ(greedy(*n).size(), 12u);
  // Where the constraints do cover the input, the kernel is bound (and refuses at run time,
  // which surfaces as an error naming the kernel: never a silent wrong answer).
  auto q = CausalLM::from_pretrained(model("qwen3"), {.attn_implementation = k + ":Attention"});
  EXPECT_TRUE(q->kernel_report().find("Attention")->kernel.has_value());
  EXPECT_THROW(greedy(*q), Error);
}

// RotaryKVCache through a kernel: the CPU test kernel (tests/kernelize/fixtures/fused) computes
// the q/k norms, rotary and cache append from the arguments kernelize passes, so outputs equal to
// the separate reference layers' show the binding hands over the contract's arguments (norm
// weights and eps, Gemma's norm kind, rotary_dim, the cache rows) for archs with and without
// q/k norms and with Gemma's local and global rope.
TEST_F(KernelizeE2E, RotaryKVCacheKernelMatchesTheSeparateLayers) {
  const std::string fused = std::string(KHUB_TEST_FUSED) + ":RotaryKVCache";
  for (const char* arch : {"llama", "qwen3", "gemma3"}) {
    auto ref = CausalLM::from_pretrained(model(arch));
    auto ker = CausalLM::from_pretrained(
        model(arch), {.kernel_config = KernelConfig{{{"RotaryKVCache", fused}}}});
    const KeyDecision* d = ker->kernel_report().find("RotaryKVCache");
    ASSERT_NE(d, nullptr) << arch;
    ASSERT_TRUE(d->kernel.has_value()) << arch << ": " << d->reason;
    std::vector<float> a = logits(*ref), b = logits(*ker);
    ASSERT_EQ(a.size(), b.size()) << arch;
    double worst = 0, scale = 0;
    for (size_t i = 0; i < a.size(); ++i) {
      worst = std::max(worst, std::fabs(double(a[i]) - b[i]));
      scale = std::max(scale, std::fabs(double(a[i])));
    }
    EXPECT_LE(worst, 1e-4 * scale) << arch;
    EXPECT_EQ(greedy(*ref), greedy(*ker)) << arch;
  }
}

}  // namespace
}  // namespace khub
