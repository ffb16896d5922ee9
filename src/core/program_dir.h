// Where the running program lives, for the files khub finds beside it: the bundled hub
// (<dir>/../hub, <dir>/../share/khub/hub; hub/source/source_registry.h) and the install-level trust
// policy (<dir>/../share/khub/trust-policy.toml; loader/trust_policy.h). For the khub CLI and C++
// programs that is the executable's folder; a host whose executable is someone else's (the Python
// module runs inside python3) names the folder that stands in for bin/ with set_program_dir.
#pragma once

#include <filesystem>

namespace khub {

// set_program_dir's folder when one was set, else the folder of /proc/self/exe ("" when unknown).
std::filesystem::path program_dir();
// Replaces the executable's folder for every later lookup (before the first kernel load: the trust
// policy is read once per process). An empty path restores the executable's folder.
void set_program_dir(const std::filesystem::path& dir);

}  // namespace khub
