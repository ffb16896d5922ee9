// Training through CausalLM on the CPU reference path: the loss and every parameter's gradient
// against transformers + torch (tests/fixtures/training, scripts/golden/training_golden.py), the
// gradient against a finite difference of the loss itself, activation checkpointing and
// accumulation semantics, and clear errors for bad batches.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <regex>

#include "models/causal_lm.h"
#include "models/init_weights.h"
#include "train/grad_clip.h"
#include "train/optimizer.h"
#include "training_fixtures.h"

namespace khub {
namespace {

namespace fs = std::filesystem;
using training::Checkpoint;
using training::golden_of;
using training::l2;
using training::model_names;
using training::recipe_batch;
using training::recipes;
using training::transformers_param_name;

class Training : public ::testing::TestWithParam<std::string> {};

TEST_P(Training, LossAndGradNormsMatchTransformers) {
  std::string name = GetParam();
  nlohmann::json golden = golden_of(name);
  ASSERT_FALSE(golden.is_null());
  Checkpoint ck(name);
  auto model = CausalLM::from_pretrained(ck.dir.string());
  model->train();
  training::expect_loss_and_grad_norms(*model, golden, name, 1e-4);
}

using training::expect_close;
using training::run_steps;
using training::StepTrace;

TEST_P(Training, AdamWStepsMatchTorch) {
  std::string name = GetParam();
  nlohmann::json golden = golden_of(name);
  ASSERT_FALSE(golden.is_null());
  nlohmann::json a = recipes()["adamw"];
  StepTrace t = run_steps(name, training::adamw_config(), a["steps"].get<int>(), 0);
  expect_close(t.losses, golden["adamw_losses"], name + " AdamW loss");
}

TEST_P(Training, ClippedSgdStepsMatchTorch) {
  std::string name = GetParam();
  nlohmann::json golden = golden_of(name);
  ASSERT_FALSE(golden.is_null());
  nlohmann::json s = recipes()["sgd"];
  StepTrace t =
      run_steps(name, training::sgd_config(), s["steps"].get<int>(), s["clip"].get<double>());
  expect_close(t.losses, golden["sgd_losses"], name + " SGD loss");
  expect_close(t.grad_norms, golden["sgd_grad_norms"], name + " SGD grad norm");
}

// The gradient is the derivative of the loss: moving every parameter by ±ε along g/|g| changes the
// loss by ≈ ±ε|g| (a directional finite difference, well conditioned where single entries are not).
TEST_P(Training, GradientIsTheLossDerivative) {
  std::string name = GetParam();
  Checkpoint ck(name);
  auto model = CausalLM::from_pretrained(ck.dir.string());
  TrainBatch batch = recipe_batch(recipes());
  Loss loss = model->loss(batch);
  loss.backward();
  std::vector<Parameter>& params = model->parameters();
  double norm2 = 0;
  for (const Parameter& p : params) norm2 += l2(p.grad) * l2(p.grad);
  double norm = std::sqrt(norm2);
  ASSERT_GT(norm, 0);
  std::vector<std::vector<float>> base;
  for (const Parameter& p : params) base.push_back(p.value.to_float_vector());
  auto loss_at = [&](double eps) {
    for (size_t i = 0; i < params.size(); ++i) {
      std::vector<float> g = params[i].grad.to_float_vector();
      float* v = params[i].value.data_as<float>();
      for (size_t j = 0; j < g.size(); ++j)
        v[j] = base[i][j] + static_cast<float>(eps * g[j] / norm);
    }
    return model->loss(batch, false).item();
  };
  double eps = 2e-3;
  double fd = (loss_at(eps) - loss_at(-eps)) / (2 * eps);
  EXPECT_NEAR(fd, norm, 2e-3 * norm) << name;
}

TEST_P(Training, CheckpointedActivationsGiveTheSameGradients) {
  std::string name = GetParam();
  Checkpoint ck(name);
  TrainBatch batch = recipe_batch(recipes());
  auto plain = CausalLM::from_pretrained(ck.dir.string());
  auto ckpt = CausalLM::from_pretrained(ck.dir.string());
  ckpt->set_activation_checkpointing(true);
  Loss a = plain->loss(batch), b = ckpt->loss(batch);
  EXPECT_EQ(a.item(), b.item());
  a.backward();
  b.backward();
  for (size_t i = 0; i < plain->parameters().size(); ++i) {
    EXPECT_EQ(plain->parameters()[i].grad.to_float_vector(),
              ckpt->parameters()[i].grad.to_float_vector())
        << name << " " << plain->parameters()[i].name;
  }
}

INSTANTIATE_TEST_SUITE_P(Transformers, Training, ::testing::ValuesIn(model_names()));

TEST(TrainingApi, GradientsAccumulateUntilZeroedAndBackwardRunsOnce) {
  Checkpoint ck("qwen3_tied_bias");
  auto model = CausalLM::from_pretrained(ck.dir.string());
  TrainBatch batch = recipe_batch(recipes());
  Loss l1 = model->loss(batch);
  l1.backward();
  std::vector<float> once = model->parameters()[0].grad.to_float_vector();
  EXPECT_THROW(l1.backward(), Error);  // the activations are gone
  Loss l2 = model->loss(batch);
  l2.backward(0.5f);
  std::vector<float> sum = model->parameters()[0].grad.to_float_vector();
  for (size_t i = 0; i < once.size(); i += 97) EXPECT_NEAR(sum[i], 1.5f * once[i], 1e-6f);
  model->zero_grad();
  for (float v : model->parameters()[0].grad.to_float_vector()) ASSERT_EQ(v, 0.0f);
  EXPECT_FALSE(model->loss(batch, false).has_backward());
}

TEST(TrainingApi, BadBatchesAreClearErrors) {
  Checkpoint ck("qwen3_tied_bias");
  auto model = CausalLM::from_pretrained(ck.dir.string());
  auto message = [&](const TrainBatch& b) {
    try {
      model->loss(b);
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  EXPECT_NE(message({{{5}}, {}}).find("at least 2"), std::string::npos);
  EXPECT_NE(message({{{5, 999}}, {}}).find("token id 999"), std::string::npos);
  EXPECT_NE(message({{{5, 6}}, {{5, 300}}}).find("label 300"), std::string::npos);
  EXPECT_NE(message({{{5, 6}}, {{5, -100}}}).find("nothing to score"), std::string::npos);
  EXPECT_NE(message({{}, {}}).find("no rows"), std::string::npos);
}

}  // namespace
}  // namespace khub
