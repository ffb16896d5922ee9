// Where a tensor lives. khub runs on CPU and CUDA; ROCm, Metal, XPU and NPU exist as names so that
// kernel mappings and variant selection can describe them (docs/design.md §11).
#pragma once

#include <string>
#include <string_view>

namespace khub {

enum class DeviceType { kCPU, kCUDA, kROCm, kMetal, kXPU, kNPU };

std::string_view device_type_name(DeviceType type);  // "cpu", "cuda", "rocm", ...
// Parses a device type name; returns false when unknown.
bool device_type_parse(std::string_view name, DeviceType* out);

struct Device {
  DeviceType type = DeviceType::kCPU;
  int index = 0;

  static Device cpu() { return {DeviceType::kCPU, 0}; }
  static Device cuda(int index = 0) { return {DeviceType::kCUDA, index}; }
  // "cpu", "cuda", "cuda:1", ... Throws Error(kInvalidArgument) naming the text.
  static Device parse(std::string_view text);

  bool is_cpu() const { return type == DeviceType::kCPU; }
  bool is_cuda() const { return type == DeviceType::kCUDA; }
  std::string str() const;
  bool operator==(const Device&) const = default;
};

}  // namespace khub
