#include "loader/safe_path.h"

#include <system_error>

namespace khub::loader {

std::string check_path_component(std::string_view name) {
  if (name.empty()) return "empty path component";
  if (name == "." || name == "..") return "path component '" + std::string(name) + "'";
  if (name.size() > 255) return "path component longer than 255 bytes";
  for (char c : name) {
    unsigned char u = static_cast<unsigned char>(c);
    if (c == '/' || c == '\\' || c == ':' || u < 0x20 || u == 0x7f) {
      return "character " +
             (u < 0x20 || u == 0x7f ? "0x" + std::to_string(u) : "'" + std::string(1, c) + "'") +
             " in path component";
    }
  }
  return "";
}

std::string check_relative_path(std::string_view path) {
  if (path.empty()) return "empty path";
  if (path.size() > 4096) return "path longer than 4096 bytes";
  if (path.front() == '/') return "absolute path";
  size_t start = 0;
  while (true) {
    size_t slash = path.find('/', start);
    std::string_view part = path.substr(
        start, slash == std::string_view::npos ? std::string_view::npos : slash - start);
    std::string why = check_path_component(part);
    if (!why.empty()) return why;
    if (slash == std::string_view::npos) break;
    start = slash + 1;
  }
  return "";
}

bool path_is_within(const std::filesystem::path& path, const std::filesystem::path& root) {
  std::error_code ec;
  std::filesystem::path p = std::filesystem::canonical(path, ec);
  if (ec) return false;
  std::filesystem::path r = std::filesystem::canonical(root, ec);
  if (ec) return false;
  auto pi = p.begin();
  for (auto ri = r.begin(); ri != r.end(); ++ri, ++pi) {
    if (pi == p.end() || *pi != *ri) return false;
  }
  return true;
}

}  // namespace khub::loader
