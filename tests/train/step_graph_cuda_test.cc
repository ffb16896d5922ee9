// Captured training steps (train/step_graph.h; label "gpu", skipped without a device): a bf16
// qwen3 model with the hub's kernels chosen in mode training|compile, trained with AdamW and
// clipping over alternating batches of one layout, then a batch of another layout (captured
// again), gives the losses, gradient norms and final weights of the same model trained eagerly
// through the same kernels in mode training. The arithmetic is the same launch for launch, so the
// bound is 1e-6 relative (in practice identical). The learning rate changes every step, so a replay
// that kept the captured step's scalars would drift at once; the ids change every step, so one that
// read stale inputs would too. Also with gradient accumulation (two micro-batches per step).
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>

#include "core/cuda.h"
#include "models/causal_lm.h"
#include "models/init_weights.h"
#include "testutil/bundled_hub.h"
#include "train/grad_clip.h"
#include "train/optimizer.h"
#include "train/step_graph.h"

namespace khub {
namespace {

namespace fs = std::filesystem;

TrainBatch batch_of(int salt, int64_t vocab, const std::vector<int>& lengths) {
  TrainBatch b;
  for (size_t r = 0; r < lengths.size(); ++r) {
    std::vector<int32_t> ids;
    for (int i = 0; i < lengths[r]; ++i)
      ids.push_back(static_cast<int32_t>((r * 37 + i * 11 + salt * 101 + 1) % vocab));
    b.input_ids.push_back(ids);
  }
  return b;
}

class StepGraphCuda : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!cuda_available()) GTEST_SKIP() << "no CUDA device: " << cuda_status();
    testing::use_bundled_hub(KHUB_TEST_HUB, "khub-community/linear-cross-entropy");
    if (HasFatalFailure()) return;
    dir_ = fs::temp_directory_path() / ("khub_step_graph_" + std::to_string(getpid()));
    InitModelOptions o{.arch = "qwen3", .preset = "tiny", .dtype = "bf16", .seed = 9};
    write_random_checkpoint(o, dir_.string());
  }
  void TearDown() override {
    if (!dir_.empty()) fs::remove_all(dir_);
  }
  std::unique_ptr<CausalLM> load(Mode mode) const {
    LoadOptions o;
    o.device = "cuda";
    o.dtype = "bf16";
    o.use_kernels = true;
    o.mode = mode;
    auto m = CausalLM::from_pretrained(dir_.string(), o);
    m->train();
    m->parameters();
    return m;
  }
  // Steps of `batches` (micro-batches per step), eager and captured, compared step by step.
  void compare(const std::vector<std::vector<TrainBatch>>& steps) {
    auto eager = load(Mode::kTraining);
    auto graphed = load(Mode::kTraining | Mode::kCompile);
    ASSERT_TRUE(graphed->trains_with_graphs());
    ASSERT_EQ(graphed->train_capture_blocker(), "");
    AdamW eo(eager->parameters()), go(graphed->parameters());
    StepGraph graph(*graphed, go, 1.0);
    for (size_t k = 0; k < steps.size(); ++k) {
      const double lr = 1e-3 * (1.0 + 0.5 * static_cast<double>(k));
      eo.set_lr(lr);
      go.set_lr(lr);
      double want_loss = 0.0;
      for (const TrainBatch& b : steps[k]) {
        Loss l = eager->loss(b);
        l.backward(1.0f / static_cast<float>(steps[k].size()));
        want_loss += l.item() / static_cast<double>(steps[k].size());
      }
      const double want_norm = clip_grad_norm(eager->parameters(), 1.0);
      eo.step();
      eager->zero_grad();
      StepGraph::Result got = graph.step(steps[k]);
      EXPECT_NEAR(got.loss, want_loss, 1e-6 * std::fabs(want_loss)) << "step " << k + 1;
      EXPECT_NEAR(got.grad_norm, want_norm, 1e-6 * want_norm) << "step " << k + 1;
      std::printf("[step graph] step %zu: loss %.9f vs %.9f, norm %.9f vs %.9f\n", k + 1, got.loss,
                  want_loss, got.grad_norm, want_norm);
    }
    double worst = 0.0, peak = 0.0;
    for (size_t i = 0; i < eager->parameters().size(); ++i) {
      std::vector<float> a = eager->parameters()[i].value.to_float_vector();
      std::vector<float> b = graphed->parameters()[i].value.to_float_vector();
      for (size_t j = 0; j < a.size(); ++j) {
        worst = std::max(worst, std::fabs(double{a[j]} - b[j]));
        peak = std::max(peak, std::fabs(double{a[j]}));
      }
    }
    EXPECT_LE(worst, 1e-6 * peak) << "final weights differ by " << worst;
    replays_ = graph.replays();
    captures_ = graph.captures();
  }
  fs::path dir_;
  int64_t replays_ = 0, captures_ = 0;
};

TEST_F(StepGraphCuda, CapturedStepsMatchEagerSteps) {
  auto probe = load(Mode::kTraining);
  const int64_t v = probe->config().vocab_size;
  probe.reset();
  TrainBatch a = batch_of(0, v, {33, 64, 7}), b = batch_of(1, v, {33, 64, 7});
  TrainBatch c = batch_of(2, v, {48, 48}), d = batch_of(3, v, {48, 48});
  compare({{a}, {b}, {a}, {b}, {c}, {d}});
  // Step 1 eager; step 2 captures the micro and update graphs; step 5's layout the micro again.
  EXPECT_EQ(captures_, 3);
  EXPECT_EQ(replays_, 2 * 5);
}

TEST_F(StepGraphCuda, CapturedStepsWithGradientAccumulation) {
  auto probe = load(Mode::kTraining);
  const int64_t v = probe->config().vocab_size;
  probe.reset();
  std::vector<std::vector<TrainBatch>> steps;
  for (int k = 0; k < 4; ++k)
    steps.push_back({batch_of(2 * k, v, {40, 17}), batch_of(2 * k + 1, v, {40, 17})});
  compare(steps);
  EXPECT_EQ(captures_, 2);
  EXPECT_EQ(replays_, 3 * 3);  // steps 2-4: two micro replays and one update each
}

}  // namespace
}  // namespace khub
