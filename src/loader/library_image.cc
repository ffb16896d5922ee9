#include "loader/library_image.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "core/error.h"
#include "loader/safe_path.h"

namespace khub::loader {
namespace fs = std::filesystem;

LibraryImage read_library_image(const fs::path& library, const fs::path& trust_root) {
  int fd = ::open(library.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    fail(errno == ENOENT ? ErrorKind::kNotFound : ErrorKind::kIo, library.string(),
         ": cannot open the kernel library: ", std::strerror(errno));
  }
  struct Closer {
    int fd;
    ~Closer() { ::close(fd); }
  } closer{fd};
  struct stat st;
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    fail(ErrorKind::kVerification, library.string(), ": the kernel library is not a regular file");
  }
  LibraryImage image;
  std::error_code ec;
  image.real_path = fs::read_symlink("/proc/self/fd/" + std::to_string(fd), ec);
  if (ec) image.real_path = fs::canonical(library, ec);
  if (!trust_root.empty() && !path_is_within(image.real_path, trust_root)) {
    fail(ErrorKind::kVerification, library.string(), ": the kernel library resolves to ",
         image.real_path.string(), ", outside ", trust_root.string());
  }
  image.bytes.resize(static_cast<size_t>(st.st_size));
  size_t got = 0;
  while (got < image.bytes.size()) {
    ssize_t n = ::read(fd, image.bytes.data() + got, image.bytes.size() - got);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) fail(ErrorKind::kIo, library.string(), ": read failed: ", std::strerror(errno));
    if (n == 0) break;
    got += static_cast<size_t>(n);
  }
  // A file that shrank or grew while being read is being rewritten: refuse rather than guess.
  char extra;
  if (got != image.bytes.size() || ::read(fd, &extra, 1) != 0) {
    fail(ErrorKind::kVerification, library.string(),
         ": the kernel library changed while being read");
  }
  return image;
}

}  // namespace khub::loader
