// Where the CUDA kernel tests find the built kernel projects: $KHUB_TEST_KERNELS_DIR (set on the
// GPU machine, where the tests run from a package) or the build tree's kernels/. And the fixture
// of a test on one project's CUDA variant.
#pragma once

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <memory>
#include <random>
#include <string>

#include "../ops/cuda_test_util.h"
#include "core/stream.h"
#include "hub/get_kernel.h"

namespace khub::testing {

inline std::filesystem::path kernels_dir() {
  if (const char* e = std::getenv("KHUB_TEST_KERNELS_DIR")) return e;
  return KHUB_TEST_KERNELS;
}

// One kernel project's CUDA variant, loaded as khub loads it (hub::get_local_kernel on the built
// project, the variant selected for device 0): skipped without a GPU, allocations NaN-poisoned,
// a fresh seed (tests print it on failure).
class KernelProjectTest : public ::testing::Test {
 protected:
  explicit KernelProjectTest(std::string project) : project_(std::move(project)) {}
  void SetUp() override {
    KHUB_SKIP_WITHOUT_CUDA();
    cuda_set_poison_allocations(true);
    seed_ = fresh_seed();
    rng_.seed(seed_);
    hub::KernelOptions options;
    options.device = Device::cuda(0);
    kernel_ = hub::get_local_kernel(kernels_dir() / project_, options);
    ASSERT_EQ(kernel_->manifest().backend, "cuda") << kernel_->identity().label();
  }
  void TearDown() override { cuda_set_poison_allocations(false); }
  static loader::ExecOptions on_stream() { return {.stream = current_stream(Device::cuda(0))}; }

  std::string project_;
  uint64_t seed_ = 0;
  std::mt19937_64 rng_;
  std::shared_ptr<const loader::Kernel> kernel_;
};

}  // namespace khub::testing
