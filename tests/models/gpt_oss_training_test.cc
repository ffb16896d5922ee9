// Training gpt-oss on the CPU reference path: its trainable parameters are the checkpoint's —
// attention sinks, the router with its bias, the fused experts (gate_up_proj [E, H, 2I] with gate
// and up interleaved, down_proj [E, I, H], their biases) — trained in khub's layout and saved
// back in gpt-oss's. Each group's gradient is the derivative of the loss along it (a directional
// finite difference of the loss itself: a reference the backward did not write), with the sink
// logits seen by the sliding and the full layers alike; a saved checkpoint reloads to exactly the
// trained values (the layout conversion is an exact inverse); and resumed training continues bit
// for bit.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <map>

#include "core/error.h"
#include "models/causal_lm.h"
#include "models/init_weights.h"
#include "train/checkpoint.h"
#include "train/optimizer.h"

namespace khub {
namespace {

namespace fs = std::filesystem;

struct GptOss {
  fs::path dir;
  GptOss() {
    dir = fs::temp_directory_path() / ("khub_gpt_oss_train_" + std::to_string(getpid()));
    InitModelOptions o{.arch = "gpt_oss", .preset = "tiny", .dtype = "f32", .seed = 21};
    // An odd expert count, top-2, one KV head, a window shorter than the rows.
    o.overrides = {{"num_local_experts", 5}, {"num_key_value_heads", 1}, {"sliding_window", 3}};
    write_random_checkpoint(o, dir.string());
  }
  ~GptOss() { fs::remove_all(dir); }
};

TrainBatch batch() {
  TrainBatch b;
  b.input_ids = {{3, 17, 5, 9, 22, 41, 7, 2}, {11, 4, 30, 8, 19}};
  return b;
}

double l2(const Tensor& t) {
  double s = 0;
  for (float v : t.to_float_vector()) s += double{v} * v;
  return std::sqrt(s);
}

TEST(GptOssTraining, ParametersAreTheCheckpointsTensors) {
  GptOss m;
  auto model = CausalLM::from_pretrained(m.dir.string());
  std::map<std::string, Shape> got;
  for (const Parameter& p : model->parameters()) got[p.name] = p.stored_shape();
  const ModelConfig& c = model->config();
  const int64_t e = 5, h = c.hidden_size, inter = c.moe.intermediate_size;
  const std::string l = "model.layers.1.";
  EXPECT_EQ(got.at(l + "self_attn.sinks"), (Shape{c.num_attention_heads}));
  EXPECT_EQ(got.at(l + "mlp.router.weight"), (Shape{e, h}));
  EXPECT_EQ(got.at(l + "mlp.router.bias"), (Shape{e}));
  EXPECT_EQ(got.at(l + "mlp.experts.gate_up_proj"), (Shape{e, h, 2 * inter}));
  EXPECT_EQ(got.at(l + "mlp.experts.gate_up_proj_bias"), (Shape{e, 2 * inter}));
  EXPECT_EQ(got.at(l + "mlp.experts.down_proj"), (Shape{e, inter, h}));
  EXPECT_EQ(got.at(l + "mlp.experts.down_proj_bias"), (Shape{e, h}));
}

// For each parameter group, the loss moved by ±ε along that group's own gradient direction
// changes by ≈ ±ε|g_group|.
TEST(GptOssTraining, EachGroupsGradientIsTheLossDerivative) {
  GptOss m;
  auto model = CausalLM::from_pretrained(m.dir.string());
  TrainBatch b = batch();
  Loss loss = model->loss(b);
  loss.backward();
  std::vector<Parameter>& params = model->parameters();
  for (const char* group :
       {"self_attn.sinks", "mlp.router.weight", "mlp.router.bias", "mlp.experts.gate_up_proj",
        "mlp.experts.gate_up_proj_bias", "mlp.experts.down_proj", "mlp.experts.down_proj_bias"}) {
    std::vector<Parameter*> in;
    double norm2 = 0;
    for (Parameter& p : params) {
      const std::string suffix = std::string(".") + group;
      if (p.name.size() > suffix.size() &&
          p.name.compare(p.name.size() - suffix.size(), suffix.size(), suffix) == 0) {
        in.push_back(&p);
        norm2 += l2(p.grad) * l2(p.grad);
      }
    }
    ASSERT_EQ(in.size(), 2u) << group << ": one per layer";
    const double norm = std::sqrt(norm2);
    ASSERT_GT(norm, 0) << group;
    std::vector<std::vector<float>> base, grad;
    for (Parameter* p : in) {
      base.push_back(p->value.to_float_vector());
      grad.push_back(p->grad.to_float_vector());
    }
    auto loss_at = [&](double eps) {
      for (size_t i = 0; i < in.size(); ++i) {
        float* v = in[i]->value.data_as<float>();
        for (size_t j = 0; j < base[i].size(); ++j)
          v[j] = base[i][j] + static_cast<float>(eps * grad[i][j] / norm);
      }
      return model->loss(b, false).item();
    };
    const double eps = 1e-2;
    const double fd = (loss_at(eps) - loss_at(-eps)) / (2 * eps);
    loss_at(0.0);
    std::printf("[gpt_oss grad] %-30s |g| %.6e, finite difference %.6e\n", group, norm, fd);
    EXPECT_NEAR(fd, norm, 2e-3 * norm) << group;
  }
}

TEST(GptOssTraining, SavedCheckpointReloadsToTheTrainedValuesAndResumes) {
  GptOss m;
  fs::path out = m.dir.string() + "-out";
  auto model = CausalLM::from_pretrained(m.dir.string());
  AdamW opt(model->parameters(), AdamWOptions{.lr = 1e-2});
  for (int s = 0; s < 2; ++s) {
    model->loss(batch()).backward();
    opt.step();
    model->zero_grad();
  }
  save_checkpoint(out, m.dir, model->parameters(), opt, {{"step", 2}});
  auto reloaded = CausalLM::from_pretrained(out.string());
  ASSERT_EQ(reloaded->parameters().size(), model->parameters().size());
  for (size_t i = 0; i < model->parameters().size(); ++i) {
    const Parameter& a = model->parameters()[i];
    const Parameter& r = reloaded->parameters()[i];
    ASSERT_EQ(a.name, r.name);
    EXPECT_EQ(a.value.to_float_vector(), r.value.to_float_vector()) << a.name;
  }
  // Two more steps after a resume equal two more steps of the original run.
  AdamW resumed(reloaded->parameters(), AdamWOptions{.lr = 1e-2});
  nlohmann::json state;
  load_checkpoint(out, reloaded->parameters(), resumed, state);
  for (int s = 0; s < 2; ++s) {
    Loss x = model->loss(batch()), y = reloaded->loss(batch());
    EXPECT_EQ(x.item(), y.item()) << "step " << 3 + s;
    x.backward();
    y.backward();
    opt.step();
    resumed.step();
    model->zero_grad();
    reloaded->zero_grad();
  }
  fs::remove_all(out);
}

}  // namespace
}  // namespace khub
