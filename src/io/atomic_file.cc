#include "io/atomic_file.h"

#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <string>

#include "core/error.h"
#include "core/logging.h"

namespace khub {
namespace {

std::string errno_text(int err) { return std::strerror(err); }

std::filesystem::path parent_or_dot(const std::filesystem::path& p) {
  std::filesystem::path parent = p.parent_path();
  return parent.empty() ? std::filesystem::path(".") : parent;
}

// A name no other writer (thread or process) will pick: pid, a process-wide counter and the clock.
std::filesystem::path temp_name_for(const std::filesystem::path& target, int attempt) {
  static std::atomic<uint64_t> counter{0};
  uint64_t n = counter.fetch_add(1);
  auto ticks = std::chrono::steady_clock::now().time_since_epoch().count();
  // Appended piecewise: GCC 12 warns falsely (-Wrestrict) on `"." + std::string`.
  std::string name = ".";
  name += target.filename().string();
  for (uint64_t part : {static_cast<uint64_t>(::getpid()), n, static_cast<uint64_t>(ticks),
                        static_cast<uint64_t>(attempt)}) {
    name += '-';
    name += std::to_string(part);
  }
  name += ".tmp";
  return parent_or_dot(target) / name;
}

}  // namespace

void fsync_directory(const std::filesystem::path& dir) {
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0)
    fail(ErrorKind::kIo, dir.string(), ": cannot open directory to sync: ", errno_text(errno));
  int rc = ::fsync(fd);
  int err = errno;
  ::close(fd);
  if (rc != 0 && err != EINVAL && err != EROFS) {
    fail(ErrorKind::kIo, dir.string(), ": fsync of the directory failed: ", errno_text(err));
  }
}

AtomicFileWriter::AtomicFileWriter(std::filesystem::path target) : target_(std::move(target)) {
  KHUB_CHECK_ARG(!target_.filename().empty(), "cannot write to '", target_.string(),
                 "': the path names no file");
  for (int attempt = 0; attempt < 16; ++attempt) {
    std::filesystem::path candidate = temp_name_for(target_, attempt);
    // 0666 & ~umask, like any file the user creates; mkstemp would force 0600.
    int fd = ::open(candidate.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
    if (fd >= 0) {
      fd_ = fd;
      temp_ = std::move(candidate);
      return;
    }
    if (errno != EEXIST) {
      fail(ErrorKind::kIo, target_.string(), ": cannot create a temporary file in ",
           parent_or_dot(target_).string(), ": ", errno_text(errno));
    }
  }
  fail(ErrorKind::kIo, target_.string(), ": could not find a free temporary file name in ",
       parent_or_dot(target_).string());
}

AtomicFileWriter::AtomicFileWriter(AtomicFileWriter&& other) noexcept
    : target_(std::move(other.target_)),
      temp_(std::move(other.temp_)),
      fd_(other.fd_),
      synced_(other.synced_),
      committed_(other.committed_),
      written_(other.written_) {
  other.fd_ = -1;
  other.temp_.clear();
  other.committed_ = true;  // the moved-from writer owns nothing to clean up
}

AtomicFileWriter::~AtomicFileWriter() {
  if (!committed_) discard();
}

void AtomicFileWriter::discard() noexcept {
  if (fd_ >= 0) {
    ::close(fd_);
    fd_ = -1;
  }
  if (!temp_.empty()) ::unlink(temp_.c_str());
}

void AtomicFileWriter::write(const void* data, size_t nbytes) {
  KHUB_ICHECK(fd_ >= 0, "write after sync/commit of ", target_.string());
  const char* p = static_cast<const char*>(data);
  while (nbytes > 0) {
    // Linux writes at most ~2 GiB per call; larger tensors loop.
    size_t chunk = nbytes < (size_t{1} << 30) ? nbytes : (size_t{1} << 30);
    ssize_t n = ::write(fd_, p, chunk);
    if (n < 0) {
      if (errno == EINTR) continue;
      fail(ErrorKind::kIo, target_.string(), ": write failed after ", written_,
           " bytes: ", errno_text(errno), " (the existing file, if any, is unchanged)");
    }
    p += n;
    nbytes -= static_cast<size_t>(n);
    written_ += static_cast<uint64_t>(n);
  }
}

void AtomicFileWriter::sync() {
  if (synced_) return;
  KHUB_ICHECK(fd_ >= 0);
  if (::fsync(fd_) != 0) {
    fail(ErrorKind::kIo, target_.string(), ": fsync failed: ", errno_text(errno),
         " (the existing file, if any, is unchanged)");
  }
  int rc = ::close(fd_);
  fd_ = -1;
  if (rc != 0) fail(ErrorKind::kIo, target_.string(), ": close failed: ", errno_text(errno));
  synced_ = true;
}

void AtomicFileWriter::rename_into_place() {
  KHUB_ICHECK(synced_, "rename before sync of ", target_.string());
  if (::rename(temp_.c_str(), target_.c_str()) != 0) {
    fail(ErrorKind::kIo, target_.string(), ": cannot rename the finished temporary file ",
         temp_.filename().string(), " into place: ", errno_text(errno),
         " (the existing file, if any, is unchanged)");
  }
  committed_ = true;
  temp_.clear();
}

void AtomicFileWriter::commit() {
  sync();
  rename_into_place();
  fsync_directory(parent_or_dot(target_));
}

void write_file_atomic(const std::filesystem::path& path, std::string_view contents) {
  AtomicFileWriter writer(path);
  writer.write(contents);
  writer.commit();
}

}  // namespace khub
