// Whole-model parity with transformers: for every recipe in tests/fixtures/parity/recipes.json,
// `khub init-model`'s writer builds the checkpoint (deterministic from the seed), khub computes
// the prompt's logits and 16 greedy tokens, and both must match the golden outputs that
// scripts/golden/model_parity.py produced with transformers (float32, eager attention).
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "models/causal_lm.h"
#include "models/generation.h"
#include "models/init_weights.h"
#include "parity_fixtures.h"

namespace khub {
namespace {

namespace fs = std::filesystem;
using parity::kFixtures;

using parity::decode_b64_f32;
using parity::read_json;

class Parity : public ::testing::TestWithParam<std::string> {};

TEST_P(Parity, LogitsAndGreedyTokensMatchTransformers) {
  std::string name = GetParam();
  nlohmann::json recipes = read_json(fs::path(kFixtures) / "recipes.json");
  nlohmann::json golden = read_json(fs::path(kFixtures) / (name + ".golden.json"));
  const nlohmann::json& r = recipes["models"][name];
  InitModelOptions o = parity::recipe_options(r);
  fs::path dir =
      fs::temp_directory_path() / ("khub_parity_" + name + "_" + std::to_string(getpid()));
  write_random_checkpoint(o, dir.string());
  auto model = CausalLM::from_pretrained(dir.string());

  std::vector<int32_t> prompt = recipes["prompt_ids"].get<std::vector<int32_t>>();
  KVCache cache = model->make_cache(1, static_cast<int64_t>(prompt.size()));
  std::vector<float> got = model->forward({{0, prompt}}, cache, true).to_float_vector();
  std::vector<float> want = decode_b64_f32(golden["logits_f32_b64"]);
  ASSERT_EQ(got.size(), want.size());
  float max_abs = 0, max_diff = 0;
  for (size_t i = 0; i < want.size(); ++i) {
    max_abs = std::max(max_abs, std::fabs(want[i]));
    max_diff = std::max(max_diff, std::fabs(want[i] - got[i]));
  }
  EXPECT_LE(max_diff / max_abs, 1e-4)
      << name << ": max |Δlogit| " << max_diff << " for max |logit| " << max_abs;

  GenerationOptions g;
  g.max_new_tokens = recipes["max_new_tokens"];
  g.ignore_eos = true;
  GenerationResult res = generate(*model, {prompt}, g);
  EXPECT_EQ(res.tokens[0], golden["greedy_tokens"].get<std::vector<int32_t>>()) << name;
  fs::remove_all(dir);
}

INSTANTIATE_TEST_SUITE_P(
    Transformers, Parity,
    ::testing::Values("llama_gqa1_llama3rope_bias", "mistral_window5", "qwen2_yarn_bias",
                      "qwen3_headdim32_gqa1_sliding_dynamic", "gemma3_window4_softcap",
                      "qwen3_moe_e5_top2_dense1_gqa1", "qwen3_moe_e3_top1_step2_bias",
                      "mixtral_e5_top2_window4_gqa1", "mixtral_e3_top1",
                      "gpt_oss_e5_top2_window3_gqa1", "gpt_oss_e3_top1_window5"));

}  // namespace
}  // namespace khub
