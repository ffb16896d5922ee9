#include "core/device.h"

#include <charconv>

#include "core/error.h"

namespace khub {

std::string_view device_type_name(DeviceType type) {
  switch (type) {
    case DeviceType::kCPU:
      return "cpu";
    case DeviceType::kCUDA:
      return "cuda";
    case DeviceType::kROCm:
      return "rocm";
    case DeviceType::kMetal:
      return "metal";
    case DeviceType::kXPU:
      return "xpu";
    case DeviceType::kNPU:
      return "npu";
  }
  return "?";
}

bool device_type_parse(std::string_view name, DeviceType* out) {
  for (auto t : {DeviceType::kCPU, DeviceType::kCUDA, DeviceType::kROCm, DeviceType::kMetal,
                 DeviceType::kXPU, DeviceType::kNPU}) {
    if (name == device_type_name(t)) {
      *out = t;
      return true;
    }
  }
  return false;
}

Device Device::parse(std::string_view text) {
  auto colon = text.find(':');
  std::string_view type_name = text.substr(0, colon);
  Device d;
  if (!device_type_parse(type_name, &d.type)) {
    fail(ErrorKind::kInvalidArgument, "device '", text,
         "' is not one of cpu, cuda[:N], rocm[:N], metal, xpu[:N], npu[:N]");
  }
  if (colon != std::string_view::npos) {
    std::string_view idx = text.substr(colon + 1);
    auto [p, ec] = std::from_chars(idx.data(), idx.data() + idx.size(), d.index);
    if (ec != std::errc() || p != idx.data() + idx.size() || d.index < 0) {
      fail(ErrorKind::kInvalidArgument, "device '", text, "': index '", idx,
           "' is not a non-negative integer");
    }
  }
  return d;
}

std::string Device::str() const {
  std::string s(device_type_name(type));
  if (type != DeviceType::kCPU) s += ":" + std::to_string(index);
  return s;
}

}  // namespace khub
