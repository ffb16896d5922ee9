#include "ops/cuda_launch.h"

#include <array>
#include <cstdlib>
#include <cstring>
#include <mutex>

#include "core/cuda.h"

namespace khub::ops::cuda {

bool pdl_enabled(const Device& device) {
  constexpr int kMaxDevices = 64;
  static const bool switched_off = [] {
    const char* v = std::getenv("KHUB_CUDA_PDL");
    return v != nullptr && std::strcmp(v, "0") == 0;
  }();
  static std::array<int, kMaxDevices> known{};  // 0 unknown, 1 no, 2 yes
  static std::mutex mu;
  if (switched_off || device.index < 0 || device.index >= kMaxDevices) return false;
  std::lock_guard<std::mutex> lock(mu);
  int& k = known[device.index];
  if (k == 0) k = cuda_device_properties(device.index).major >= 9 ? 2 : 1;
  return k == 2;
}

}  // namespace khub::ops::cuda
