// Training on the CUDA reference path (label "gpu"; skipped without a device), f32: for every dense
// recipe of tests/fixtures/training the model on the GPU gives transformers' loss and gradient
// norms (≤ 1e-3 relative, the bound; in practice far closer), the same gradients as the
// CPU reference element for element, torch's AdamW and clipped-SGD trajectories (the fused
// multi-tensor steps and the on-device global norm), and identical gradients with activation
// checkpointing. Every device allocation is poisoned with NaN, so a read of memory nothing wrote
// shows. Mixture-of-experts recipes are left out: MoE models do not load on CUDA yet.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <map>

#include "core/cuda.h"
#include "training_fixtures.h"

namespace khub {
namespace {

using training::Checkpoint;
using training::golden_of;
using training::recipe_batch;
using training::recipes;

constexpr double kRel = 1e-3;

LoadOptions on_cuda() {
  LoadOptions o;
  o.device = "cuda";
  o.dtype = "f32";
  return o;
}

std::vector<std::string> dense_names() {
  std::vector<std::string> out;
  for (const std::string& n : training::model_names()) {
    std::string arch = recipes()["models"][n]["arch"];
    if (arch != "qwen3_moe" && arch != "mixtral" && arch != "gpt_oss") out.push_back(n);
  }
  return out;
}

// Each parameter's gradient in `got` against `want`: max |Δ| within rel of the largest |want|.
void expect_same_grads(CausalLM& want_model, CausalLM& got_model, const std::string& name,
                       double rel) {
  ASSERT_EQ(want_model.parameters().size(), got_model.parameters().size());
  for (size_t i = 0; i < want_model.parameters().size(); ++i) {
    const std::string& param = want_model.parameters()[i].name;
    std::vector<float> want = want_model.parameters()[i].grad.to_float_vector();
    std::vector<float> got = got_model.parameters()[i].grad.to_float_vector();
    ASSERT_EQ(want.size(), got.size()) << name << " " << param;
    double peak = 0, err = 0;
    for (size_t j = 0; j < want.size(); ++j) {
      ASSERT_TRUE(std::isfinite(got[j])) << name << " " << param << "[" << j << "] is " << got[j];
      peak = std::max(peak, std::fabs(double{want[j]}));
      err = std::max(err, std::fabs(double{got[j]} - want[j]));
    }
    EXPECT_LE(err, rel * peak + 1e-9) << name << " " << param;
  }
}

class CudaTraining : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    if (!cuda_available()) GTEST_SKIP() << "no CUDA device: " << cuda_status();
    cuda_set_poison_allocations(true);
  }
  void TearDown() override { cuda_set_poison_allocations(false); }
};

TEST_P(CudaTraining, LossAndGradNormsMatchTransformers) {
  std::string name = GetParam();
  nlohmann::json golden = golden_of(name);
  ASSERT_FALSE(golden.is_null());
  Checkpoint ck(name);
  auto model = CausalLM::from_pretrained(ck.dir.string(), on_cuda());
  model->train();
  ASSERT_TRUE(model->parameters()[0].grad.device().is_cuda());
  training::expect_loss_and_grad_norms(*model, golden, name, kRel);
}

// Element for element against the CPU reference.
TEST_P(CudaTraining, GradientsMatchTheCpuPath) {
  std::string name = GetParam();
  Checkpoint ck(name);
  TrainBatch batch = recipe_batch(recipes());
  auto cpu = CausalLM::from_pretrained(ck.dir.string());
  auto gpu = CausalLM::from_pretrained(ck.dir.string(), on_cuda());
  Loss a = cpu->loss(batch), b = gpu->loss(batch);
  EXPECT_NEAR(a.item(), b.item(), 1e-5 * std::fabs(a.item())) << name;
  a.backward();
  b.backward();
  expect_same_grads(*cpu, *gpu, name, 1e-3);
}

TEST_P(CudaTraining, AdamWStepsMatchTorch) {
  std::string name = GetParam();
  nlohmann::json golden = golden_of(name);
  ASSERT_FALSE(golden.is_null());
  training::StepTrace t = training::run_steps(name, training::adamw_config(),
                                              recipes()["adamw"]["steps"].get<int>(), 0, on_cuda());
  training::expect_close(t.losses, golden["adamw_losses"], name + " AdamW loss", kRel);
}

TEST_P(CudaTraining, ClippedSgdStepsMatchTorch) {
  std::string name = GetParam();
  nlohmann::json golden = golden_of(name);
  ASSERT_FALSE(golden.is_null());
  nlohmann::json s = recipes()["sgd"];
  training::StepTrace t = training::run_steps(name, training::sgd_config(), s["steps"].get<int>(),
                                              s["clip"].get<double>(), on_cuda());
  training::expect_close(t.losses, golden["sgd_losses"], name + " SGD loss", kRel);
  training::expect_close(t.grad_norms, golden["sgd_grad_norms"], name + " SGD grad norm", kRel);
}

TEST_P(CudaTraining, CheckpointedActivationsGiveTheSameGradients) {
  std::string name = GetParam();
  Checkpoint ck(name);
  TrainBatch batch = recipe_batch(recipes());
  auto plain = CausalLM::from_pretrained(ck.dir.string(), on_cuda());
  auto ckpt = CausalLM::from_pretrained(ck.dir.string(), on_cuda());
  ckpt->set_activation_checkpointing(true);
  Loss a = plain->loss(batch), b = ckpt->loss(batch);
  EXPECT_EQ(a.item(), b.item());
  a.backward();
  b.backward();
  // The same arithmetic; only the order of atomic additions (norm weights, embedding rows) may
  // differ between the two runs.
  expect_same_grads(*plain, *ckpt, name, 1e-6);
}

// Mixed precision: bf16 weights and activations, f32 master weights, gradients and AdamW state.
// transformers' goldens are f32, so the bound is bf16's: the loss within kBF16Loss and every
// gradient norm within kBF16Grad relative (8 mantissa bits, compounding over layers and the
// backward), and the AdamW trajectory within kBF16Loss.
constexpr double kBF16Loss = 2e-2, kBF16Grad = 1e-1;

LoadOptions on_cuda_bf16() {
  LoadOptions o = on_cuda();
  o.dtype = "bf16";
  return o;
}

TEST_P(CudaTraining, MixedPrecisionTracksTransformers) {
  std::string name = GetParam();
  nlohmann::json golden = golden_of(name);
  ASSERT_FALSE(golden.is_null());
  Checkpoint ck(name);
  auto model = CausalLM::from_pretrained(ck.dir.string(), on_cuda_bf16());
  model->train();
  ASSERT_EQ(model->parameters()[0].value.dtype(), DType::kF32);  // the master
  Loss loss = model->loss(recipe_batch(recipes()));
  const double want = golden["loss"].get<double>();
  EXPECT_NEAR(loss.item(), want, kBF16Loss * want) << name;
  loss.backward();
  double worst = 0;
  std::map<std::string, double> got;
  for (const Parameter& p : model->parameters()) {
    double n = training::l2(p.grad);
    got[training::transformers_param_name(p.name)] += n * n;
  }
  for (const auto& [key, sq] : got) {
    double w = golden["grad_norms"][key].get<double>();
    double rel = std::fabs(std::sqrt(sq) - w) / (w + 1e-12);
    worst = std::max(worst, rel);
    EXPECT_LE(rel, kBF16Grad) << name << " " << key;
  }
  std::printf("[cuda bf16 train] %-40s loss rel %.2e, worst grad-norm rel %.2e\n", name.c_str(),
              std::fabs(loss.item() - want) / want, worst);
  training::StepTrace t = training::run_steps(
      name, training::adamw_config(), recipes()["adamw"]["steps"].get<int>(), 0, on_cuda_bf16());
  training::expect_close(t.losses, golden["adamw_losses"], name + " bf16 AdamW loss", kBF16Loss);
}

INSTANTIATE_TEST_SUITE_P(Transformers, CudaTraining, ::testing::ValuesIn(dense_names()));

}  // namespace
}  // namespace khub
