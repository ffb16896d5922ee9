#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "models/arch.h"
#include "models/config.h"

namespace khub {
namespace {

using nlohmann::json;

json base() {
  return {{"architectures", {"LlamaForCausalLM"}},
          {"vocab_size", 100},
          {"hidden_size", 32},
          {"intermediate_size", 64},
          {"num_hidden_layers", 2},
          {"num_attention_heads", 4},
          {"num_key_value_heads", 2}};
}

std::string error_of(const json& j) {
  try {
    parse_model_config(j, "cfg.json");
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

TEST(Config, UnknownArchitectureListsSupportedOnes) {
  json j = base();
  j["architectures"] = {"FalconForCausalLM"};
  std::string e = error_of(j);
  EXPECT_NE(e.find("FalconForCausalLM"), std::string::npos);
  for (const char* a : {"LlamaForCausalLM", "MistralForCausalLM", "Qwen2ForCausalLM",
                        "Qwen3ForCausalLM", "Gemma3ForCausalLM"}) {
    EXPECT_NE(e.find(a), std::string::npos) << a;
  }
}

TEST(Config, WrongTypesNameTheField) {
  json j = base();
  j["hidden_size"] = "big";
  EXPECT_NE(error_of(j).find("hidden_size"), std::string::npos);
  j = base();
  j["num_key_value_heads"] = 3;
  EXPECT_NE(error_of(j).find("not a multiple"), std::string::npos);
  j = base();
  j["rope_scaling"] = {{"rope_type", "longrope"}};
  EXPECT_NE(error_of(j).find("longrope"), std::string::npos);
  j = base();
  j["layer_types"] = {"full_attention"};
  EXPECT_NE(error_of(j).find("layer_types"), std::string::npos);
}

TEST(Config, DerivesHeadDimRopeAndLayerTypes) {
  ModelConfig c = parse_model_config(base());
  EXPECT_EQ(c.head_dim, 8);
  EXPECT_EQ(c.rope.rotary_dim, 8);
  EXPECT_EQ(c.rope.type, "default");
  EXPECT_NEAR(c.attention_scale, 1 / std::sqrt(8.0), 1e-12);

  json q = base();
  q["architectures"] = {"Qwen2ForCausalLM"};
  q["use_sliding_window"] = true;
  q["sliding_window"] = 16;
  q["max_window_layers"] = 1;
  c = parse_model_config(q);
  EXPECT_TRUE(c.qkv_bias);
  EXPECT_FALSE(c.o_bias);
  EXPECT_EQ(c.layer_types[0], LayerAttention::kFull);
  EXPECT_EQ(c.layer_types[1], LayerAttention::kSliding);

  json g = base();
  g.erase("architectures");
  g["model_type"] = "gemma3_text";
  g["num_hidden_layers"] = 6;
  g["query_pre_attn_scalar"] = 64;
  g["rope_scaling"] = {{"rope_type", "linear"}, {"factor", 8.0}};
  c = parse_model_config(g);
  EXPECT_TRUE(c.gemma_norm && c.sandwich_norm && c.qk_norm && c.scale_embeddings);
  EXPECT_EQ(c.head_dim, 256);
  EXPECT_NEAR(c.attention_scale, 1 / 8.0, 1e-12);
  EXPECT_EQ(c.layer_types[4], LayerAttention::kSliding);
  EXPECT_EQ(c.layer_types[5], LayerAttention::kFull);
  EXPECT_EQ(c.rope.type, "linear");
  EXPECT_EQ(c.rope_local.type, "default");  // sliding layers ignore rope_scaling
  EXPECT_EQ(c.rope_local.theta, 10000.0);
}

TEST(Config, AcceptsTransformersV5RopeParameters) {
  json j = base();
  j["rope_parameters"] = {{"rope_type", "llama3"},   {"rope_theta", 500000.0},
                          {"factor", 32.0},          {"low_freq_factor", 1.0},
                          {"high_freq_factor", 4.0}, {"original_max_position_embeddings", 8192}};
  ModelConfig c = parse_model_config(j);
  EXPECT_EQ(c.rope.type, "llama3");
  EXPECT_EQ(c.rope.theta, 500000.0);
  EXPECT_EQ(c.rope.original_max_position_embeddings, 8192);
}

TEST(Config, PresetsParse) {
  for (const ArchSpec* a : all_archs()) {
    for (const ModelPreset& p : a->presets) {
      json j = p.config;
      j["model_type"] = a->model_type;
      ModelConfig c = parse_model_config(j, a->model_type + "/" + p.name);
      EXPECT_GT(c.num_parameters(), 0);
      if (p.name == "small") {
        EXPECT_NEAR(c.num_parameters() / 1e6, 100, 15) << a->model_type;
      }
    }
  }
}

}  // namespace
}  // namespace khub
