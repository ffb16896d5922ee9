// Where the CUDA kernel tests find the built kernel projects: $KHUB_TEST_KERNELS_DIR (set on the
// GPU machine, where the tests run from a package) or the build tree's kernels/.
#pragma once

#include <cstdlib>
#include <filesystem>

namespace khub::testing {

inline std::filesystem::path kernels_dir() {
  if (const char* e = std::getenv("KHUB_TEST_KERNELS_DIR")) return e;
  return KHUB_TEST_KERNELS;
}

}  // namespace khub::testing
