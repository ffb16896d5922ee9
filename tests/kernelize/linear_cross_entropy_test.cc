// The LinearCrossEntropy layer (the LM head and its loss as one layer): its reference and the
// bundled hub's khub-community/linear-cross-entropy CPU kernel against float64 math written here
// (loss, the hidden states' and the weight's gradients; soft-capping, ignored rows, several
// chunks), the kernel's errors, and a model whose lm_head trains through the kernel giving the
// reference model's loss and gradients.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <random>

#include "core/error.h"
#include "hub/get_kernel.h"
#include "kernelize/kernelize.h"
#include "layers/linear_cross_entropy.h"
#include "linear_ce_fixtures.h"
#include "models/causal_lm.h"
#include "models/init_weights.h"

namespace khub {
namespace {

namespace fs = std::filesystem;
using namespace lce_test;

constexpr const char* kKernel = "khub-community/linear-cross-entropy@v1";

// Runs forward and backward through the layer (its slots as bound) with a non-zero starting
// weight gradient, and checks all three against float64.
void check_layer(const LinearCrossEntropyLayer& layer, const Problem& p, const Case& c,
                 const std::string& what) {
  const float scale = 0.37f;
  Expected e = float64(p, c.softcap, scale);
  double loss = layer.forward(p.hidden, p.weight, p.targets);
  EXPECT_NEAR(loss, e.loss, 1e-5 * std::fabs(e.loss)) << what;
  Tensor dw = Tensor::full({c.v, c.h}, 0.25, DType::kF32);
  Tensor dh = layer.backward(p.hidden, p.weight, p.targets, scale, &dw);
  expect_close(dh.to_float_vector(), e.dh, 2e-5, what + " grad_hidden");
  std::vector<double> want = e.dw;
  for (double& x : want) x += 0.25;  // the gradient is added into what was there
  std::vector<float> got = dw.to_float_vector();
  std::vector<double> delta_want(want.size());
  std::vector<float> delta_got(got.size());
  for (size_t i = 0; i < got.size(); ++i) {
    delta_got[i] = got[i] - 0.25f;
    delta_want[i] = e.dw[i];
  }
  expect_close(delta_got, delta_want, 2e-5, what + " grad_weight (added)");
}

class LinearCrossEntropy : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(fs::exists(std::string(KHUB_TEST_HUB) + "/khub-community/linear-cross-entropy"))
        << KHUB_TEST_HUB << " has no linear-cross-entropy kernel: run `make build` first";
    setenv("KHUB_HUB_PATH", KHUB_TEST_HUB, 1);
    unsetenv("LOCAL_KERNELS");
  }
};

const Case kCases[] = {{37, 24, 203, 0.0f}, {37, 24, 203, 3.0f}, {5, 16, 1, 0.0f}};

TEST_F(LinearCrossEntropy, ReferenceMatchesFloat64) {
  for (const Case& c : kCases) {
    LinearCrossEntropyLayer layer("lm_head", c.softcap);
    check_layer(layer, make_problem(c, 11), c, "reference V=" + std::to_string(c.v));
  }
}

TEST_F(LinearCrossEntropy, CpuKernelMatchesFloat64) {
  auto kernel = hub::get_kernel(kKernel);
  for (const Case& c : kCases) {
    LinearCrossEntropyLayer layer("lm_head", c.softcap);
    std::string err = bind_kernel_layer(layer, *kernel, "LinearCrossEntropy", KernelizeOptions{},
                                        Mode::kTraining);
    ASSERT_EQ(err, "");
    ASSERT_TRUE(layer.kernelized());
    ASSERT_TRUE(layer.kernel_backward());
    check_layer(layer, make_problem(c, 11), c, "kernel V=" + std::to_string(c.v));
  }
}

// The kernel's functions called directly with a chunk of 7 rows: 37 rows take six chunks, and
// the result is the single-chunk one.
TEST_F(LinearCrossEntropy, KernelChunksGiveTheSameResult) {
  auto kernel = hub::get_kernel(kKernel);
  loader::KernelLayer kl = kernel->layer("LinearCrossEntropy");
  ASSERT_TRUE(kl.backward.has_value());
  Case c{37, 24, 203, 3.0f};
  Problem p = make_problem(c, 5);
  Expected e = float64(p, c.softcap, 1.0);
  for (int64_t chunk : {int64_t{7}, int64_t{0}, int64_t{1000}}) {
    Tensor loss = Tensor::empty({c.t}, DType::kF32);
    kl.forward(loader::KernelArgs{{{"hidden", p.hidden},
                                   {"weight", p.weight},
                                   {"targets", p.targets.ids},
                                   {"loss", loss}},
                                  {{"softcap", 3.0}, {"chunk_rows", chunk}}},
               {});
    double sum = 0.0;
    for (float x : loss.to_float_vector()) sum += x;
    EXPECT_NEAR(sum, e.loss, 1e-5 * e.loss) << "chunk " << chunk;
    Tensor gh = Tensor::empty({c.t, c.h}, DType::kF32);
    Tensor gw = Tensor::zeros({c.v, c.h}, DType::kF32);
    (*kl.backward)(loader::KernelArgs{{{"hidden", p.hidden},
                                       {"weight", p.weight},
                                       {"targets", p.targets.ids},
                                       {"grad_hidden", gh},
                                       {"grad_weight", gw}},
                                      {{"softcap", 3.0}, {"chunk_rows", chunk}}},
                   {});
    expect_close(gh.to_float_vector(), e.dh, 2e-5, "grad_hidden, chunk " + std::to_string(chunk));
    expect_close(gw.to_float_vector(), e.dw, 2e-5, "grad_weight, chunk " + std::to_string(chunk));
  }
}

TEST_F(LinearCrossEntropy, BadTargetsAreRefusedWithTheirRow) {
  auto kernel = hub::get_kernel(kKernel);
  Case c{6, 8, 11, 0.0f};
  Problem p = make_problem(c, 3);
  p.targets.host[4] = 11;
  p.targets.ids = Tensor::from_vector(p.targets.host, {c.t}, DType::kI32);
  Tensor loss = Tensor::empty({c.t}, DType::kF32);
  try {
    kernel->layer("LinearCrossEntropy")
        .forward(loader::KernelArgs{{{"hidden", p.hidden},
                                     {"weight", p.weight},
                                     {"targets", p.targets.ids},
                                     {"loss", loss}},
                                    {}},
                 {});
    FAIL() << "a target outside the vocabulary was accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("target 11 of row 4 is outside [0, 11)"),
              std::string::npos)
        << e.what();
  }
  LinearCrossEntropyLayer layer("lm_head", 0.0f);
  try {
    layer.forward(p.hidden, p.weight, p.targets);
    FAIL() << "the reference accepted a target outside the vocabulary";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("lm_head: target 11 of row 4"), std::string::npos)
        << e.what();
  }
}

// A tiny model trained with kernels: the report binds lm_head to the kernel (forward and backward),
// and the loss and every gradient equal the reference model's.
TEST_F(LinearCrossEntropy, ModelTrainsThroughTheKernel) {
  fs::path dir = fs::temp_directory_path() / ("khub_lce_" + std::to_string(getpid()));
  write_random_checkpoint({.arch = "qwen3", .preset = "tiny", .dtype = "f32", .seed = 3},
                          dir.string());
  auto ref = CausalLM::from_pretrained(dir.string(), {});
  auto ker = CausalLM::from_pretrained(dir.string(), {.use_kernels = true});
  ref->train();
  ker->train();
  const KeyDecision* d = ker->kernel_report().find("LinearCrossEntropy");
  ASSERT_NE(d, nullptr);
  ASSERT_TRUE(d->kernel.has_value()) << d->reason;
  EXPECT_EQ(d->matched_mode, Mode::kTraining);
  TrainBatch batch;
  batch.input_ids = {{1, 5, 9, 2, 7, 7, 3}, {4, 4, 8, 1, 6}};
  Loss a = ref->loss(batch), b = ker->loss(batch);
  EXPECT_NEAR(a.item(), b.item(), 1e-5 * std::fabs(a.item()));
  a.backward();
  b.backward();
  auto pa = ref->parameters(), pb = ker->parameters();
  ASSERT_EQ(pa.size(), pb.size());
  for (size_t i = 0; i < pa.size(); ++i) {
    std::vector<float> x = pa[i].grad.to_float_vector(), y = pb[i].grad.to_float_vector();
    std::vector<double> yd(y.begin(), y.end());
    expect_close(x, yd, 1e-4, pa[i].name);
  }
  fs::remove_all(dir);
}

}  // namespace
}  // namespace khub
