// Helpers shared by the kernel commands (build, publish, versions, info, verify).
#pragma once

#include <string>
#include <vector>

#include "hub/get_kernel.h"
#include "loader/system_info.h"

namespace khub::cli {

// A REF that names a local folder rather than org/repo: starts with '/', './' or '../', or is '.'.
bool is_path_ref(const std::string& ref);

// The devices of this machine a variant may target: the CPU, plus cuda:0 when a CUDA driver and
// device are present.
std::vector<loader::SystemInfo> machine_systems();

// KernelOptions for `--device` (default cpu).
hub::KernelOptions options_for_device(const std::string& device);

}  // namespace khub::cli
