#include "loader/library_image.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <utility>

#include "core/error.h"
#include "loader/safe_path.h"

namespace khub::loader {
namespace fs = std::filesystem;

LibraryImage::~LibraryImage() {
  if (data_ != nullptr && size_ > 0) ::munmap(const_cast<char*>(data_), size_);
  if (fd_ >= 0) ::close(fd_);
}

LibraryImage::LibraryImage(LibraryImage&& o) noexcept
    : fd_(std::exchange(o.fd_, -1)),
      data_(std::exchange(o.data_, nullptr)),
      size_(std::exchange(o.size_, 0)),
      real_path_(std::move(o.real_path_)) {}

LibraryImage& LibraryImage::operator=(LibraryImage&& o) noexcept {
  if (this != &o) {
    LibraryImage old(std::move(*this));  // released at the end of this scope
    fd_ = std::exchange(o.fd_, -1);
    data_ = std::exchange(o.data_, nullptr);
    size_ = std::exchange(o.size_, 0);
    real_path_ = std::move(o.real_path_);
  }
  return *this;
}

int LibraryImage::release_fd() { return std::exchange(fd_, -1); }

namespace {

struct Fd {
  int fd;
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
};

// Copies n bytes of `in` from offset 0 into `out` inside the kernel (sendfile), or through a
// buffer where the kernel cannot; returns the bytes copied (less when the file shrank).
size_t copy_whole(int in, int out, size_t n) {
  size_t done = 0;
  off_t off = 0;
  while (done < n) {
    ssize_t k = ::sendfile(out, in, &off, n - done);
    if (k < 0 && errno == EINTR) continue;
    if (k < 0 && done == 0 && (errno == EINVAL || errno == ENOSYS)) break;  // buffer below
    if (k < 0) return static_cast<size_t>(-1);
    if (k == 0) return done;
    done += static_cast<size_t>(k);
  }
  if (done == n) return done;
  char buf[1 << 16];
  while (done < n) {
    ssize_t k = ::pread(in, buf, std::min(sizeof buf, n - done), static_cast<off_t>(done));
    if (k < 0 && errno == EINTR) continue;
    if (k < 0) return static_cast<size_t>(-1);
    if (k == 0) return done;
    for (ssize_t w = 0; w < k;) {
      ssize_t m = ::write(out, buf + w, static_cast<size_t>(k - w));
      if (m < 0 && errno == EINTR) continue;
      if (m <= 0) return static_cast<size_t>(-1);
      w += m;
    }
    done += static_cast<size_t>(k);
  }
  return done;
}

}  // namespace

LibraryImage read_library_image(const fs::path& library, const fs::path& trust_root) {
  Fd file{::open(library.c_str(), O_RDONLY | O_CLOEXEC)};
  if (file.fd < 0) {
    fail(errno == ENOENT ? ErrorKind::kNotFound : ErrorKind::kIo, library.string(),
         ": cannot open the kernel library: ", std::strerror(errno));
  }
  struct stat st;
  if (::fstat(file.fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    fail(ErrorKind::kVerification, library.string(), ": the kernel library is not a regular file");
  }
  LibraryImage image;
  std::error_code ec;
  image.real_path_ = fs::read_symlink("/proc/self/fd/" + std::to_string(file.fd), ec);
  if (ec) image.real_path_ = fs::canonical(library, ec);
  if (!trust_root.empty() && !path_is_within(image.real_path_, trust_root)) {
    fail(ErrorKind::kVerification, library.string(), ": the kernel library resolves to ",
         image.real_path_.string(), ", outside ", trust_root.string());
  }
  image.fd_ = ::memfd_create("khub-kernel", MFD_CLOEXEC | MFD_ALLOW_SEALING);
  if (image.fd_ < 0) {
    fail(ErrorKind::kIo, library.string(), ": memfd_create failed: ", std::strerror(errno));
  }
  const size_t n = static_cast<size_t>(st.st_size);
  const size_t got = copy_whole(file.fd, image.fd_, n);
  if (got == static_cast<size_t>(-1)) {
    fail(ErrorKind::kIo, library.string(),
         ": copying the kernel library failed: ", std::strerror(errno));
  }
  // A file that shrank or grew while being copied is being rewritten: refuse rather than guess.
  char extra;
  if (got != n || ::pread(file.fd, &extra, 1, static_cast<off_t>(n)) != 0) {
    fail(ErrorKind::kVerification, library.string(),
         ": the kernel library changed while being read");
  }
  if (::fcntl(image.fd_, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL) !=
      0) {
    fail(ErrorKind::kIo, library.string(),
         ": sealing the private copy failed: ", std::strerror(errno));
  }
  image.size_ = n;
  if (n > 0) {
    void* p = ::mmap(nullptr, n, PROT_READ, MAP_SHARED | MAP_POPULATE, image.fd_, 0);
    if (p == MAP_FAILED) {
      fail(ErrorKind::kIo, library.string(),
           ": mapping the private copy failed: ", std::strerror(errno));
    }
    image.data_ = static_cast<const char*>(p);
  }
  return image;
}

}  // namespace khub::loader
