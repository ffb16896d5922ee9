#include "core/allocator.h"

#include <cstdlib>
#include <mutex>
#include <new>

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
Allocator*& slot(DeviceType type) {
  static Allocator* slots[8] = {};
  return slots[static_cast<int>(type)];
}

}  // namespace

Allocator* cpu_allocator() {
  static CpuAllocator alloc;
  return &alloc;
}

void register_allocator(DeviceType type, Allocator* allocator) {
  std::lock_guard<std::mutex> lock(registry_mutex());
  slot(type) = allocator;
}

Allocator* allocator_for(Device device) {
  if (device.is_cpu()) return cpu_allocator();
  std::lock_guard<std::mutex> lock(registry_mutex());
  Allocator* a = slot(device.type);
  if (a == nullptr) {
    fail(ErrorKind::kUnsupported, "no allocator for device ", device.str(),
         " (this build of khub has no runtime for it)");
  }
  return a;
}

}  // namespace khub
