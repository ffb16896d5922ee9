// kernelize in Mode::kTraining on the bundled hub's CPU kernels (build/hub, published by `make
// build`): which keys get a kernel forward *and* backward, that each bound backward gives the
// reference backward's gradients, that a kernel layer whose backward is missing or breaks the
// layer contract keeps the whole key on the reference (an error with strict), that norms read
// their live weight in training, and that eval() clears the backward slots again.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <random>

#include "kernelize/kernelize.h"
#include "layers/activation.h"
#include "layers/attention.h"
#include "layers/norm.h"
#include "layers/rotary.h"
#include "layers/rotary_cache.h"
#include "models/causal_lm.h"
#include "models/init_weights.h"
#include "ops/backward.h"
#include "ops/elementwise.h"

namespace khub {
namespace {

namespace fs = std::filesystem;

class KernelizeTraining : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    hub_ = KHUB_TEST_HUB;
    ASSERT_TRUE(fs::exists(hub_ + "/khub-community/rmsnorm"))
        << hub_ << " has no kernels: run `make build` (scripts/publish_bundled_hub.sh) first";
    root_ = fs::temp_directory_path() / ("khub_kzt_" + std::to_string(getpid()));
    for (const char* arch : {"qwen3", "gemma3"}) {
      write_random_checkpoint({.arch = arch, .preset = "tiny", .dtype = "f32", .seed = 7},
                              (root_ / arch).string());
    }
    write_random_checkpoint({.arch = "qwen3", .preset = "tiny", .dtype = "bf16", .seed = 7},
                            (root_ / "qwen3-bf16").string());
  }
  static void TearDownTestSuite() { fs::remove_all(root_); }
  void SetUp() override {
    setenv("KHUB_HUB_PATH", hub_.c_str(), 1);
    unsetenv("USE_HUB_KERNELS");
    unsetenv("DISABLE_KERNEL_MAPPING");
    unsetenv("LOCAL_KERNELS");
  }
  static std::string model(const char* arch) { return (root_ / arch).string(); }

  static inline std::string hub_;
  static inline fs::path root_;
};

// Whether a layer's backward slot holds a kernel (false for layers without a backward slot).
bool kernel_backward(const KernelizableLayer* l) {
  if (auto* n = dynamic_cast<const RMSNormLayer*>(l)) return n->kernel_backward();
  if (auto* n = dynamic_cast<const FusedAddRMSNormLayer*>(l)) return n->kernel_backward();
  if (auto* a = dynamic_cast<const ActAndMulLayer*>(l)) return a->kernel_backward();
  if (auto* r = dynamic_cast<const RotaryLayer*>(l)) return r->kernel_backward();
  if (auto* a = dynamic_cast<const AttentionLayer*>(l)) return a->kernel_backward();
  return false;
}

std::vector<KernelizableLayer*> layers_of(CausalLM& m, const std::string& key) {
  std::vector<KernelizableLayer*> out;
  for (KernelizableLayer* l : m.kernelizable_layers())
    if (l->layer_key() == key) out.push_back(l);
  return out;
}

Tensor random(Shape shape, uint32_t seed) {
  std::mt19937 gen(seed);
  std::normal_distribution<float> dist(0.0f, 1.0f);
  std::vector<float> v(static_cast<size_t>(shape_numel(shape)));
  for (float& x : v) x = dist(gen);
  return Tensor::from_vector(v, shape, DType::kF32);
}

// max |a − b| ≤ rel · max |b| (+ a floor for all-zero references).
void expect_close(const Tensor& a, const Tensor& b, double rel, const std::string& what) {
  std::vector<float> x = a.to_float_vector(), y = b.to_float_vector();
  ASSERT_EQ(x.size(), y.size()) << what;
  double worst = 0, scale = 0;
  for (size_t i = 0; i < x.size(); ++i) {
    worst = std::max(worst, std::fabs(double(x[i]) - y[i]));
    scale = std::max(scale, std::fabs(double(y[i])));
  }
  EXPECT_LE(worst, rel * scale + 1e-30) << what << ": max |Δ| " << worst << ", max |ref| " << scale;
}

const std::vector<std::string>& bound_keys(const std::string& arch) {
  static const std::vector<std::string> qwen3 = {"RMSNorm", "FusedAddRMSNorm", "SiluAndMul",
                                                 "rotary_pos_emb"};
  static const std::vector<std::string> gemma3 = {"GemmaRMSNorm", "GeluTanhAndMul",
                                                  "rotary_pos_emb"};
  return arch == "gemma3" ? gemma3 : qwen3;
}

TEST_F(KernelizeTraining, TrainingBindsBackwardsAndEvalClearsThem) {
  for (const char* arch : {"qwen3", "gemma3"}) {
    auto m = CausalLM::from_pretrained(model(arch), {.use_kernels = true});
    m->train();
    const KernelReport& r = m->kernel_report();
    EXPECT_EQ(r.mode, Mode::kTraining) << arch;
    for (const std::string& key : bound_keys(arch)) {
      const KeyDecision* d = r.find(key);
      ASSERT_NE(d, nullptr) << arch << " " << key;
      ASSERT_TRUE(d->kernel.has_value()) << arch << " " << key << ": " << d->reason;
      EXPECT_EQ(d->matched_mode, Mode::kTraining) << arch << " " << key;
      for (KernelizableLayer* l : layers_of(*m, key)) {
        EXPECT_TRUE(l->kernelized()) << l->path();
        EXPECT_TRUE(kernel_backward(l)) << l->path();
      }
    }
    // Attention and RotaryKVCache are mapped on CUDA only (flash-attn).
    for (const char* key : {"Attention", "RotaryKVCache"}) {
      const KeyDecision* d = r.find(key);
      ASSERT_NE(d, nullptr) << arch << " " << key;
      EXPECT_FALSE(d->kernel.has_value()) << arch << " " << key;
      EXPECT_EQ(d->reason, "no kernel mapped for device cpu (mapped: cuda)") << arch << " " << key;
      for (KernelizableLayer* l : layers_of(*m, key)) EXPECT_FALSE(kernel_backward(l));
    }
    // eval() rebinds for inference: the same kernels' forwards, no backward slots.
    m->eval();
    EXPECT_EQ(m->kernel_report().mode, Mode::kInference);
    for (const std::string& key : bound_keys(arch)) {
      for (KernelizableLayer* l : layers_of(*m, key)) {
        EXPECT_TRUE(l->kernelized()) << l->path();
        EXPECT_FALSE(kernel_backward(l)) << l->path();
      }
    }
    m->train();
    for (KernelizableLayer* l : layers_of(*m, bound_keys(arch)[0])) EXPECT_TRUE(kernel_backward(l));
  }
}

// Every bound layer's backward (the kernel) against the reference backward of the same layer on
// the same inputs. The weight gradients start from a non-zero value: both must add into it.
TEST_F(KernelizeTraining, KernelBackwardsMatchTheReference) {
  const double tol = 1e-5;
  for (const char* arch : {"qwen3", "gemma3"}) {
    auto m = CausalLM::from_pretrained(model(arch), {.use_kernels = true});
    m->train();
    int checked = 0;
    uint32_t seed = 1;
    for (KernelizableLayer* l : m->kernelizable_layers()) {
      if (!kernel_backward(l)) continue;
      std::string what = std::string(arch) + " " + l->path();
      if (auto* n = dynamic_cast<RMSNormLayer*>(l)) {
        int64_t h = n->weight.size(0);
        Tensor x = random({3, 2, h}, seed++), dy = random({3, 2, h}, seed++);
        Tensor dw_k = random({h}, seed), dw_r = random({h}, seed++);
        Tensor dx_k = n->backward(x, dy, &dw_k);
        Tensor dx_r = n->reference_backward(x, dy, &dw_r);
        expect_close(dx_k, dx_r, tol, what + " dx");
        expect_close(dw_k, dw_r, tol, what + " dweight");
        // A null dweight is allowed (a frozen weight).
        expect_close(n->backward(x, dy, nullptr), dx_r, tol, what + " dx (no dweight)");
      } else if (auto* n = dynamic_cast<FusedAddRMSNormLayer*>(l)) {
        int64_t h = n->weight.size(0);
        Tensor sum = random({5, h}, seed++), dy = random({5, h}, seed++);
        Tensor dres_k = random({5, h}, seed), dres_r = random({5, h}, seed++);
        Tensor dw_k = random({h}, seed), dw_r = random({h}, seed++);
        n->backward(sum, dy, dres_k, &dw_k);
        n->reference_backward(sum, dy, dres_r, &dw_r);
        expect_close(dres_k, dres_r, tol, what + " dresidual");
        expect_close(dw_k, dw_r, tol, what + " dweight");
      } else if (auto* a = dynamic_cast<ActAndMulLayer*>(l)) {
        Tensor x = random({5, 2 * 24}, seed++), dy = random({5, 24}, seed++);
        expect_close(a->backward(x, dy), ops::act_and_mul_backward(x, dy, a->act), tol,
                     what + " dx");
      } else if (auto* r = dynamic_cast<RotaryLayer*>(l)) {
        int64_t rd = r->rotary_dim, dh = rd + 4;  // a partial rotary's untouched tail too
        Tensor cos = random({4, rd / 2}, seed++), sin = random({4, rd / 2}, seed++);
        Tensor dq_k = random({4, 3, dh}, seed), dq_r = random({4, 3, dh}, seed++);
        Tensor dk_k = random({4, 1, dh}, seed), dk_r = random({4, 1, dh}, seed++);
        r->backward(dq_k, dk_k, cos, sin);
        ops::apply_rotary_backward(dq_r, dk_r, cos, sin, r->rotary_dim, r->interleaved);
        expect_close(dq_k, dq_r, tol, what + " dq");
        expect_close(dk_k, dk_r, tol, what + " dk");
      } else {
        ADD_FAILURE() << what << " has a kernel backward the test does not know";
      }
      ++checked;
    }
    EXPECT_GT(checked, 4) << arch;
  }
}

// A whole training step through the kernels: the loss and every parameter's gradient equal the
// reference model's.
TEST_F(KernelizeTraining, TrainingStepGradientsMatchTheReference) {
  for (const char* arch : {"qwen3", "gemma3"}) {
    auto ref = CausalLM::from_pretrained(model(arch));
    auto ker = CausalLM::from_pretrained(model(arch), {.use_kernels = true});
    ref->train();
    ker->train();
    ASSERT_TRUE(ker->kernel_report().find(bound_keys(arch)[0])->kernel.has_value());
    TrainBatch batch{{{3, 1, 4, 1, 5, 9, 2, 6}, {2, 7, 1, 8, 2, 8}}, {}};
    Loss lr = ref->loss(batch), lk = ker->loss(batch);
    EXPECT_NEAR(lk.item(), lr.item(), 1e-5 * std::fabs(lr.item())) << arch;
    lr.backward();
    lk.backward();
    std::vector<Parameter>& pr = ref->parameters();
    std::vector<Parameter>& pk = ker->parameters();
    ASSERT_EQ(pr.size(), pk.size());
    for (size_t i = 0; i < pr.size(); ++i) {
      // Gradients pass through every layer below: allow the f32 reorderings to add up a little.
      expect_close(pk[i].grad, pr[i].grad, 1e-4, std::string(arch) + " " + pr[i].name);
    }
  }
}

// Training mode reads a norm's live weight, never a copy made at bind time: an optimizer updates
// the weight in place after every step. A weight in the activations' dtype is passed as it is; one
// in another dtype (here a bf16 checkpoint's, before parameters() makes it f32; on CUDA, f32
// weights under bf16 activations) is converted per call — a bind-time copy would go stale. After
// parameters() (which replaces every weight by an owned f32 copy and binds again) the same holds.
TEST_F(KernelizeTraining, NormsUseTheLiveWeightInTraining) {
  for (const char* arch : {"qwen3", "qwen3-bf16"}) {
    std::string what = arch;
    auto m = CausalLM::from_pretrained(model(arch), {.use_kernels = true, .mode = Mode::kTraining});
    auto norms = layers_of(*m, "RMSNorm");
    ASSERT_FALSE(norms.empty());
    auto* n = dynamic_cast<RMSNormLayer*>(norms.back());  // the final norm
    ASSERT_TRUE(n->kernel_backward()) << arch;
    EXPECT_EQ(n->weight.dtype(), what == "qwen3" ? DType::kF32 : DType::kBF16);
    int64_t h = n->weight.size(0);
    Tensor x = random({4, h}, 11), dy = random({4, h}, 12);
    // An in-place update of the checkpoint's weight (in its own dtype).
    n->weight.copy_from(random({h}, 13));
    expect_close(n->forward(x), n->reference_forward(x), 1e-5, what + " forward (updated)");
    Tensor dw_k = Tensor::zeros({h}, DType::kF32), dw_r = Tensor::zeros({h}, DType::kF32);
    Tensor dx_r =
        ops::rms_norm_backward(x, ops::cast(n->weight, DType::kF32), n->eps, 0.0f, dy, &dw_r);
    expect_close(n->backward(x, dy, &dw_k), dx_r, 1e-5, what + " dx (updated)");
    expect_close(dw_k, dw_r, 1e-5, what + " dweight (updated)");
    // The trainable parameters, and an optimizer step on one: in place, on the parameter's value.
    std::vector<Parameter>& params = m->parameters();
    EXPECT_EQ(n->weight.dtype(), DType::kF32);
    ASSERT_TRUE(n->kernel_backward()) << arch << ": parameters() binds again";
    auto p = std::find_if(params.begin(), params.end(),
                          [&](const Parameter& q) { return q.name == n->path() + ".weight"; });
    ASSERT_NE(p, params.end()) << n->path();
    ASSERT_EQ(p->value.data(), n->weight.data()) << "the parameter is the layer's weight";
    p->value.copy_from(random({h}, 14));
    expect_close(n->forward(x), n->reference_forward(x), 1e-5, what + " forward (step)");
    dw_k = Tensor::zeros({h}, DType::kF32);
    dw_r = Tensor::zeros({h}, DType::kF32);
    expect_close(n->backward(x, dy, &dw_k), n->reference_backward(x, dy, &dw_r), 1e-5,
                 what + " dx (step)");
    expect_close(dw_k, dw_r, 1e-5, what + " dweight (step)");
  }
}

// tests/kernelize/fixtures/mismatch: forwards that match the contracts, backwards that do not.
TEST_F(KernelizeTraining, BackwardOutsideTheContractKeepsTheKeyOnTheReference) {
  const std::string k = KHUB_TEST_MISMATCH;
  KernelConfig config{{{"RMSNorm", k + ":RMSNorm"},
                       {"SiluAndMul", k + ":SiluAndMul"},
                       {"rotary_pos_emb", k + ":rotary_pos_emb"}}};
  // Inference: the forwards are bound (so training refuses them for their backwards alone).
  auto inf = CausalLM::from_pretrained(model("qwen3"), {.kernel_config = config});
  for (const char* key : {"RMSNorm", "SiluAndMul", "rotary_pos_emb"}) {
    const KeyDecision* d = inf->kernel_report().find(key);
    EXPECT_TRUE(d->kernel.has_value()) << key << ": " << d->reason;
  }
  auto tr = CausalLM::from_pretrained(model("qwen3"), {.kernel_config = config});
  tr->train();
  const KernelReport& r = tr->kernel_report();
  const KeyDecision* norm = r.find("RMSNorm");
  EXPECT_FALSE(norm->kernel.has_value());
  EXPECT_NE(norm->reason.find("its backward 'rms_norm_backward' has no argument 'grad_weight'"),
            std::string::npos)
      << norm->reason;
  const KeyDecision* act = r.find("SiluAndMul");
  EXPECT_FALSE(act->kernel.has_value());
  EXPECT_NE(act->reason.find("backward 'silu_and_mul_backward' supports bf16 for 'x', not f32"),
            std::string::npos)
      << act->reason;
  const KeyDecision* rot = r.find("rotary_pos_emb");
  EXPECT_FALSE(rot->kernel.has_value());
  EXPECT_NE(rot->reason.find(":rotary_pos_emb has no backward (training mode)"), std::string::npos)
      << rot->reason;
  // The whole key: no instance keeps the kernel's forward (the q/k norms are RMSNorm too).
  for (const char* key : {"RMSNorm", "SiluAndMul", "rotary_pos_emb"}) {
    for (KernelizableLayer* l : layers_of(*tr, key)) {
      EXPECT_FALSE(l->kernelized()) << l->path();
      EXPECT_FALSE(kernel_backward(l)) << l->path();
    }
  }
  // The fixture's functions refuse every call: a training step works, so none of them runs.
  Loss loss = tr->loss({{{3, 1, 4, 1, 5, 9}}, {}});
  EXPECT_TRUE(std::isfinite(loss.item()));
  loss.backward();
  // strict: the same fallback is an error naming the backward.
  try {
    CausalLM::from_pretrained(model("qwen3"),
                              {.kernel_config = config, .mode = Mode::kTraining, .strict = true});
    ADD_FAILURE() << "strict training kernelize did not throw";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("rms_norm_backward"), std::string::npos) << e.what();
  }
}

// An Attention kernel whose backward breaks the backward contract (the mismatch fixture's: one
// serves head_dim 256 only, the tiny model's is 16; one has no grad_v_cache) binds in inference
// and keeps the reference for both directions in training, the report naming the backward.
TEST_F(KernelizeTraining, AttentionBackwardOutsideTheContractKeepsTheReference) {
  const std::string k = KHUB_TEST_MISMATCH;
  struct Case {
    const char* layer;
    const char* reason;
  };
  for (Case c : {Case{"Attention", "backward 'attention_backward' supports head_dim [256], not 16"},
                 Case{"AttentionNoGradV",
                      "its backward 'attention_backward_no_grad_v' has no "
                      "argument 'grad_v_cache'"}}) {
    KernelConfig config{{{"Attention", k + ":" + c.layer}}};
    auto inf = CausalLM::from_pretrained(model("qwen3"), {.kernel_config = config});
    const KeyDecision* di = inf->kernel_report().find("Attention");
    ASSERT_NE(di, nullptr);
    EXPECT_TRUE(di->kernel.has_value()) << c.layer << ": " << di->reason;
    auto tr = CausalLM::from_pretrained(model("qwen3"), {.kernel_config = config});
    tr->train();
    const KeyDecision* d = tr->kernel_report().find("Attention");
    ASSERT_NE(d, nullptr);
    EXPECT_FALSE(d->kernel.has_value()) << c.layer;
    EXPECT_NE(d->reason.find(c.reason), std::string::npos) << d->reason;
    for (KernelizableLayer* l : layers_of(*tr, "Attention")) {
      EXPECT_FALSE(l->kernelized()) << l->path();
      EXPECT_FALSE(kernel_backward(l)) << l->path();
    }
    // The fixture's functions refuse every call: a training step works, so none of them runs.
    Loss loss = tr->loss({{{3, 1, 4, 1, 5, 9}}, {}});
    EXPECT_TRUE(std::isfinite(loss.item()));
    loss.backward();
  }
}

// Kernel layers that declare no backward (the test kernels' Attention and RotaryKVCache; the
// shipped flash-attn's RotaryKVCache): training mode keeps the reference and says why; strict
// makes that an error.
TEST_F(KernelizeTraining, LayersWithoutBackwardFallBackInTraining) {
  auto m = CausalLM::from_pretrained(model("qwen3"));
  struct Case {
    const char* key;
    KernelizeOptions options;
  };
  KernelizeOptions attn{.mode = Mode::kTraining,
                        .use_default_mapping = false,
                        .attn_implementation = std::string(KHUB_TEST_CONSTRAINED) + ":Attention"};
  KernelizeOptions fused{.mode = Mode::kTraining,
                         .use_default_mapping = false,
                         .kernel_config = KernelConfig{
                             {{"RotaryKVCache", std::string(KHUB_TEST_FUSED) + ":RotaryKVCache"}}}};
  for (Case c : {Case{"Attention", attn}, Case{"RotaryKVCache", fused}}) {
    std::vector<KernelizableLayer*> layers = layers_of(*m, c.key);
    ASSERT_FALSE(layers.empty()) << c.key;
    Kernelizer k;
    // Inference binds it (the forward is usable); training does not.
    KernelizeOptions inference = c.options;
    inference.mode = Mode::kInference;
    EXPECT_TRUE(k.kernelize(layers, inference).find(c.key)->kernel.has_value()) << c.key;
    KernelReport r = k.kernelize(layers, c.options);
    const KeyDecision* d = r.find(c.key);
    ASSERT_NE(d, nullptr) << c.key;
    EXPECT_FALSE(d->kernel.has_value()) << c.key;
    EXPECT_NE(d->reason.find(std::string(":") + c.key + " has no backward (training mode)"),
              std::string::npos)
        << d->reason;
    for (KernelizableLayer* l : layers) EXPECT_FALSE(l->kernelized()) << l->path();
    KernelizeOptions strict = c.options;
    strict.strict = true;
    try {
      k.kernelize(layers, strict);
      ADD_FAILURE() << c.key << ": strict training kernelize did not throw";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("has no backward (training mode)"), std::string::npos)
          << e.what();
    }
  }
}

}  // namespace
}  // namespace khub
