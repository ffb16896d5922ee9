#include "hub/store/file_lock.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "core/error.h"
#include "core/logging.h"

namespace khub::hub::net {
namespace {

int open_lock_file(const std::filesystem::path& path) {
  std::error_code ec;
  std::filesystem::create_directories(path.parent_path(), ec);
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) {
    fail(ErrorKind::kIo, "cannot create lock file ", path.string(), ": ", std::strerror(errno));
  }
  return fd;
}

}  // namespace

FileLock::FileLock(const std::filesystem::path& path) {
  fd_ = open_lock_file(path);
  if (::flock(fd_, LOCK_EX | LOCK_NB) == 0) return;
  log_info("waiting for ", path.string(), " (another process is downloading the same files)");
  while (::flock(fd_, LOCK_EX) != 0) {
    if (errno == EINTR) continue;
    int err = errno;
    ::close(fd_);
    fd_ = -1;
    fail(ErrorKind::kIo, "cannot lock ", path.string(), ": ", std::strerror(err));
  }
}

FileLock FileLock::try_lock(const std::filesystem::path& path) {
  FileLock l;
  int fd = open_lock_file(path);
  if (::flock(fd, LOCK_EX | LOCK_NB) == 0) {
    l.fd_ = fd;
  } else {
    ::close(fd);
  }
  return l;
}

FileLock::~FileLock() {
  if (fd_ >= 0) {
    ::flock(fd_, LOCK_UN);
    ::close(fd_);
  }
}

FileLock::FileLock(FileLock&& other) noexcept : fd_(other.fd_) { other.fd_ = -1; }

FileLock& FileLock::operator=(FileLock&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) {
      ::flock(fd_, LOCK_UN);
      ::close(fd_);
    }
    fd_ = other.fd_;
    other.fd_ = -1;
  }
  return *this;
}

}  // namespace khub::hub::net
