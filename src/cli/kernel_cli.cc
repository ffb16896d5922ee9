#include "cli/kernel_cli.h"

#include "core/error.h"

namespace khub::cli {

bool is_path_ref(const std::string& ref) {
  return ref == "." || ref == ".." || ref.rfind("/", 0) == 0 || ref.rfind("./", 0) == 0 ||
         ref.rfind("../", 0) == 0;
}

std::vector<loader::SystemInfo> machine_systems() {
  std::vector<loader::SystemInfo> out = {loader::SystemInfo::host()};
  try {
    out.push_back(loader::SystemInfo::detect(Device::cuda(0)));
  } catch (const Error&) {
    // no CUDA device here
  }
  return out;
}

hub::KernelOptions options_for_device(const std::string& device) {
  hub::KernelOptions o;
  o.device = Device::parse(device);
  return o;
}

}  // namespace khub::cli
