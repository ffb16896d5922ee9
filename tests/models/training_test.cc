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
#include "parity_fixtures.h"
#include "train/grad_clip.h"
#include "train/optimizer.h"

namespace khub {
namespace {

namespace fs = std::filesystem;

const char* kTraining = "tests/fixtures/training";

nlohmann::json recipes() { return parity::read_json(fs::path(kTraining) / "recipes.json"); }

TrainBatch recipe_batch(const nlohmann::json& r) {
  TrainBatch b;
  b.input_ids = r["batch"]["input_ids"].get<std::vector<std::vector<int32_t>>>();
  b.labels = r["batch"]["labels"].get<std::vector<std::vector<int32_t>>>();
  return b;
}

double l2(const Tensor& t) {
  double s = 0;
  for (float v : t.to_float_vector()) s += double{v} * v;
  return std::sqrt(s);
}

// A recipe's checkpoint in a fresh temp dir, removed with the fixture.
struct Checkpoint {
  fs::path dir;
  explicit Checkpoint(const std::string& name) {
    dir = fs::temp_directory_path() / ("khub_train_" + name + "_" + std::to_string(getpid()));
    write_random_checkpoint(parity::recipe_options(recipes()["models"][name]), dir.string());
  }
  ~Checkpoint() { fs::remove_all(dir); }
};

std::vector<std::string> model_names() {
  std::vector<std::string> out;
  nlohmann::json r = recipes();
  for (const auto& m : r["models"].items()) out.push_back(m.key());
  return out;
}

// A checkpoint name → the parameter transformers 5 trains it as: one expert's
// "model.layers.L.<mlp|block_sparse_moe>.experts.E.<gate_proj|up_proj|w1|w3>.weight" is part of
// "model.layers.L.mlp.experts.gate_up_proj", its down projection (down_proj, w2) of
// "...experts.down_proj", and mixtral's router "block_sparse_moe.gate" is "mlp.gate".
std::string transformers_param_name(const std::string& name) {
  static const std::regex expert(
      R"(^(model\.layers\.\d+\.)(?:mlp|block_sparse_moe)\.experts\.\d+\.(\w+)\.weight$)");
  static const std::regex router(R"(^(model\.layers\.\d+\.)block_sparse_moe\.gate\.weight$)");
  std::smatch m;
  if (std::regex_match(name, m, expert)) {
    std::string proj = m[2];
    bool down = proj == "down_proj" || proj == "w2";
    return m[1].str() + "mlp.experts." + (down ? "down_proj" : "gate_up_proj");
  }
  if (std::regex_match(name, m, router)) return m[1].str() + "mlp.gate.weight";
  return name;
}

class Training : public ::testing::TestWithParam<std::string> {};

nlohmann::json golden_of(const std::string& name) {
  fs::path path = fs::path(kTraining) / (name + ".golden.json");
  EXPECT_TRUE(fs::exists(path)) << path << " (scripts/golden/training_golden.py writes it)";
  return fs::exists(path) ? parity::read_json(path) : nlohmann::json();
}

TEST_P(Training, LossAndGradNormsMatchTransformers) {
  std::string name = GetParam();
  nlohmann::json golden = golden_of(name);
  ASSERT_FALSE(golden.is_null());
  Checkpoint ck(name);
  auto model = CausalLM::from_pretrained(ck.dir.string());
  model->train();
  Loss loss = model->loss(recipe_batch(recipes()));
  EXPECT_NEAR(loss.item(), golden["loss"].get<double>(), 1e-4 * golden["loss"].get<double>());
  loss.backward();
  const nlohmann::json& want = golden["grad_norms"];
  // transformers 5 holds a checkpoint's per-expert tensors fused in memory (its named_parameters):
  // sum the squared norms of khub's per-expert parameters under that name.
  std::map<std::string, double> got;
  for (const Parameter& p : model->parameters()) {
    double n = l2(p.grad);
    got[transformers_param_name(p.name)] += n * n;
  }
  for (const auto& [key, sq] : got) {
    ASSERT_TRUE(want.contains(key))
        << name << ": khub has parameter " << key << " that transformers does not";
    double w = want[key].get<double>(), g = std::sqrt(sq);
    EXPECT_LE(std::fabs(g - w), 1e-4 * w + 1e-7) << name << " " << key << ": " << g << " vs " << w;
  }
  EXPECT_EQ(got.size(), want.size()) << name << ": transformers has parameters khub lacks";
}

// Steps of an optimizer on the recipe's fixed batch: the loss before each step (and the gradient
// norm before clipping, when `clip` > 0), as the golden script's torch loop computes them.
struct StepTrace {
  std::vector<double> losses, grad_norms;
};
StepTrace run_steps(const std::string& name, const nlohmann::json& opt_config, int steps,
                    double clip) {
  Checkpoint ck(name);
  auto model = CausalLM::from_pretrained(ck.dir.string());
  model->train();
  TrainBatch batch = recipe_batch(recipes());
  std::unique_ptr<Optimizer> opt = make_optimizer(opt_config, model->parameters());
  StepTrace out;
  for (int s = 0; s < steps; ++s) {
    opt->zero_grad();
    Loss loss = model->loss(batch);
    loss.backward();
    out.losses.push_back(loss.item());
    if (clip > 0) out.grad_norms.push_back(clip_grad_norm(model->parameters(), clip));
    opt->step();
  }
  return out;
}

void expect_close(const std::vector<double>& got, const nlohmann::json& want,
                  const std::string& what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  for (size_t i = 0; i < got.size(); ++i) {
    double w = want[i].get<double>();
    EXPECT_LE(std::fabs(got[i] - w), 1e-4 * std::fabs(w))
        << what << " step " << i + 1 << ": " << got[i] << " vs " << w;
  }
}

TEST_P(Training, AdamWStepsMatchTorch) {
  std::string name = GetParam();
  nlohmann::json golden = golden_of(name);
  ASSERT_FALSE(golden.is_null());
  nlohmann::json a = recipes()["adamw"];
  nlohmann::json config = {{"type", "adamw"},
                           {"lr", a["lr"]},
                           {"betas", a["betas"]},
                           {"eps", a["eps"]},
                           {"weight_decay", a["weight_decay"]}};
  StepTrace t = run_steps(name, config, a["steps"].get<int>(), 0);
  expect_close(t.losses, golden["adamw_losses"], name + " AdamW loss");
}

TEST_P(Training, ClippedSgdStepsMatchTorch) {
  std::string name = GetParam();
  nlohmann::json golden = golden_of(name);
  ASSERT_FALSE(golden.is_null());
  nlohmann::json s = recipes()["sgd"];
  nlohmann::json config = {{"type", "sgd"},
                           {"lr", s["lr"]},
                           {"momentum", s["momentum"]},
                           {"weight_decay", s["weight_decay"]}};
  StepTrace t = run_steps(name, config, s["steps"].get<int>(), s["clip"].get<double>());
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
