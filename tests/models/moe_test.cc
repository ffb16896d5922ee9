// Mixture-of-experts models (qwen3_moe, mixtral) beyond the transformers parity goldens: the
// experts op against a float64 evaluation of its definition on routings where most experts get
// no token and one gets them all, the two checkpoint layouts (one tensor per expert as the Hub
// publishes, transformers 5's fused gate_up_proj / down_proj) giving the same logits, and clear
// errors for configs and uses that are not supported.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <random>

#include "io/safetensors_file.h"
#include "models/arch.h"
#include "models/causal_lm.h"
#include "models/config.h"
#include "models/init_weights.h"
#include "ops/moe.h"
#include "parity_fixtures.h"

namespace khub {
namespace {

namespace fs = std::filesystem;

Tensor random_tensor(Shape shape, uint32_t seed, double scale = 1.0) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> d(0.0f, static_cast<float>(scale));
  std::vector<float> v(shape_numel(shape));
  for (float& x : v) x = d(rng);
  return Tensor::from_vector(v, shape, DType::kF32);
}

double silu(double x) { return x / (1.0 + std::exp(-x)); }

// y[t] = Σ_j w[t,j] · down[e] · (silu(gate[e] x) ⊙ up[e] x), in float64.
std::vector<double> experts_f64(const Tensor& x, const ops::ExpertRoutes& r, const Tensor& gu,
                                const Tensor& dn) {
  const int64_t t = x.size(0), h = x.size(1), inter = dn.size(2), e_count = gu.size(0);
  std::vector<float> xv = x.to_float_vector(), guv = gu.to_float_vector(),
                     dnv = dn.to_float_vector();
  std::vector<double> y(t * h, 0.0);
  for (int64_t i = 0; i < t; ++i) {
    for (int64_t j = 0; j < r.top_k; ++j) {
      int64_t e = r.expert[i * r.top_k + j];
      EXPECT_LT(e, e_count);
      std::vector<double> mid(inter);
      for (int64_t k = 0; k < inter; ++k) {
        double g = 0, u = 0;
        for (int64_t c = 0; c < h; ++c) {
          g += double{guv[(e * 2 * inter + k) * h + c]} * xv[i * h + c];
          u += double{guv[(e * 2 * inter + inter + k) * h + c]} * xv[i * h + c];
        }
        mid[k] = silu(g) * u;
      }
      for (int64_t c = 0; c < h; ++c) {
        double s = 0;
        for (int64_t k = 0; k < inter; ++k) s += double{dnv[(e * h + c) * inter + k]} * mid[k];
        y[i * h + c] += r.weight[i * r.top_k + j] * s;
      }
    }
  }
  return y;
}

TEST(MoeOps, RoutingPicksTheLargestProbabilitiesAndRenormalizes) {
  // Logits chosen so the softmax order is known: expert 2 > 0 > 3 > 1.
  Tensor logits =
      Tensor::from_vector(std::vector<float>{1.0f, -2.0f, 3.0f, 0.5f}, {1, 4}, DType::kF32);
  ops::ExpertRoutes plain = ops::route_softmax_topk(logits, 2, false);
  ops::ExpertRoutes norm = ops::route_softmax_topk(logits, 2, true);
  double z = std::exp(1.0) + std::exp(-2.0) + std::exp(3.0) + std::exp(0.5);
  EXPECT_EQ(plain.expert, (std::vector<int32_t>{2, 0}));
  EXPECT_NEAR(plain.weight[0], std::exp(3.0) / z, 1e-6);
  EXPECT_NEAR(plain.weight[1], std::exp(1.0) / z, 1e-6);
  EXPECT_NEAR(norm.weight[0], std::exp(3.0) / (std::exp(3.0) + std::exp(1.0)), 1e-6);
  EXPECT_NEAR(norm.weight[0] + norm.weight[1], 1.0, 1e-6);
  EXPECT_THROW(ops::route_softmax_topk(logits, 5, true), Error);
}

TEST(MoeOps, ExpertsMatchFloat64WhenMostExpertsGetNothing) {
  const int64_t t = 9, h = 12, inter = 10, e = 7;
  Tensor x = random_tensor({t, h}, 1);
  Tensor gu = random_tensor({e, 2 * inter, h}, 2, 0.3);
  Tensor dn = random_tensor({e, h, inter}, 3, 0.3);
  // Every token to expert 5 (and, for top-2, to expert 1): experts 0, 2, 3, 4, 6 get no token.
  for (int64_t k : {1, 2}) {
    Tensor logits = Tensor::zeros({t, e}, DType::kF32);
    for (int64_t i = 0; i < t; ++i) {
      logits.data_as<float>()[i * e + 5] = 4.0f + 0.1f * i;
      logits.data_as<float>()[i * e + 1] = 2.0f - 0.1f * i;
    }
    ops::ExpertRoutes r = ops::route_softmax_topk(logits, k, k == 2);
    for (int64_t i = 0; i < t; ++i) EXPECT_EQ(r.expert[i * k], 5);
    std::vector<float> got =
        ops::moe_experts(x, r, gu, dn, ops::ExpertActivation{}).to_float_vector();
    std::vector<double> want = experts_f64(x, r, gu, dn);
    for (size_t i = 0; i < want.size(); ++i) {
      EXPECT_NEAR(got[i], want[i], 1e-5 * (1 + std::fabs(want[i]))) << "top-" << k << " at " << i;
    }
  }
}

TEST(MoeOps, BadExpertShapesAreClearErrors) {
  Tensor x = random_tensor({2, 8}, 4);
  ops::ExpertRoutes r = ops::route_softmax_topk(random_tensor({2, 3}, 5), 1, true);
  Tensor gu = random_tensor({3, 10, 8}, 6), dn = random_tensor({3, 8, 4}, 7);  // 2I=10 ≠ 2·4
  try {
    ops::moe_experts(x, r, gu, dn, ops::ExpertActivation{});
    FAIL() << "mismatched expert shapes were accepted";
  } catch (const Error& err) {
    EXPECT_NE(std::string(err.what()).find("gate_up [E, 2I, H]"), std::string::npos) << err.what();
  }
}

struct TempDir {
  fs::path dir;
  explicit TempDir(const std::string& name)
      : dir(fs::temp_directory_path() / ("khub_moe_" + name + "_" + std::to_string(getpid()))) {}
  ~TempDir() { fs::remove_all(dir); }
};

// The same weights as transformers 5 keeps them in memory: gate_up_proj [E, 2I, H] and
// down_proj [E, H, I] under "mlp.experts." (mixtral's block renamed from block_sparse_moe).
InMemoryWeights fused_layout(const fs::path& dir, const ModelConfig& c) {
  SafetensorsFile f = SafetensorsFile::open(dir / "model.safetensors");
  InMemoryWeights w;
  MoeWeightNames n = moe_weight_names(c);
  for (const std::string& name : f.names()) {
    if (name.find(".experts.") == std::string::npos) {
      std::string renamed = name;
      if (auto p = renamed.find("." + n.block + ".gate."); p != std::string::npos)
        renamed.replace(p, n.block.size() + 2, ".mlp.");
      w.tensors[renamed] = f.get(name);
    }
  }
  const int64_t e = c.moe.num_experts, inter = c.moe.intermediate_size, h = c.hidden_size;
  for (int64_t l = 0; l < c.num_hidden_layers; ++l) {
    if (!c.layer_is_moe(l)) continue;
    std::string p = "model.layers." + std::to_string(l) + ".";
    Tensor gu = Tensor::empty({e, 2 * inter, h}, DType::kF32);
    Tensor dn = Tensor::empty({e, h, inter}, DType::kF32);
    for (int64_t x = 0; x < e; ++x) {
      std::string q = p + n.block + ".experts." + std::to_string(x) + ".";
      gu.select(0, x).slice(0, 0, inter).copy_from(f.get(q + n.gate + ".weight"));
      gu.select(0, x).slice(0, inter, 2 * inter).copy_from(f.get(q + n.up + ".weight"));
      dn.select(0, x).copy_from(f.get(q + n.down + ".weight"));
    }
    w.tensors[p + "mlp.experts.gate_up_proj"] = gu;
    w.tensors[p + "mlp.experts.down_proj"] = dn;
  }
  return w;
}

class MoeModels : public ::testing::TestWithParam<std::string> {};

TEST_P(MoeModels, FusedAndPerExpertLayoutsGiveTheSameLogits) {
  TempDir tmp(GetParam());
  InitModelOptions o;
  o.arch = GetParam();
  o.preset = "tiny";
  o.seed = 5;
  o.overrides = {{"num_hidden_layers", 3}};
  if (o.arch == "qwen3_moe") o.overrides["mlp_only_layers"] = {1};
  ModelConfig c = write_random_checkpoint(o, tmp.dir.string());
  auto per_expert = CausalLM::from_pretrained(tmp.dir.string());
  InMemoryWeights fused = fused_layout(tmp.dir, c);
  CausalLM from_fused(c, fused);
  std::vector<int32_t> prompt = {1, 9, 33, 200, 7, 64, 5};
  KVCache a = per_expert->make_cache(1, 8), b = from_fused.make_cache(1, 8);
  EXPECT_EQ(per_expert->forward({{0, prompt}}, a, true).to_float_vector(),
            from_fused.forward({{0, prompt}}, b, true).to_float_vector());
  // The report lists the MoE layers under their key.
  bool found = false;
  for (KernelizableLayer* l : per_expert->kernelizable_layers()) found |= l->layer_key() == "MoE";
  EXPECT_TRUE(found);
}

INSTANTIATE_TEST_SUITE_P(Archs, MoeModels, ::testing::Values("qwen3_moe", "mixtral"));

// gpt-oss as published (MXFP4 experts) and as save_pretrained writes it after dequantizing
// (gate_up_proj [E, H, 2I], down_proj [E, I, H]): the same model.
TEST(MoeModels, GptOssMxfp4AndUnquantizedLayoutsGiveTheSameLogits) {
  TempDir tmp("gpt_oss_mxfp4");
  InitModelOptions o;
  o.arch = "gpt_oss";
  o.preset = "tiny";
  o.seed = 9;
  o.overrides = {{"quantization_config", {{"quant_method", "mxfp4"}}}};
  ModelConfig c = write_random_checkpoint(o, tmp.dir.string());
  SafetensorsFile f = SafetensorsFile::open(tmp.dir / "model.safetensors");
  InMemoryWeights plain;
  for (const std::string& name : f.names()) {
    auto cut = name.find("_blocks");
    if (name.find("_scales") != std::string::npos) continue;
    if (cut == std::string::npos) {
      plain.tensors[name] = f.get(name);
      continue;
    }
    std::string base = name.substr(0, cut);
    Tensor t = ops::dequantize_mxfp4(f.get(name), f.get(base + "_scales"), base);
    plain.tensors[base] = t.transpose(1, 2).contiguous();
  }
  auto quantized = CausalLM::from_pretrained(tmp.dir.string());
  CausalLM unquantized(c, plain);
  std::vector<int32_t> prompt = {1, 9, 33, 200, 7, 64, 5, 11};
  KVCache a = quantized->make_cache(1, 8), b = unquantized.make_cache(1, 8);
  EXPECT_EQ(quantized->forward({{0, prompt}}, a, true).to_float_vector(),
            unquantized.forward({{0, prompt}}, b, true).to_float_vector());
}

// khub's MXFP4 unpacking against transformers' own (convert_moe_packed_tensors, run by
// scripts/golden on the blocks and scales of the gpt_oss_mxfp4 parity checkpoint).
TEST(MoeOps, Mxfp4MatchesTransformersUnpacking) {
  fs::path golden = "tests/fixtures/parity/gpt_oss_mxfp4.dequant.json";
  ASSERT_TRUE(fs::exists(golden)) << golden;
  nlohmann::json want = parity::read_json(golden);
  nlohmann::json recipes = parity::read_json("tests/fixtures/parity/recipes.json");
  TempDir tmp("mxfp4_golden");
  write_random_checkpoint(parity::recipe_options(recipes["models"]["gpt_oss_mxfp4"]),
                          tmp.dir.string());
  SafetensorsFile f = SafetensorsFile::open(tmp.dir / "model.safetensors");
  for (const char* p : {"gate_up_proj", "down_proj"}) {
    std::string base = std::string("model.layers.0.mlp.experts.") + p;
    Tensor t = ops::dequantize_mxfp4(f.get(base + "_blocks"), f.get(base + "_scales"), base);
    // transformers returns [E, cols, rows] (the parameter's orientation): transpose back.
    Tensor ref = Tensor::from_vector(parity::decode_b64_f32(want[p]["f32_b64"]),
                                     want[p]["shape"].get<Shape>(), DType::kF32);
    EXPECT_EQ(t.to_float_vector(), ref.transpose(1, 2).contiguous().to_float_vector()) << p;
  }
}

TEST(MoeModels, UnsupportedUsesAreClearErrors) {
  TempDir tmp("errors");
  InitModelOptions o;
  o.arch = "gpt_oss";
  o.preset = "tiny";
  o.overrides = {{"quantization_config", {{"quant_method", "mxfp4"}}}};
  write_random_checkpoint(o, tmp.dir.string());
  auto model = CausalLM::from_pretrained(tmp.dir.string());
  TrainBatch batch{.input_ids = {{1, 2, 3}}, .labels = {}};
  try {
    model->loss(batch);
    FAIL() << "training MXFP4 experts was accepted";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kUnsupported);
    EXPECT_NE(std::string(e.what()).find("GptOssForCausalLM: this checkpoint's experts are MXFP4"),
              std::string::npos)
        << e.what();
  }
  o.arch = "mixtral";
  o.overrides = {{"num_experts_per_tok", 9}};
  EXPECT_THROW(write_random_checkpoint(o, (tmp.dir / "bad").string()), Error);
}

}  // namespace
}  // namespace khub
