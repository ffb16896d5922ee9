#include "loader/system_info.h"

#include <dlfcn.h>
#include <sys/utsname.h>

#include <map>
#include <mutex>
#include <string>

#include "core/error.h"
#include "khub/kernel_abi.h"
#include "loader/variant.h"

namespace khub::loader {
namespace {

std::string host_os() {
#if defined(__APPLE__)
  return "darwin";
#elif defined(_WIN32)
  return "windows";
#else
  return "linux";
#endif
}

std::string host_cpu() {
  struct utsname u;
  if (uname(&u) == 0) return normalize_cpu(u.machine);
#if defined(__x86_64__)
  return "x86_64";
#elif defined(__aarch64__)
  return "aarch64";
#else
  return "unknown";
#endif
}

// The CUDA driver API, resolved at run time so that khub needs no CUDA at build time.
SystemInfo probe_cuda(SystemInfo info, int index) {
  void* lib = dlopen("libcuda.so.1", RTLD_NOW | RTLD_LOCAL);
  if (!lib)
    fail(ErrorKind::kNotFound, "no CUDA driver on this machine (libcuda.so.1: ", dlerror(), ")");
  using InitFn = int (*)(unsigned);
  using IntFn = int (*)(int*);
  using DeviceGetFn = int (*)(int*, int);
  using AttrFn = int (*)(int*, int, int);
  using NameFn = int (*)(char*, int, int);
  auto init = reinterpret_cast<InitFn>(dlsym(lib, "cuInit"));
  auto driver_version = reinterpret_cast<IntFn>(dlsym(lib, "cuDriverGetVersion"));
  auto count = reinterpret_cast<IntFn>(dlsym(lib, "cuDeviceGetCount"));
  auto get = reinterpret_cast<DeviceGetFn>(dlsym(lib, "cuDeviceGet"));
  auto attr = reinterpret_cast<AttrFn>(dlsym(lib, "cuDeviceGetAttribute"));
  auto name = reinterpret_cast<NameFn>(dlsym(lib, "cuDeviceGetName"));
  if (!init || !driver_version || !count || !get || !attr || !name) {
    fail(ErrorKind::kNotFound, "libcuda.so.1 lacks the driver API functions khub needs");
  }
  int rc = init(0);
  if (rc != 0) fail(ErrorKind::kNotFound, "no usable CUDA device (cuInit returned ", rc, ")");
  int n = 0, version = 0, dev = 0, major = 0, minor = 0;
  count(&n);
  if (index < 0 || index >= n) {
    fail(ErrorKind::kNotFound, "cuda:", index, " does not exist (", n, " CUDA devices)");
  }
  driver_version(&version);
  get(&dev, index);
  attr(&major, 75, dev);  // CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR
  attr(&minor, 76, dev);  // CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR
  char buf[256] = {0};
  name(buf, sizeof(buf) - 1, dev);
  // The library stays loaded: the CUDA runtime part of khub uses the same driver.
  info.device = DeviceType::kCUDA;
  info.runtime_version = std::to_string(version / 1000) + "." + std::to_string(version % 1000 / 10);
  info.arch = std::to_string(major) + "." + std::to_string(minor);
  info.device_name = buf;
  return info;
}

}  // namespace

SystemInfo SystemInfo::host() {
  SystemInfo info;
  info.os = host_os();
  info.cpu = host_cpu();
  info.abi_major = KHUB_KERNEL_ABI_VERSION_MAJOR;
  info.device = DeviceType::kCPU;
  return info;
}

SystemInfo SystemInfo::detect(Device device) {
  SystemInfo info = host();
  switch (device.type) {
    case DeviceType::kCPU:
      return info;
    case DeviceType::kCUDA: {
      // cuInit costs milliseconds and the answer never changes within a process: probe once per
      // device (failures are not cached, so a later call reports them again).
      static std::mutex mu;
      static std::map<int, SystemInfo> probed;
      std::lock_guard<std::mutex> lock(mu);
      auto it = probed.find(device.index);
      if (it == probed.end())
        it = probed.emplace(device.index, probe_cuda(info, device.index)).first;
      return it->second;
    }
    default:
      fail(ErrorKind::kUnsupported, "khub cannot probe ", device.str(),
           " devices on this build (ROCm, Metal, XPU and NPU are selection targets only; "
           "describe them with a synthetic SystemInfo)");
  }
}

std::string SystemInfo::describe() const {
  std::string s = os + " " + cpu + ", khub ABI " + std::to_string(abi_major) + ", " +
                  std::string(device_type_name(device));
  if (!runtime_version.empty()) s += " " + runtime_version;
  if (!arch.empty()) s += device == DeviceType::kCUDA ? ", capability " + arch : ", arch " + arch;
  if (!os_version.empty()) s += ", " + os + " " + os_version;
  if (!device_name.empty()) s += " (" + device_name + ")";
  return s;
}

}  // namespace khub::loader
