// What the machine offers a kernel variant: OS, CPU, the kernel ABI this runtime speaks, and the
// one device a kernel is selected for (its runtime version and architecture). Selection reads only
// this struct, so tests synthesize any machine (an H100, a gfx942, an M3, a Ponte Vecchio) and the
// CLI describes the real one.
#pragma once

#include <string>

#include "core/device.h"

namespace khub::loader {

struct SystemInfo {
  std::string os = "linux";    // linux, darwin, windows
  std::string cpu = "x86_64";  // x86_64, aarch64
  int abi_major = 1;           // the khub kernel ABI major this runtime loads
  DeviceType device = DeviceType::kCPU;
  // The device's runtime version as major.minor: CUDA (the driver's CUDA version, which bounds
  // kernels built with a static CUDA runtime), ROCm, oneAPI for XPU ("2025.3"), CANN. Empty on CPU
  // and Metal.
  std::string runtime_version;
  // CUDA compute capability "9.0"; ROCm gfx target "gfx942"; Metal GPU family "apple9"; XPU
  // device "pvc", "bmg". Empty on CPU.
  std::string arch;
  std::string device_name;  // "NVIDIA H100 80GB HBM3" (messages only)
  std::string os_version;   // macOS version for Metal ("26.1"); empty elsewhere

  // This process's OS and CPU, selecting for the CPU.
  static SystemInfo host();
  // This machine, selecting for `device`. CUDA is probed through the driver library
  // (libcuda.so.1); throws Error(kNotFound) when the device does not exist and
  // Error(kUnsupported) for device types this build cannot probe (ROCm, Metal, XPU, NPU).
  static SystemInfo detect(Device device);

  // "linux x86_64, cuda 13.0, capability 9.0 (NVIDIA H100 80GB HBM3)"
  std::string describe() const;
};

}  // namespace khub::loader
