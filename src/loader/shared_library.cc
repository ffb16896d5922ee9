#include "loader/shared_library.h"

#include <dlfcn.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

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

SharedLibrary SharedLibrary::from_image(LibraryImage& image, const std::filesystem::path& name) {
  KHUB_CHECK_ARG(image.fd() >= 0, name.string(), ": no library image to load");
  // The descriptor stays open for the life of the process (kernels are never unloaded): glibc
  // memoizes dlopen by file name, so a reused "/proc/self/fd/N" would hand back an earlier
  // library instead of loading this one.
  SharedLibrary lib;
  lib.path_ = name;
  std::string proc = "/proc/self/fd/" + std::to_string(image.fd());
  dlerror();
  lib.handle_ = dlopen(proc.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!lib.handle_) {
    const char* e = dlerror();
    fail(ErrorKind::kIo, "dlopen ", name.string(),
         " (private copy) failed: ", e ? e : "unknown error");
  }
  (void)image.release_fd();
  return lib;
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
