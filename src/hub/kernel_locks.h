// A project's kernels.lock as kernel loads apply it (docs/design.md §6.5): the kernel repos it
// locks, as hub::LockedKernel by repo id (KernelOptions::locks, LoadOptions::kernel_locks), and
// where a project's lockfile is. The CLI's --kernels-lock and the Python module's `lockfile=` both
// come here.
#pragma once

#include <filesystem>
#include <map>
#include <memory>
#include <string>

#include "hub/get_kernel.h"

namespace khub::hub {

// Reads a kernels.lock (hub/http/lockfile.h): its kernel repos (model entries are skipped).
// Throws Error(kNotFound) when the file does not exist, Error(kFormat) when it is malformed or
// locks one repo twice.
std::shared_ptr<const std::map<std::string, LockedKernel>> read_kernel_locks(
    const std::filesystem::path& file);

// The nearest kernels.lock in the working directory or above it ("" when none): the project's
// lockfile, the folder whose kernels.trust.toml the trust policy reads too (loader/
// trust_policy.h).
std::filesystem::path find_project_lock();

}  // namespace khub::hub
