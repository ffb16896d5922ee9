#include "core/program_dir.h"

#include <mutex>

namespace khub {
namespace fs = std::filesystem;

namespace {
std::mutex& program_dir_mu() {
  static std::mutex mu;
  return mu;
}
fs::path& program_dir_override() {
  static fs::path dir;
  return dir;
}
}  // namespace

fs::path program_dir() {
  {
    std::lock_guard<std::mutex> lock(program_dir_mu());
    if (!program_dir_override().empty()) return program_dir_override();
  }
  std::error_code ec;
  fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  return ec ? fs::path() : exe.parent_path();
}

void set_program_dir(const fs::path& dir) {
  std::lock_guard<std::mutex> lock(program_dir_mu());
  program_dir_override() = dir;
}

}  // namespace khub
