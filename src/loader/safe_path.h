// Path hygiene for names that come from files we did not write: metadata.json digest entries,
// variant folder names, tree listings. A hostile name must never reach outside the folder it is
// meant to live in.
#pragma once

#include <filesystem>
#include <string>
#include <string_view>

namespace khub::loader {

// A relative POSIX path with no empty, "." or ".." components, no leading '/', no backslash, no
// ':' and no control characters. Returns "" when safe, else why not.
std::string check_relative_path(std::string_view path);

// One path component (a folder or file name) under the same rules.
std::string check_path_component(std::string_view name);

// Whether `path` (made canonical, symlinks resolved) lies inside `root` (also made canonical).
bool path_is_within(const std::filesystem::path& path, const std::filesystem::path& root);

}  // namespace khub::loader
