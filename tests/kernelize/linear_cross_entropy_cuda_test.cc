// The LinearCrossEntropy layer on CUDA (label gpu): the reference path and the bundled hub's
// khub-community/linear-cross-entropy CUDA kernel (cuBLAS GEMMs in chunks, one block per row for
// the loss and the logit gradients) against float64 math, in f32 and bf16, with soft-capping,
// ignored rows and a vocabulary of odd size.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>

#include "core/cuda.h"
#include "hub/get_kernel.h"
#include "kernelize/kernelize.h"
#include "linear_ce_fixtures.h"
#include "ops/elementwise.h"

namespace khub {
namespace {

using namespace lce_test;

class LinearCrossEntropyCuda : public ::testing::TestWithParam<DType> {
 protected:
  void SetUp() override {
    if (!cuda_available()) GTEST_SKIP() << "no CUDA device: " << cuda_status();
    // The GPU machine runs the tests from a package and points KHUB_HUB_PATH at its hub.
    setenv("KHUB_HUB_PATH", KHUB_TEST_HUB, 0);
    unsetenv("LOCAL_KERNELS");
  }
};

// Forward and backward through `layer` on the device in `dt`, against float64 on the same
// (dtype-rounded) inputs: loss within `loss_rel`, gradients within `grad_rel` of their max.
void check_cuda(const LinearCrossEntropyLayer& layer, const Case& c, DType dt, double loss_rel,
                double grad_rel, const std::string& what) {
  Problem p = make_problem(c, 17);
  Device cuda = Device::cuda(0);
  // Round the inputs to dt first, so float64 sees exactly what the device computes on.
  p.hidden = ops::cast(p.hidden.to(cuda), dt);
  p.weight = ops::cast(p.weight.to(cuda), dt);
  Problem host = p;
  host.hidden = ops::cast(p.hidden, DType::kF32).to(Device::cpu());
  host.weight = ops::cast(p.weight, DType::kF32).to(Device::cpu());
  p.targets.ids = p.targets.ids.to(cuda);
  const float scale = 0.5f;
  Expected e = float64(host, c.softcap, scale);
  double loss = layer.forward(p.hidden, p.weight, p.targets);
  EXPECT_NEAR(loss, e.loss, loss_rel * std::fabs(e.loss)) << what;
  Tensor dw = Tensor::zeros({c.v, c.h}, DType::kF32, cuda);
  Tensor dh = layer.backward(p.hidden, p.weight, p.targets, scale, &dw);
  EXPECT_EQ(dh.dtype(), dt) << what;
  expect_close(ops::cast(dh, DType::kF32).to(Device::cpu()).to_float_vector(), e.dh, grad_rel,
               what + " grad_hidden");
  expect_close(dw.to(Device::cpu()).to_float_vector(), e.dw, grad_rel, what + " grad_weight");
}

const Case kCudaCases[] = {{300, 64, 5003, 0.0f}, {300, 64, 5003, 30.0f}, {33, 128, 17, 2.0f}};

double loss_tol(DType dt) { return dt == DType::kF32 ? 1e-5 : 2e-3; }
double grad_tol(DType dt) { return dt == DType::kF32 ? 1e-4 : 3e-2; }

TEST_P(LinearCrossEntropyCuda, ReferenceMatchesFloat64) {
  for (const Case& c : kCudaCases) {
    LinearCrossEntropyLayer layer("lm_head", c.softcap);
    check_cuda(layer, c, GetParam(), loss_tol(GetParam()) * 4, grad_tol(GetParam()),
               "reference V=" + std::to_string(c.v) + " cap=" + std::to_string(c.softcap));
  }
}

TEST_P(LinearCrossEntropyCuda, KernelMatchesFloat64) {
  KernelizeOptions o;
  o.device = Device::cuda(0);
  o.activation_dtype = GetParam();
  auto kernel = hub::get_kernel("khub-community/linear-cross-entropy@v1", {.device = o.device});
  for (const Case& c : kCudaCases) {
    LinearCrossEntropyLayer layer("lm_head", c.softcap);
    ASSERT_EQ(bind_kernel_layer(layer, *kernel, "LinearCrossEntropy", o, Mode::kTraining), "");
    check_cuda(layer, c, GetParam(), loss_tol(GetParam()), grad_tol(GetParam()),
               "kernel V=" + std::to_string(c.v) + " cap=" + std::to_string(c.softcap));
  }
}

INSTANTIATE_TEST_SUITE_P(Dtypes, LinearCrossEntropyCuda,
                         ::testing::Values(DType::kF32, DType::kBF16),
                         [](const auto& info) { return std::string(dtype_name(info.param)); });

}  // namespace
}  // namespace khub
