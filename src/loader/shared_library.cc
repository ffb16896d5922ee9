#include "loader/shared_library.h"

#include <dlfcn.h>

#include <utility>

#include "core/error.h"

namespace khub::loader {

SharedLibrary::SharedLibrary(const std::filesystem::path& path) : path_(path) {
  dlerror();
  handle_ = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!handle_) {
    const char* e = dlerror();
    fail(ErrorKind::kIo, "dlopen ", path.string(), " failed: ", e ? e : "unknown error");
  }
}

SharedLibrary::~SharedLibrary() {
  if (handle_) dlclose(handle_);
}

SharedLibrary::SharedLibrary(SharedLibrary&& other) noexcept
    : handle_(std::exchange(other.handle_, nullptr)), path_(std::move(other.path_)) {}

SharedLibrary& SharedLibrary::operator=(SharedLibrary&& other) noexcept {
  if (this != &other) {
    if (handle_) dlclose(handle_);
    handle_ = std::exchange(other.handle_, nullptr);
    path_ = std::move(other.path_);
  }
  return *this;
}

void* SharedLibrary::symbol(const std::string& name) const {
  if (!handle_) return nullptr;
  return dlsym(handle_, name.c_str());
}

}  // namespace khub::loader
