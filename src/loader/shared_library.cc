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

SharedLibrary SharedLibrary::from_image(const std::string& bytes,
                                        const std::filesystem::path& name) {
  int fd = ::memfd_create("khub-kernel", MFD_CLOEXEC | MFD_ALLOW_SEALING);
  if (fd < 0) {
    fail(ErrorKind::kIo, name.string(), ": memfd_create failed: ", std::strerror(errno));
  }
  // The descriptor stays open for the life of the process (kernels are never unloaded): glibc
  // memoizes dlopen by file name, so a reused "/proc/self/fd/N" would hand back an earlier
  // library instead of loading this one.
  struct Closer {
    int fd;
    bool keep = false;
    ~Closer() {
      if (!keep) ::close(fd);
    }
  } closer{fd};
  size_t done = 0;
  while (done < bytes.size()) {
    ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) fail(ErrorKind::kIo, name.string(), ": writing the private copy failed");
    done += static_cast<size_t>(n);
  }
  if (::fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL) != 0) {
    fail(ErrorKind::kIo, name.string(),
         ": sealing the private copy failed: ", std::strerror(errno));
  }
  SharedLibrary lib;
  lib.path_ = name;
  std::string proc = "/proc/self/fd/" + std::to_string(fd);
  dlerror();
  lib.handle_ = dlopen(proc.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!lib.handle_) {
    const char* e = dlerror();
    fail(ErrorKind::kIo, "dlopen ", name.string(),
         " (private copy) failed: ", e ? e : "unknown error");
  }
  closer.keep = true;
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
