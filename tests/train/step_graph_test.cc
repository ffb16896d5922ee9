// Staged training batches (models/training.h, StagedBatch) and the captured step's preconditions
// (train/step_graph.h), on the CPU. A captured step replays the device half of loss() with the next
// batch copied into the staged buffers, so restage() must make the staged batch compute exactly
// what a fresh loss() of the new batch computes — same loss, same gradients, bit for bit — and must
// refuse a batch of another layout (what a captured graph baked in) without touching the staged
// one. The capture itself runs on CUDA only (tests/train/step_graph_cuda_test.cc).
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "core/error.h"
#include "models/causal_lm.h"
#include "models/init_weights.h"
#include "testutil/temp_dir.h"
#include "train/optimizer.h"
#include "train/step_graph.h"

namespace khub {
namespace {

using khub::testing::TempDir;

struct Fixture {
  TempDir dir;
  std::string model;
  Fixture() {
    model = (dir.path() / "m").string();
    InitModelOptions o{.arch = "qwen3", .preset = "tiny", .seed = 5};
    o.overrides = {{"num_hidden_layers", 2}};
    write_random_checkpoint(o, model);
  }
  std::unique_ptr<CausalLM> load() const {
    auto m = CausalLM::from_pretrained(model);
    m->train();
    return m;
  }
};

// Rows of 5, 9 and 3 tokens; `salt` changes every id and which label is ignored, not the layout.
TrainBatch batch_of(int salt, int64_t vocab, std::vector<int> lengths = {5, 9, 3}) {
  TrainBatch b;
  for (size_t r = 0; r < lengths.size(); ++r) {
    std::vector<int32_t> ids, labels;
    for (int i = 0; i < lengths[r]; ++i) {
      ids.push_back(static_cast<int32_t>((r * 37 + i * 11 + salt * 101 + 1) % vocab));
      labels.push_back(ids.back());
    }
    labels[1 + (salt + r) % (lengths[r] - 1)] = -100;  // one ignored label per row
    b.input_ids.push_back(ids);
    b.labels.push_back(labels);
  }
  return b;
}

std::vector<std::vector<float>> grads_of(CausalLM& m) {
  std::vector<std::vector<float>> out;
  for (const Parameter& p : m.parameters()) out.push_back(p.grad.to_float_vector());
  return out;
}

TEST(StagedBatch, RestagedBatchComputesWhatAFreshLossDoes) {
  Fixture f;
  auto fresh = f.load(), staged_model = f.load();
  const int64_t vocab = fresh->config().vocab_size;
  TrainBatch a = batch_of(0, vocab), b = batch_of(1, vocab);
  ASSERT_NE(a.input_ids, b.input_ids);

  Loss want = fresh->loss(b);
  want.backward();

  StagedBatch s = staged_model->stage(a);
  EXPECT_EQ(s.tokens(), 17);
  EXPECT_EQ(s.scored(), 17 - 3 - 3);  // the last position of each row and one ignored label
  Loss first = staged_model->staged_loss(s);
  first.backward();
  staged_model->zero_grad();
  ASSERT_EQ(staged_model->restage(s, b), "");
  Loss got = staged_model->staged_loss(s);
  got.backward();
  EXPECT_EQ(got.item(), want.item());  // bit for bit: the same arithmetic on the same inputs
  EXPECT_NE(got.item(), first.item());
  EXPECT_EQ(got.tokens(), want.tokens());
  EXPECT_EQ(grads_of(*staged_model), grads_of(*fresh));
}

TEST(StagedBatch, AnotherLayoutIsRefusedAndChangesNothing) {
  Fixture f;
  auto m = f.load();
  const int64_t vocab = m->config().vocab_size;
  TrainBatch a = batch_of(0, vocab);
  StagedBatch s = m->stage(a);
  const double before = m->staged_loss(s, false).item();

  std::string why = m->restage(s, batch_of(1, vocab, {5, 8, 4}));  // same tokens, other rows
  EXPECT_NE(why.find("layout (3 rows of 5 8 4 tokens"), std::string::npos) << why;
  EXPECT_NE(why.find("staged one's (3 rows of 5 9 3 tokens"), std::string::npos) << why;
  TrainBatch fewer = batch_of(1, vocab);
  fewer.labels[0][4] = -100;  // one more ignored label (row 0 ignores [2]): another scored count
  why = m->restage(s, fewer);
  EXPECT_NE(why.find("scored"), std::string::npos) << why;
  // A bad batch is checked as loss() checks it, before anything is copied.
  TrainBatch bad = batch_of(1, vocab);
  bad.input_ids[1][4] = static_cast<int32_t>(vocab);
  try {
    m->restage(s, bad);
    ADD_FAILURE() << "an out-of-vocabulary id was staged";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("outside the vocabulary"), std::string::npos) << e.what();
  }
  EXPECT_EQ(m->staged_loss(s, false).item(), before);
}

TEST(StepGraph, RefusesWhatCannotBeCapturedWithTheReason) {
  Fixture f;
  auto m = f.load();
  AdamW opt(m->parameters());
  EXPECT_FALSE(m->trains_with_graphs());
  EXPECT_NE(m->train_capture_blocker().find("CUDA only (the model is on cpu)"), std::string::npos)
      << m->train_capture_blocker();
  try {
    StepGraph g(*m, opt, 0.0);
    ADD_FAILURE() << "a CPU model's step was accepted for capture";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kUnsupported);
    EXPECT_NE(std::string(e.what()).find("cannot be captured"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace khub
