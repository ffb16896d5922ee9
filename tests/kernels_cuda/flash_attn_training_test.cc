// Training through khub-community/flash-attn's backward (label "gpu"; skipped without a device or
// below sm_90, where the default mapping trains through the reference): a bf16 model on CUDA whose
// only kernel is flash-attn's `Attention` (a kernel_config naming that key alone) binds the
// kernel's forward *and* backward in training mode, and its loss and every parameter's gradient
// match the same model on the reference path. Both runs round activations to bf16, at different
// points, so the bound is bf16's: the loss within 1e-2 relative and each gradient within 5e-2 in
// relative L2 (a masking, GQA or scale error in the attention backward costs O(1) in the q/k/v
// projections' gradients). Varlen rows of odd lengths (1, 17, 129, 300 tokens), GQA 2, head_dim 64
// and 128, and gemma3 with a sliding window of 64 on its local layers.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <random>

#include "core/cuda.h"
#include "layers/attention.h"
#include "models/causal_lm.h"
#include "models/init_weights.h"
#include "testutil/bundled_hub.h"

namespace khub {
namespace {

namespace fs = std::filesystem;

struct ModelCase {
  std::string arch;
  int64_t head_dim;
  nlohmann::json overrides;
};

class FlashAttnTraining : public ::testing::TestWithParam<ModelCase> {
 protected:
  void SetUp() override {
    if (!cuda_available()) GTEST_SKIP() << "no CUDA device: " << cuda_status();
    if (cuda_device_properties(0).major < 9)
      GTEST_SKIP() << "flash-attn's backward serves sm_90 and newer";
    testing::use_bundled_hub(KHUB_TEST_HUB, "khub-community/flash-attn");
    if (HasFatalFailure()) return;
    const ModelCase& c = GetParam();
    dir_ = fs::temp_directory_path() / ("khub_fa_train_" + c.arch + std::to_string(c.head_dim) +
                                        "_" + std::to_string(getpid()));
    InitModelOptions o;
    o.arch = c.arch;
    o.preset = "tiny";
    o.dtype = "bf16";
    o.seed = 11;
    o.overrides = c.overrides;
    o.overrides["head_dim"] = c.head_dim;
    write_random_checkpoint(o, dir_.string());
  }
  void TearDown() override {
    if (!dir_.empty()) fs::remove_all(dir_);
  }
  LoadOptions options(bool kernel) const {
    LoadOptions o;
    o.device = "cuda";
    o.dtype = "bf16";
    if (kernel) {
      o.use_kernels = true;
      o.kernel_config =
          KernelConfig({{"Attention", "khub-community/flash-attn@v1:Attention"}}, false);
    }
    return o;
  }
  fs::path dir_;
};

TEST_P(FlashAttnTraining, KernelBackwardGivesTheReferenceGradients) {
  auto ref = CausalLM::from_pretrained(dir_.string(), options(false));
  auto fa = CausalLM::from_pretrained(dir_.string(), options(true));
  ref->train();
  fa->train();
  const KeyDecision* d = fa->kernel_report().find("Attention");
  ASSERT_NE(d, nullptr);
  ASSERT_TRUE(d->kernel.has_value()) << d->reason;
  int bound = 0;
  for (KernelizableLayer* l : fa->kernelizable_layers()) {
    if (auto* a = dynamic_cast<AttentionLayer*>(l)) {
      EXPECT_TRUE(a->kernel_backward()) << a->path();
      ++bound;
    }
  }
  EXPECT_GT(bound, 0);

  // Four rows of odd lengths (1, 17, 129, 300 tokens), packed varlen.
  TrainBatch batch;
  std::mt19937 gen(5);
  for (int n : {17, 300, 1, 129}) {
    std::vector<int32_t> row(n);
    for (int32_t& id : row) id = static_cast<int32_t>(gen() % 200) + 3;
    batch.input_ids.push_back(row);
  }
  // A row of one token scores nothing; the others do.
  Loss a = ref->loss(batch), b = fa->loss(batch);
  EXPECT_NEAR(b.item(), a.item(), 1e-2 * std::fabs(a.item()));
  a.backward();
  b.backward();
  ASSERT_EQ(ref->parameters().size(), fa->parameters().size());
  double worst = 0;
  for (size_t i = 0; i < ref->parameters().size(); ++i) {
    const std::string& name = ref->parameters()[i].name;
    std::vector<float> want = ref->parameters()[i].grad.to_float_vector();
    std::vector<float> got = fa->parameters()[i].grad.to_float_vector();
    ASSERT_EQ(want.size(), got.size()) << name;
    double num = 0, den = 0;
    for (size_t j = 0; j < want.size(); ++j) {
      ASSERT_TRUE(std::isfinite(got[j])) << name << "[" << j << "] is " << got[j];
      num += (double{got[j]} - want[j]) * (double{got[j]} - want[j]);
      den += double{want[j]} * want[j];
    }
    const double rel = std::sqrt(num / std::max(den, 1e-30));
    worst = std::max(worst, rel);
    EXPECT_LE(rel, 5e-2) << name << ": relative L2 difference of the gradient";
  }
  std::printf("[flash-attn backward] %s D=%lld: loss %.6f vs %.6f, worst grad rel L2 %.2e\n",
              GetParam().arch.c_str(), static_cast<long long>(GetParam().head_dim), b.item(),
              a.item(), worst);
}

INSTANTIATE_TEST_SUITE_P(Models, FlashAttnTraining,
                         ::testing::Values(ModelCase{"qwen3", 64, nlohmann::json::object()},
                                           ModelCase{"qwen3", 128, nlohmann::json::object()},
                                           ModelCase{"gemma3", 64, {{"sliding_window", 64}}}),
                         [](const ::testing::TestParamInfo<ModelCase>& i) {
                           return i.param.arch + "_d" + std::to_string(i.param.head_dim);
                         });

}  // namespace
}  // namespace khub
