#include "core/allocator.h"

#include <cstdlib>
#include <mutex>
#include <new>

#include "core/device_backend.h"
#include "core/error.h"

namespace khub {
namespace {

class CpuAllocator final : public Allocator {
 public:
  void* allocate(size_t nbytes) override {
    if (nbytes == 0) nbytes = kCpuAlignment;
    size_t rounded = (nbytes + kCpuAlignment - 1) / kCpuAlignment * kCpuAlignment;
    void* p = std::aligned_alloc(kCpuAlignment, rounded);
    if (p == nullptr) fail(ErrorKind::kIo, "out of host memory allocating ", nbytes, " bytes");
    return p;
  }
  void deallocate(void* ptr, size_t) override { std::free(ptr); }
  Device device() const override { return Device::cpu(); }
};

std::mutex& registry_mutex() {
  static std::mutex mu;
  return mu;
}
constexpr int kMaxDeviceIndex = 16;
Allocator*& slot(Device device) {
  static Allocator* slots[8][kMaxDeviceIndex] = {};
  return slots[static_cast<int>(device.type)][device.index];
}

}  // namespace

Allocator* cpu_allocator() {
  static CpuAllocator alloc;
  return &alloc;
}

void register_allocator(DeviceType type, Allocator* allocator) {
  register_allocator(Device{type, 0}, allocator);
}

void register_allocator(Device device, Allocator* allocator) {
  KHUB_CHECK_ARG(device.index >= 0 && device.index < kMaxDeviceIndex, "device index of ",
                 device.str(), " is outside [0, ", kMaxDeviceIndex, ")");
  std::lock_guard<std::mutex> lock(registry_mutex());
  slot(device) = allocator;
}

Allocator* allocator_for(Device device) {
  if (device.is_cpu()) return cpu_allocator();
  KHUB_CHECK_ARG(device.index >= 0 && device.index < kMaxDeviceIndex, "device index of ",
                 device.str(), " is outside [0, ", kMaxDeviceIndex, ")");
  {
    std::lock_guard<std::mutex> lock(registry_mutex());
    if (Allocator* a = slot(device)) return a;
  }
  detail::ensure_device_backend(device);  // registers, or throws saying why it cannot
  std::lock_guard<std::mutex> lock(registry_mutex());
  Allocator* a = slot(device);
  if (a == nullptr) {
    fail(ErrorKind::kUnsupported, "no allocator for device ", device.str(),
         " (this build of khub has no runtime for it)");
  }
  return a;
}

}  // namespace khub
