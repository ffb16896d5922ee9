// Shared by the training tests (training_test.cc on the CPU, training_cuda_test.cc on the GPU): the
// recipes of tests/fixtures/training (scripts/golden/training_golden.py wrote their goldens from
// transformers + torch), their checkpoints in temp dirs, and the name mapping to transformers'
// in-memory parameters.
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <regex>
#include <string>
#include <vector>

#include "models/causal_lm.h"
#include "models/init_weights.h"
#include "parity_fixtures.h"
#include "train/grad_clip.h"
#include "train/optimizer.h"

namespace khub::training {

namespace fs = std::filesystem;

inline const char* kTraining = "tests/fixtures/training";

inline nlohmann::json recipes() { return parity::read_json(fs::path(kTraining) / "recipes.json"); }

inline TrainBatch recipe_batch(const nlohmann::json& r) {
  TrainBatch b;
  b.input_ids = r["batch"]["input_ids"].get<std::vector<std::vector<int32_t>>>();
  b.labels = r["batch"]["labels"].get<std::vector<std::vector<int32_t>>>();
  return b;
}

inline double l2(const Tensor& t) {
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

inline std::vector<std::string> model_names() {
  std::vector<std::string> out;
  nlohmann::json r = recipes();
  for (const auto& m : r["models"].items()) out.push_back(m.key());
  return out;
}

// A checkpoint name → the parameter transformers 5 trains it as: one expert's
// "model.layers.L.<mlp|block_sparse_moe>.experts.E.<gate_proj|up_proj|w1|w3>.weight" is part of
// "model.layers.L.mlp.experts.gate_up_proj", its down projection (down_proj, w2) of
// "...experts.down_proj", and mixtral's router "block_sparse_moe.gate" is "mlp.gate".
inline std::string transformers_param_name(const std::string& name) {
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

inline nlohmann::json golden_of(const std::string& name) {
  fs::path path = fs::path(kTraining) / (name + ".golden.json");
  EXPECT_TRUE(fs::exists(path)) << path << " (scripts/golden/training_golden.py writes it)";
  return fs::exists(path) ? parity::read_json(path) : nlohmann::json();
}

// One loss and backward on the recipe batch against transformers' loss and per-parameter gradient
// norms, each within `rel` relative. transformers 5 holds a checkpoint's per-expert tensors fused
// in memory (its named_parameters): khub's per-expert norms are summed in squares under that name.
inline void expect_loss_and_grad_norms(CausalLM& model, const nlohmann::json& golden,
                                       const std::string& name, double rel) {
  Loss loss = model.loss(recipe_batch(recipes()));
  EXPECT_NEAR(loss.item(), golden["loss"].get<double>(), rel * golden["loss"].get<double>());
  loss.backward();
  const nlohmann::json& want = golden["grad_norms"];
  std::map<std::string, double> got;
  for (const Parameter& p : model.parameters()) {
    double n = l2(p.grad);
    got[transformers_param_name(p.name)] += n * n;
  }
  for (const auto& [key, sq] : got) {
    ASSERT_TRUE(want.contains(key))
        << name << ": khub has parameter " << key << " that transformers does not";
    double w = want[key].get<double>(), g = std::sqrt(sq);
    EXPECT_LE(std::fabs(g - w), rel * w + 1e-7) << name << " " << key << ": " << g << " vs " << w;
  }
  EXPECT_EQ(got.size(), want.size()) << name << ": transformers has parameters khub lacks";
}

// Steps of an optimizer on the recipe's fixed batch: the loss before each step (and the gradient
// norm before clipping, when `clip` > 0), as the golden script's torch loop computes them.
struct StepTrace {
  std::vector<double> losses, grad_norms;
};
inline StepTrace run_steps(const std::string& name, const nlohmann::json& opt_config, int steps,
                           double clip, const LoadOptions& load = {}) {
  Checkpoint ck(name);
  auto model = CausalLM::from_pretrained(ck.dir.string(), load);
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

inline void expect_close(const std::vector<double>& got, const nlohmann::json& want,
                         const std::string& what, double rel = 1e-4) {
  ASSERT_EQ(got.size(), want.size()) << what;
  for (size_t i = 0; i < got.size(); ++i) {
    double w = want[i].get<double>();
    EXPECT_LE(std::fabs(got[i] - w), rel * std::fabs(w))
        << what << " step " << i + 1 << ": " << got[i] << " vs " << w;
  }
}

inline nlohmann::json adamw_config() {
  nlohmann::json a = recipes()["adamw"];
  return {{"type", "adamw"},
          {"lr", a["lr"]},
          {"betas", a["betas"]},
          {"eps", a["eps"]},
          {"weight_decay", a["weight_decay"]}};
}

inline nlohmann::json sgd_config() {
  nlohmann::json s = recipes()["sgd"];
  return {{"type", "sgd"},
          {"lr", s["lr"]},
          {"momentum", s["momentum"]},
          {"weight_decay", s["weight_decay"]}};
}

}  // namespace khub::training
