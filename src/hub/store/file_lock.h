// A cross-process exclusive lock on a lock file (flock), held for the object's lifetime. flock
// locks belong to the open file description, so two threads of one process exclude each other too;
// the same lock paths as huggingface_hub (.locks/<repo folder>/<etag>.lock) make Python and C++
// processes wait for each other instead of downloading one blob twice. Lock files are never
// deleted: unlinking a lock file while another process waits on it would break the exclusion.
#pragma once

#include <filesystem>

namespace khub::hub::net {

class FileLock {
 public:
  // Blocks until the lock is held (logs once at info level when it has to wait). kIo when the lock
  // file cannot be created.
  explicit FileLock(const std::filesystem::path& path);
  ~FileLock();
  FileLock(const FileLock&) = delete;
  FileLock& operator=(const FileLock&) = delete;
  FileLock(FileLock&& other) noexcept;
  FileLock& operator=(FileLock&& other) noexcept;

  // Non-blocking attempt; returns an unlocked object (held() == false) when another holder exists.
  static FileLock try_lock(const std::filesystem::path& path);
  bool held() const { return fd_ >= 0; }

 private:
  FileLock() = default;
  int fd_ = -1;
};

}  // namespace khub::hub::net
