// The hub a GPU test kernelizes from: $KHUB_HUB_PATH when set (a package's hub on the GPU machine,
// scripts/cuda/lib.sh) or the build tree's bundled hub, exported as KHUB_HUB_PATH together with
// HF_HUB_OFFLINE=1, so that kernelize finds the shipped kernels and never reaches the network.
#pragma once

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <string>

namespace khub::testing {

// Fails the test (fatally) when `repo` ("khub-community/flash-attn") is not in the hub.
inline void use_bundled_hub(const std::string& build_hub, const std::string& repo) {
  const char* env = std::getenv("KHUB_HUB_PATH");
  const std::string hub = env != nullptr ? env : build_hub;
  ASSERT_TRUE(std::filesystem::exists(std::filesystem::path(hub) / repo))
      << hub << " has no " << repo << ": run `make build` first";
  setenv("KHUB_HUB_PATH", hub.c_str(), 1);
  setenv("HF_HUB_OFFLINE", "1", 1);
}

}  // namespace khub::testing
